"""The Cutie network: every learned part, with the official `CUTIE` class's method names,
arguments, shapes and return values, so the official inference core logic ports onto it 1:1.

Shapes: B is the batch (1, or 2 with flip augmentation), N the number of objects, H x W the
padded input (multiples of 16), h x w = H/16 x W/16. Images are RGB in [0, 1] (normalised
here with the non-persistent `pixel_mean`/`pixel_std` buffers). Parameter and buffer names
equal the official checkpoint keys exactly.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from m3vos.trackers.cutie.aux_modules import AuxComputer
from m3vos.trackers.cutie.config import CutieModelConfig
from m3vos.trackers.cutie.key_projection import KeyProjection
from m3vos.trackers.cutie.mask_decoder import MaskDecoder
from m3vos.trackers.cutie.mask_encoder import MaskEncoder
from m3vos.trackers.cutie.memory_ops import get_affinity, readout
from m3vos.trackers.cutie.object_summarizer import ObjectSummarizer
from m3vos.trackers.cutie.object_transformer import QueryTransformer
from m3vos.trackers.cutie.pixel_encoder import PixelEncoder
from m3vos.trackers.cutie.pixel_fuser import PixelFeatureFuser
from m3vos.trackers.cutie.tensor_ops import aggregate, get_others

MultiScaleFeatures = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # f16, f8, f4


class CutieNetwork(nn.Module):
    """Cutie (small or base) without its inference loop; see `m3vos.trackers.cutie.inference_core`."""

    pixel_mean: torch.Tensor   # buffers
    pixel_std: torch.Tensor

    def __init__(self, cfg: CutieModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or CutieModelConfig.small()
        self.cfg = cfg
        self.ms_dims = list(cfg.ms_dims)
        self.key_dim = cfg.key_dim
        self.value_dim = cfg.value_dim
        self.sensory_dim = cfg.sensory_dim
        self.pixel_dim = cfg.pixel_dim
        self.embed_dim = cfg.embed_dim
        self.single_object = False
        self.object_transformer_enabled = cfg.object_transformer.num_blocks > 0

        # Attribute order = the official state_dict order.
        self.pixel_encoder = PixelEncoder(cfg.pixel_encoder_type)
        if list(self.pixel_encoder.out_dims) != self.ms_dims:
            raise ValueError(f"ms_dims {self.ms_dims} do not match {cfg.pixel_encoder_type} "
                             f"({list(self.pixel_encoder.out_dims)})")
        self.pix_feat_proj = nn.Conv2d(self.ms_dims[0], self.pixel_dim, kernel_size=1)
        self.key_proj = KeyProjection(self.ms_dims[0], self.pixel_dim, self.key_dim)
        self.mask_encoder = MaskEncoder(cfg.mask_encoder_type, self.pixel_dim, self.value_dim,
                                        self.sensory_dim, cfg.mask_encoder_final_dim)
        self.mask_decoder = MaskDecoder(self.embed_dim, self.sensory_dim, self.ms_dims,
                                        list(cfg.up_dims))
        self.pixel_fuser = PixelFeatureFuser(self.pixel_dim, self.value_dim, self.sensory_dim,
                                             self.embed_dim)
        if self.object_transformer_enabled:
            s = cfg.object_summarizer
            self.object_transformer = QueryTransformer(cfg)
            self.object_summarizer = ObjectSummarizer(self.value_dim, s.embed_dim,
                                                      s.num_summaries, s.add_pe,
                                                      cfg.pixel_pe_scale,
                                                      cfg.pixel_pe_temperature)
        self.aux_computer = AuxComputer(self.sensory_dim, self.embed_dim,
                                        use_sensory_aux=cfg.sensory_aux)

        self.register_buffer("pixel_mean", torch.tensor(cfg.pixel_mean).view(-1, 1, 1),
                             persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.pixel_std).view(-1, 1, 1),
                             persistent=False)
        self.eval()

    @classmethod
    def small(cls) -> CutieNetwork:
        return cls(CutieModelConfig.small())

    @classmethod
    def base(cls) -> CutieNetwork:
        return cls(CutieModelConfig.base())

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    # -- helpers ---------------------------------------------------------------------------

    def _get_others(self, masks: torch.Tensor) -> torch.Tensor:
        """For each object [B, N, H, W], the clamped sum of the others' masks."""
        return get_others(masks)

    def normalize_image(self, image: torch.Tensor) -> torch.Tensor:
        return (image - self.pixel_mean) / self.pixel_std

    # -- the official API --------------------------------------------------------------------

    def encode_image(self, image: torch.Tensor) -> tuple[MultiScaleFeatures, torch.Tensor]:
        """image [B, 3, H, W] in [0, 1] -> ((f16, f8, f4), pix_feat [B, pixel_dim, h, w])."""
        image = self.normalize_image(image)
        ms_image_feat = self.pixel_encoder(image)
        return ms_image_feat, self.pix_feat_proj(ms_image_feat[0])

    def transform_key(self, final_pix_feat: torch.Tensor, *, need_sk: bool = True,
                      need_ek: bool = True
                      ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """f16 (`ms_image_feat[0]`, not pix_feat) [B, C16, h, w] -> key [B, key_dim, h, w],
        shrinkage [B, 1, h, w], selection [B, key_dim, h, w]."""
        return self.key_proj(final_pix_feat, need_s=need_sk, need_e=need_ek)

    def encode_mask(self, image: torch.Tensor, pix_feat: torch.Tensor, sensory: torch.Tensor,
                    masks: torch.Tensor, *, deep_update: bool = True, chunk_size: int = -1,
                    need_weights: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None,
                               torch.Tensor | None]:
        """Encode a memory frame.

        image [B, 3, H, W] in [0, 1]; pix_feat [B, pixel_dim, h, w] (the official argument is
        named `ms_features` but the inference core passes pix_feat); sensory
        [B, N, sensory_dim, h, w]; masks [B, N, H, W] object probabilities (no background).
        Returns (mask value [B, N, value_dim, h, w], new sensory (deep-updated when
        deep_update), object summaries [B, N, Q, embed_dim + 1], summarizer logits or None).
        "Others" spans all N objects given here.
        """
        image = self.normalize_image(image)
        others = self._get_others(masks)
        mask_value, new_sensory = self.mask_encoder(image, pix_feat, sensory, masks, others,
                                                    deep_update=deep_update,
                                                    chunk_size=chunk_size)
        if self.object_transformer_enabled:
            object_summaries, object_logits = self.object_summarizer(masks, mask_value,
                                                                     need_weights)
        else:
            object_summaries, object_logits = None, None
        return mask_value, new_sensory, object_summaries, object_logits

    def pixel_fusion(self, pix_feat: torch.Tensor, pixel: torch.Tensor, sensory: torch.Tensor,
                     last_mask: torch.Tensor, *, chunk_size: int = -1) -> torch.Tensor:
        """pix_feat [B, pixel_dim, h, w]; pixel = visual readout [B, N, value_dim, h, w];
        sensory [B, N, sensory_dim, h, w]; last_mask [B, N, H, W] (previous probabilities,
        area-downsampled here; "others" only among these N objects) -> [B, N, embed_dim, h, w]."""
        last_mask = F.interpolate(last_mask, size=sensory.shape[-2:], mode="area")
        last_others = self._get_others(last_mask)
        return self.pixel_fuser(pix_feat, pixel, sensory, last_mask, last_others,
                                chunk_size=chunk_size)

    def readout_query(self, pixel_readout: torch.Tensor, obj_memory: torch.Tensor, *,
                      selector: torch.Tensor | None = None, need_weights: bool = False
                      ) -> tuple[torch.Tensor, dict[str, object] | None]:
        """pixel_readout [B, N, embed_dim, h, w]; obj_memory [B, N, T, Q, embed_dim + 1]
        (summary sums; T = 1 at inference) -> (readout [B, N, embed_dim, h, w], aux features
        {'logits': [B, N, h, w] per level, 'q_weights', 'p_weights'} or None)."""
        if not self.object_transformer_enabled:
            return pixel_readout, None
        return self.object_transformer(pixel_readout, obj_memory, selector=selector,
                                       need_weights=need_weights)

    def segment(self, ms_image_feat: MultiScaleFeatures | list[torch.Tensor],
                memory_readout: torch.Tensor, sensory: torch.Tensor, *,
                selector: torch.Tensor | None = None, chunk_size: int = -1,
                update_sensory: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Decode masks.

        ms_image_feat (f16, f8, f4); memory_readout [B, N, embed_dim, h, w]; sensory
        [B, N, sensory_dim, h, w]. Returns (sensory (updated by the decoder when
        update_sensory, else the input), log-odds [B, N+1, H, W] with the background first,
        probabilities [B, N+1, H, W] = softmax of them).
        """
        sensory, logits = self.mask_decoder(ms_image_feat, memory_readout, sensory,
                                            chunk_size=chunk_size, update_sensory=update_sensory)
        logits, prob = self.probs_from_logits(logits, selector=selector)
        return sensory, logits, prob

    @staticmethod
    def probs_from_logits(object_logits: torch.Tensor, *, selector: torch.Tensor | None = None
                          ) -> tuple[torch.Tensor, torch.Tensor]:
        """The output head of `segment`: per-object stride-4 logits [B, N, H/4, W/4] ->
        (log-odds with background [B, N+1, H, W], softmax probabilities). ReVOS's booster
        scales `object_logits` before calling this."""
        prob = torch.sigmoid(object_logits)
        if selector is not None:
            prob = prob * selector
        logits = aggregate(prob, dim=1)
        logits = F.interpolate(logits, scale_factor=4, mode="bilinear", align_corners=False)
        return logits, F.softmax(logits, dim=1)

    def read_memory(self, query_key: torch.Tensor, query_selection: torch.Tensor,
                    memory_key: torch.Tensor, memory_shrinkage: torch.Tensor,
                    msk_value: torch.Tensor, obj_memory: torch.Tensor, pix_feat: torch.Tensor,
                    sensory: torch.Tensor, last_mask: torch.Tensor,
                    selector: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, object]]:
        """Training-style read over all memory frames with a full softmax (the inference core
        reads with top-k per bucket instead). msk_value [B, N, Cv, T, h, w]."""
        batch_size, num_objects = msk_value.shape[:2]
        with torch.autocast(device_type=query_key.device.type, enabled=False):
            affinity = get_affinity(memory_key.float(), memory_shrinkage.float(),
                                    query_key.float(), query_selection.float())
            msk_value = msk_value.flatten(start_dim=1, end_dim=2).float()
            pixel_readout = readout(affinity, msk_value)
            pixel_readout = pixel_readout.view(batch_size, num_objects, self.value_dim,
                                               *pixel_readout.shape[-2:])
        pixel_readout = self.pixel_fusion(pix_feat, pixel_readout, sensory, last_mask)
        mem_readout, aux_features = self.readout_query(pixel_readout, obj_memory,
                                                       selector=selector)
        aux_output = {
            "sensory": sensory,
            "q_logits": aux_features["logits"] if aux_features else None,
            "attn_mask": aux_features.get("attn_mask") if aux_features else None,
        }
        return mem_readout, aux_output

    def compute_aux(self, pix_feat: torch.Tensor, aux_inputs: dict[str, torch.Tensor],
                    selector: torch.Tensor | None) -> dict[str, torch.Tensor]:
        return self.aux_computer(pix_feat, aux_inputs, selector)

    def forward(self, *args, **kwargs):  # noqa: D401
        raise NotImplementedError("CutieNetwork is driven step by step by the inference core")

    def load_weights(self, src_dict: Mapping[str, torch.Tensor], *, source: str = "state_dict"
                     ) -> None:
        """Strict load of a state_dict (or a training wrapper holding one): every key present
        with its exact shape, nothing extra, no padding of single-object weights (the official
        method pads with random values and ignores missing keys). Errors are one-line
        `BadInputError`s naming the key(s) and `source`."""
        from m3vos.trackers.checkpoint import extract_state_dict, load_state_dict_strict

        load_state_dict_strict(self, extract_state_dict(src_dict, source), source=source)
