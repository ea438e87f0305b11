"""SAM 2 test helpers: Meta's parameter names for a `transformers` state_dict (the inverse of
`m3vos.trackers.sam2.checkpoint.meta_to_hf`, written independently, rule by rule) and names
every official Meta file holds, taken from Meta's `sam2` source (module attribute names)."""

from __future__ import annotations

import re

#: Parameter names of Meta's SAM 2.1 modules (sam2/modeling/*.py), present in every 2.1 file.
OFFICIAL_META_KEYS_21 = (
    "no_mem_embed", "no_mem_pos_enc", "maskmem_tpos_enc", "no_obj_ptr", "no_obj_embed_spatial",
    "mask_downsample.weight", "obj_ptr_proj.layers.2.weight", "obj_ptr_tpos_proj.weight",
    "image_encoder.trunk.pos_embed", "image_encoder.trunk.pos_embed_window",
    "image_encoder.trunk.patch_embed.proj.weight", "image_encoder.trunk.blocks.0.norm1.weight",
    "image_encoder.trunk.blocks.0.attn.qkv.weight", "image_encoder.trunk.blocks.0.mlp.layers.0.weight",
    "image_encoder.trunk.blocks.1.proj.weight", "image_encoder.neck.convs.0.conv.weight",
    "memory_attention.layers.0.self_attn.q_proj.weight",
    "memory_attention.layers.0.cross_attn_image.k_proj.weight",
    "memory_attention.layers.0.self_attn.out_proj.weight", "memory_attention.layers.0.norm3.weight",
    "memory_attention.norm.weight", "memory_encoder.mask_downsampler.encoder.0.weight",
    "memory_encoder.mask_downsampler.encoder.1.weight",
    "memory_encoder.mask_downsampler.encoder.12.weight", "memory_encoder.pix_feat_proj.weight",
    "memory_encoder.fuser.layers.0.dwconv.weight", "memory_encoder.fuser.layers.0.norm.weight",
    "memory_encoder.fuser.layers.0.gamma", "memory_encoder.fuser.layers.1.pwconv2.weight",
    "memory_encoder.out_proj.weight",
    "sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix",
    "sam_prompt_encoder.point_embeddings.3.weight", "sam_prompt_encoder.not_a_point_embed.weight",
    "sam_prompt_encoder.mask_downscaling.0.weight", "sam_prompt_encoder.mask_downscaling.4.weight",
    "sam_prompt_encoder.mask_downscaling.6.weight", "sam_prompt_encoder.no_mask_embed.weight",
    "sam_mask_decoder.iou_token.weight", "sam_mask_decoder.mask_tokens.weight",
    "sam_mask_decoder.obj_score_token.weight",
    "sam_mask_decoder.transformer.layers.0.self_attn.out_proj.weight",
    "sam_mask_decoder.transformer.layers.1.cross_attn_image_to_token.v_proj.weight",
    "sam_mask_decoder.transformer.layers.0.mlp.layers.1.weight",
    "sam_mask_decoder.transformer.layers.0.norm4.weight",
    "sam_mask_decoder.transformer.final_attn_token_to_image.q_proj.weight",
    "sam_mask_decoder.transformer.norm_final_attn.weight",
    "sam_mask_decoder.output_upscaling.0.weight", "sam_mask_decoder.output_upscaling.1.weight",
    "sam_mask_decoder.output_upscaling.3.weight", "sam_mask_decoder.conv_s0.weight",
    "sam_mask_decoder.conv_s1.weight", "sam_mask_decoder.output_hypernetworks_mlps.3.layers.2.weight",
    "sam_mask_decoder.iou_prediction_head.layers.1.weight",
    "sam_mask_decoder.pred_obj_score_head.layers.2.weight",
)

_TOP = {"no_memory_embedding": "no_mem_embed", "no_memory_positional_encoding": "no_mem_pos_enc",
        "memory_temporal_positional_encoding": "maskmem_tpos_enc",
        "no_object_pointer": "no_obj_ptr",
        "occlusion_spatial_embedding_parameter": "no_obj_embed_spatial"}
