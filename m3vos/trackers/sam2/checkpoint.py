"""Reading SAM 2 checkpoints safely and strictly.

Two formats load:
- Meta's release files (`sam2.1_hiera_tiny.pt`, ...): `{"model": state_dict}`, read with
  `torch.load(weights_only=True)` (tensors only; pickled code is refused) and renamed to the
  `transformers` parameter names (`meta_to_hf`);
- `transformers` files (`model.safetensors` from `save_pretrained`, or a hub download), read
  with `safetensors` (no pickle at all).

Loading is strict: a missing, unexpected or wrong-shaped tensor is a one-line error naming it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from m3vos.errors import BadInputError

#: Meta top-level parameters -> transformers names.
_TOP = {"no_mem_embed": "no_memory_embedding", "no_mem_pos_enc": "no_memory_positional_encoding",
        "maskmem_tpos_enc": "memory_temporal_positional_encoding",
        "no_obj_ptr": "no_object_pointer",
        "no_obj_embed_spatial": "occlusion_spatial_embedding_parameter"}
#: Meta module prefixes -> transformers module prefixes (first match wins).
_PREFIXES = (("image_encoder.trunk.", "vision_encoder.backbone."),
             ("image_encoder.neck.", "vision_encoder.neck."),
             ("sam_prompt_encoder.", "prompt_encoder."),
             ("sam_mask_decoder.", "mask_decoder."),
             ("obj_ptr_tpos_proj.", "temporal_positional_encoding_projection_layer."),
             ("obj_ptr_proj.", "object_pointer_proj."),
             ("memory_encoder.fuser.", "memory_encoder.memory_fuser."),
             ("memory_encoder.pix_feat_proj.", "memory_encoder.feature_projection."),
             ("memory_encoder.out_proj.", "memory_encoder.projection."))
#: In-name renames (regex, replacement), applied in order after the prefixes.
_RENAMES = (
    (r"\.norm(\d)\.", r".layer_norm\1."),
    (r"^memory_attention\.norm\.", "memory_attention.layer_norm."),
    (r"\.norm_final_attn\.", ".layer_norm_final_attn."),
    (r"(memory_fuser\.layers\.\d+)\.norm\.", r"\1.layer_norm."),
    (r"\.dwconv\.", ".depthwise_conv."),
    (r"\.pwconv(\d)\.", r".pointwise_conv\1."),
    (r"\.gamma$", ".scale"),
    (r"\.out_proj\.", ".o_proj."),
    (r"patch_embed\.proj\.", "patch_embed.projection."),
    (r"neck\.convs\.(\d+)\.conv\.", r"neck.convs.\1."),
    (r"pe_layer\.positional_encoding_gaussian_matrix$", "shared_embedding.positional_embedding"),
    (r"mask_downscaling\.0\.", "mask_embed.conv1."), (r"mask_downscaling\.1\.", "mask_embed.layer_norm1."),
    (r"mask_downscaling\.3\.", "mask_embed.conv2."), (r"mask_downscaling\.4\.", "mask_embed.layer_norm2."),
    (r"mask_downscaling\.6\.", "mask_embed.conv3."),
    (r"output_upscaling\.0\.", "upscale_conv1."), (r"output_upscaling\.1\.", "upscale_layer_norm."),
    (r"output_upscaling\.3\.", "upscale_conv2."),
    # two-layer MLPs (Hiera blocks, the mask decoder's transformer)
    (r"(blocks\.\d+\.mlp|transformer\.layers\.\d+\.mlp)\.layers\.0\.", r"\1.proj_in."),
    (r"(blocks\.\d+\.mlp|transformer\.layers\.\d+\.mlp)\.layers\.1\.", r"\1.proj_out."),
)
_MLP3 = re.compile(r"(output_hypernetworks_mlps\.\d+|iou_prediction_head|pred_obj_score_head|"
                   r"object_pointer_proj)\.layers\.(\d)\.")
_MLP3_NAMES = {"0": "proj_in", "1": "layers.0", "2": "proj_out"}
_DOWNSAMPLER = re.compile(r"mask_downsampler\.encoder\.(\d+)\.")


def is_meta_format(state: Mapping[str, Any]) -> bool:
    """Meta's files name the image encoder `image_encoder.trunk...`."""
    return any(k.startswith(("image_encoder.", "sam_mask_decoder.")) for k in state)


