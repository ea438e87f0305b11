"""Model configuration of Cutie as small dataclasses (the official hydra `model=small|base`).

Only the network's shape lives here; eval settings (mem_every, top_k, ...) belong to the
inference core. `from_dict` reads the resolved hydra `model` block (as the parity manifests
record it), so a config can be checked against the official one key by key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: (query, key, value): whether the positional embedding is added. Official default.
PE_QK = (True, True, False)


@dataclass(frozen=True)
class ObjectTransformerConfig:
    embed_dim: int = 256
    ff_dim: int = 2048
    num_heads: int = 8
    num_blocks: int = 3
    num_queries: int = 16
    read_from_pixel_pe: tuple[bool, bool, bool] = PE_QK
    query_self_attention_pe: tuple[bool, bool, bool] = PE_QK
    read_from_query_pe: tuple[bool, bool, bool] = PE_QK
    read_from_query_output_norm: bool = False


@dataclass(frozen=True)
class ObjectSummarizerConfig:
    embed_dim: int = 256
    num_summaries: int = 16
    add_pe: bool = True


@dataclass(frozen=True)
class CutieModelConfig:
    """The network's hyper-parameters; `small()` and `base()` are the released models."""

    pixel_encoder_type: str = "resnet18"          # "resnet18" | "resnet50"
    ms_dims: tuple[int, int, int] = (256, 128, 64)  # channels at strides 16, 8, 4
    mask_encoder_type: str = "resnet18"
    mask_encoder_final_dim: int = 256
    pixel_dim: int = 256
    key_dim: int = 64
    value_dim: int = 256
    sensory_dim: int = 256
    embed_dim: int = 256
    pixel_mean: tuple[float, float, float] = IMAGENET_MEAN
    pixel_std: tuple[float, float, float] = IMAGENET_STD
    pixel_pe_scale: float = 32
    pixel_pe_temperature: float = 128
    object_transformer: ObjectTransformerConfig = field(default_factory=ObjectTransformerConfig)
    object_summarizer: ObjectSummarizerConfig = field(default_factory=ObjectSummarizerConfig)
    sensory_aux: bool = True                       # training-only head, kept so checkpoints load
    up_dims: tuple[int, int, int] = (256, 128, 128)  # mask decoder at strides 16, 8, 4

    @classmethod
    def small(cls) -> CutieModelConfig:
        """cutie-small: ResNet-18 pixel encoder (cutie/config/model/small.yaml)."""
        return cls(pixel_encoder_type="resnet18", ms_dims=(256, 128, 64))

    @classmethod
    def base(cls) -> CutieModelConfig:
        """cutie-base: ResNet-50 pixel encoder (cutie/config/model/base.yaml)."""
        return cls(pixel_encoder_type="resnet50", ms_dims=(1024, 512, 256))

    @classmethod
    def named(cls, kind: str) -> CutieModelConfig:
        """`cutie-small` / `small` or `cutie-base` / `base`."""
        short = kind.removeprefix("cutie-")
        if short == "small":
            return cls.small()
        if short == "base":
            return cls.base()
        raise ValueError(f"unknown Cutie model {kind!r} (expected cutie-small or cutie-base)")

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> CutieModelConfig:
        """Read an official resolved hydra `model` block (e.g. a manifest's `model_config`)."""
        ot = cfg["object_transformer"]
        return cls(
            pixel_encoder_type=cfg["pixel_encoder"]["type"],
            ms_dims=tuple(cfg["pixel_encoder"]["ms_dims"]),
            mask_encoder_type=cfg["mask_encoder"]["type"],
            mask_encoder_final_dim=cfg["mask_encoder"]["final_dim"],
            pixel_dim=cfg["pixel_dim"],
            key_dim=cfg["key_dim"],
            value_dim=cfg["value_dim"],
            sensory_dim=cfg["sensory_dim"],
            embed_dim=cfg["embed_dim"],
            pixel_mean=tuple(cfg["pixel_mean"]),
            pixel_std=tuple(cfg["pixel_std"]),
            pixel_pe_scale=cfg["pixel_pe_scale"],
            pixel_pe_temperature=cfg["pixel_pe_temperature"],
            object_transformer=ObjectTransformerConfig(
                embed_dim=ot["embed_dim"],
                ff_dim=ot["ff_dim"],
                num_heads=ot["num_heads"],
                num_blocks=ot["num_blocks"],
                num_queries=ot["num_queries"],
                read_from_pixel_pe=tuple(ot["read_from_pixel"]["add_pe_to_qkv"]),
                query_self_attention_pe=tuple(ot["query_self_attention"]["add_pe_to_qkv"]),
                read_from_query_pe=tuple(ot["read_from_query"]["add_pe_to_qkv"]),
                read_from_query_output_norm=ot["read_from_query"]["output_norm"],
            ),
            object_summarizer=ObjectSummarizerConfig(
                embed_dim=cfg["object_summarizer"]["embed_dim"],
                num_summaries=cfg["object_summarizer"]["num_summaries"],
                add_pe=cfg["object_summarizer"]["add_pe"],
            ),
            sensory_aux=cfg["aux_loss"]["sensory"]["enabled"],
            up_dims=tuple(cfg["mask_decoder"]["up_dims"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