_PREFIX = (("vision_encoder.backbone.", "image_encoder.trunk."),
           ("vision_encoder.neck.", "image_encoder.neck."),
           ("prompt_encoder.", "sam_prompt_encoder."), ("mask_decoder.", "sam_mask_decoder."),
           ("temporal_positional_encoding_projection_layer.", "obj_ptr_tpos_proj."),
           ("object_pointer_proj.", "obj_ptr_proj."),
           ("memory_encoder.memory_fuser.", "memory_encoder.fuser."),
           ("memory_encoder.feature_projection.", "memory_encoder.pix_feat_proj."),
           ("memory_encoder.projection.", "memory_encoder.out_proj."))
_SUBS = (
    (r"mask_embed\.conv1\.", "mask_downscaling.0."), (r"mask_embed\.layer_norm1\.", "mask_downscaling.1."),
    (r"mask_embed\.conv2\.", "mask_downscaling.3."), (r"mask_embed\.layer_norm2\.", "mask_downscaling.4."),
    (r"mask_embed\.conv3\.", "mask_downscaling.6."),
    (r"\.layer_norm(\d)\.", r".norm\1."), (r"^memory_attention\.layer_norm\.", "memory_attention.norm."),
    (r"\.layer_norm_final_attn\.", ".norm_final_attn."), (r"(fuser\.layers\.\d+)\.layer_norm\.", r"\1.norm."),
    (r"\.depthwise_conv\.", ".dwconv."), (r"\.pointwise_conv(\d)\.", r".pwconv\1."), (r"\.scale$", ".gamma"),
    (r"\.o_proj\.", ".out_proj."), (r"patch_embed\.projection\.", "patch_embed.proj."),
    (r"neck\.convs\.(\d+)\.", r"neck.convs.\1.conv."),
    (r"shared_embedding\.positional_embedding$", "pe_layer.positional_encoding_gaussian_matrix"),
    (r"upscale_conv1\.", "output_upscaling.0."), (r"upscale_layer_norm\.", "output_upscaling.1."),
    (r"upscale_conv2\.", "output_upscaling.3."),
    (r"(\.mlp)\.proj_in\.", r"\1.layers.0."), (r"(\.mlp)\.proj_out\.", r"\1.layers.1."),
)
_MLP3 = re.compile(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head|"
                   r"obj_ptr_proj)\.(proj_in|layers\.0|proj_out)\.")
_MLP3_BACK = {"proj_in": "layers.0", "layers.0": "layers.1", "proj_out": "layers.2"}


def hf_to_meta(state: dict) -> dict:
    """A `transformers` Sam2VideoModel state_dict under Meta's names (as in `sam2.1_hiera_*.pt`)."""
    n_down = 1 + max(int(m.group(1)) for k in state
                     if (m := re.search(r"mask_downsampler\.layers\.(\d+)\.", k)))
    out = {}
    for key, value in state.items():
        if key == "shared_image_embedding.positional_embedding":
            continue   # transformers' second copy of the prompt encoder's table
        if key == "prompt_encoder.point_embed.weight":
            for i in range(value.shape[0]):
                out[f"sam_prompt_encoder.point_embeddings.{i}.weight"] = value[i:i + 1].clone()
            continue
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        for new, old in _PREFIX:
            if key.startswith(new):
                key = old + key[len(new):]
                break
        for pattern, repl in _SUBS:
            key = re.sub(pattern, repl, key)
        key = _MLP3.sub(lambda m: f"{m.group(1)}.{_MLP3_BACK[m.group(2)]}.", key)
        key = re.sub(r"mask_downsampler\.layers\.(\d+)\.conv\.",
                     lambda m: f"mask_downsampler.encoder.{3 * int(m.group(1))}.", key)
        key = re.sub(r"mask_downsampler\.layers\.(\d+)\.layer_norm\.",
                     lambda m: f"mask_downsampler.encoder.{3 * int(m.group(1)) + 1}.", key)
        key = key.replace("mask_downsampler.final_conv.", f"mask_downsampler.encoder.{3 * n_down}.")
        out[key] = value
    return out
