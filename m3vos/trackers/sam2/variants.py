"""The eight released SAM 2 / 2.1 models: their shapes, files and hub ids (imports nothing heavy).

Shapes are those of Meta's configs (`sam2/configs/sam2*/sam2*_hiera_{t,s,b+,l}.yaml`), as
`transformers` maps them onto `Sam2HieraDetConfig` / `Sam2VisionConfig`. SAM 2.1 differs from
SAM 2 by two extra parameter groups: the no-object spatial embedding and the projection of the
object pointers' temporal encoding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

META_BASE_URL = "https://dl.fbaipublicfiles.com/segment_anything_2"
META_RELEASE = {"2.0": "072824", "2.1": "092824"}   # Meta's release folders (July / Sept 2024)
#: `pip install` hint for the optional engine.
INSTALL_HINT = "pip install 'm3vos[sam2]'  (installs transformers; torchvision is not needed)"
MIN_TRANSFORMERS = "5.24"   # the version tested (Sam2VideoInferenceSession API)


@dataclass(frozen=True)
class Sam2Variant:
    """One released model: tracker name, Meta file, hub id and backbone shape."""

    name: str                 # tracker and weights name, e.g. "sam2.1-tiny"
    version: str              # "2.0" | "2.1"
    size: str                 # tiny | small | base_plus | large
    hiera: dict[str, Any] = field(default_factory=dict)    # Sam2HieraDetConfig overrides
    channels: tuple[int, ...] = (768, 384, 192, 96)        # Sam2VisionConfig.backbone_channel_list

    @property
    def prefix(self) -> str:
        return "sam2.1" if self.version == "2.1" else "sam2"

    @property
    def meta_filename(self) -> str:
        return f"{self.prefix}_hiera_{self.size}.pt"

    @property
    def meta_url(self) -> str:
        return f"{META_BASE_URL}/{META_RELEASE[self.version]}/{self.meta_filename}"

    @property
    def hub_id(self) -> str:
        return f"facebook/{self.prefix}-hiera-{self.size.replace('_', '-')}"


_SHAPES: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "tiny": ({}, (768, 384, 192, 96)),
    "small": ({"blocks_per_stage": [1, 2, 11, 2], "global_attention_blocks": [7, 10, 13]},
              (768, 384, 192, 96)),
    "base_plus": ({"hidden_size": 112, "embed_dim_per_stage": [112, 224, 448, 896],
                   "num_attention_heads_per_stage": [2, 4, 8, 16], "blocks_per_stage": [2, 3, 16, 3],
                   "global_attention_blocks": [12, 16, 20],
                   "window_positional_embedding_background_size": [14, 14]},
                  (896, 448, 224, 112)),
    "large": ({"hidden_size": 144, "embed_dim_per_stage": [144, 288, 576, 1152],
               "num_attention_heads_per_stage": [2, 4, 8, 16], "blocks_per_stage": [2, 6, 36, 4],
               "global_attention_blocks": [23, 33, 43],
               "window_positional_embedding_background_size": [7, 7],
               "window_size_per_stage": [8, 4, 16, 8]},
              (1152, 576, 288, 144)),
}

_SHORT = {"tiny": "tiny", "small": "small", "base_plus": "base-plus", "large": "large"}

#: name -> variant, for `sam2.1-tiny` ... `sam2-large`.
VARIANTS: dict[str, Sam2Variant] = {}
for _version, _prefix in (("2.1", "sam2.1"), ("2.0", "sam2")):
    for _size, (_hiera, _channels) in _SHAPES.items():
        _v = Sam2Variant(f"{_prefix}-{_SHORT[_size]}", _version, _size, _hiera, _channels)
        VARIANTS[_v.name] = _v


def get_variant(name: str) -> Sam2Variant:
    from m3vos.errors import BadInputError

    if name not in VARIANTS:
        raise BadInputError(f"unknown SAM 2 model '{name}'", hint=f"use one of {', '.join(VARIANTS)}")
    return VARIANTS[name]