def meta_to_hf(state: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a Meta SAM 2 state_dict to `transformers` `Sam2VideoModel` names (tensors untouched,
    except the four point embeddings, which transformers keeps as one (4, C) table)."""
    final_conv = max((int(m.group(1)) for k in state if (m := _DOWNSAMPLER.search(k))), default=-1)
    out: dict[str, Any] = {}
    points: dict[int, Any] = {}
    for key, value in state.items():
        m = re.match(r"sam_prompt_encoder\.point_embeddings\.(\d+)\.weight$", key)
        if m:
            points[int(m.group(1))] = value
            continue
        out[_rename(key, final_conv)] = value
    if points:
        import torch

        out["prompt_encoder.point_embed.weight"] = torch.cat([points[i] for i in sorted(points)])
    shared = out.get("prompt_encoder.shared_embedding.positional_embedding")
    if shared is not None:   # transformers holds this table twice (image-wide and prompt encoder)
        out["shared_image_embedding.positional_embedding"] = shared
    return out


def _rename(key: str, final_conv: int) -> str:
    if key in _TOP:
        return _TOP[key]
    for old, new in _PREFIXES:
        if key.startswith(old):
            key = new + key[len(old):]
            break
    for pattern, repl in _RENAMES:
        key = re.sub(pattern, repl, key)
    key = _MLP3.sub(lambda m: f"{m.group(1)}.{_MLP3_NAMES[m.group(2)]}.", key)

    def downsampler(m: re.Match[str]) -> str:
        i = int(m.group(1))
        if i == final_conv:
            return "mask_downsampler.final_conv."
        return f"mask_downsampler.layers.{i // 3}.{'conv' if i % 3 == 0 else 'layer_norm'}."

    return _DOWNSAMPLER.sub(downsampler, key)


def read_sam2_checkpoint(path: str | Path) -> dict[str, Any]:
    """A `transformers`-named state_dict from a Meta `.pt` or a `.safetensors` file."""
    path = Path(path)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise BadInputError("checkpoint file not found", path=path,
                                hint="give a SAM 2 checkpoint, or run `m3vos weights download`")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path))
        except (SafetensorError, OSError, ValueError) as exc:
            raise BadInputError(f"not a readable safetensors file ({str(exc)[:120]})", path=path,
                                hint="the file is corrupt or truncated: re-download it") from None
    else:
        from m3vos.trackers.checkpoint import read_checkpoint

        state = read_checkpoint(path)   # weights_only=True; unwraps Meta's {"model": ...}
    return meta_to_hf(state) if is_meta_format(state) else dict(state)


def load_sam2_weights(model: Any, path: str | Path) -> None:
    """Load `path` into `model` strictly (one-line error naming the keys that do not fit)."""
    from m3vos.trackers.checkpoint import load_state_dict_strict

    load_state_dict_strict(model, read_sam2_checkpoint(path), source=path)


def check_sam2_checkpoint(name: str, path: str | Path, against: str | Path | None = None) -> Any:
    """`m3vos weights check` for a SAM 2 model: a `CheckReport` of how `path` fits it
    (parameter shapes do not depend on the image size, so a small model is built)."""
    from m3vos.trackers.checkpoint import compare_state_dict, diff_state_dicts
    from m3vos.trackers.models import CheckReport
    from m3vos.trackers.sam2.model import build_model
    from m3vos.trackers.sam2.variants import get_variant

    state = read_sam2_checkpoint(path)
    model = build_model(get_variant(name), 256)
    report = CheckReport(model=name, path=str(path), num_tensors=len(state),
                         load=compare_state_dict(model, state))
    if against is not None:
        report.against = str(against)
        report.diff = diff_state_dicts(state, read_sam2_checkpoint(against))
    return report
