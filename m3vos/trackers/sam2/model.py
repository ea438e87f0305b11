"""Build SAM 2 / 2.1 networks with `transformers.Sam2VideoModel` (no torchvision needed).

`image_size` is the square side frames are resized to (1024 in every released config). A
smaller one (e.g. 512, 256) runs much faster with the same weights (every parameter's shape is
independent of it) but is not the official setting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError
from m3vos.trackers.sam2.variants import INSTALL_HINT, MIN_TRANSFORMERS, Sam2Variant

OFFICIAL_IMAGE_SIZE = 1024


def ensure_engine() -> None:
    """Fail fast (without importing it) when `transformers` with SAM 2 video is not installed:
    called when a SAM 2 tracker module is imported, so `m3vos trackers list` shows the trackers
    as unavailable with the install command, and `m3vos run` exits 2 with it."""
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    where = list(spec.submodule_search_locations or []) if spec is not None else []
    if not any((Path(p) / "models" / "sam2_video").is_dir() for p in where):
        what = "not installed" if spec is None else "installed without SAM 2 video: too old"
        raise BadInputError(f"SAM 2 trackers need transformers >= {MIN_TRANSFORMERS} ({what}): "
                            f"pip install 'm3vos[sam2]'",
                            hint="torchvision is not needed; see docs/sam2.md")


def require_transformers() -> Any:
    """The `transformers` SAM 2 video module, or a one-line exit-2 error with the install hint."""
    try:
        from transformers.models.sam2_video import modeling_sam2_video
    except ImportError as exc:
        raise BadInputError(f"SAM 2 trackers need the 'transformers' package with Sam2VideoModel "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0][:100]})",
                            hint=INSTALL_HINT) from None
    return modeling_sam2_video


def check_image_size(image_size: Any) -> int:
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 64 \
            or image_size % 32:
        raise BadInputError(f"--config image_size={image_size!r} must be a multiple of 32, >= 64",
                            hint=f"the released models use {OFFICIAL_IMAGE_SIZE}")
    return image_size


def build_config(variant: Sam2Variant, image_size: int = OFFICIAL_IMAGE_SIZE) -> Any:
    """The `Sam2VideoConfig` of a released model, at `image_size`."""
    require_transformers()
    from transformers import (Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoPromptEncoderConfig,
                              Sam2VisionConfig)

    s = check_image_size(image_size)
    hiera = Sam2HieraDetConfig(image_size=[s, s], **variant.hiera)
    vision = Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=list(variant.channels),
                              backbone_feature_sizes=[[s // 4, s // 4], [s // 8, s // 8],
                                                      [s // 16, s // 16]])
    is_21 = variant.version == "2.1"
    return Sam2VideoConfig(vision_config=vision,
                           prompt_encoder_config=Sam2VideoPromptEncoderConfig(image_size=s),
                           image_size=s, memory_attention_rope_feat_sizes=[s // 16, s // 16],
                           enable_temporal_pos_encoding_for_object_pointers=is_21,
                           enable_occlusion_spatial_embedding=is_21)


def build_model(variant: Sam2Variant, image_size: int = OFFICIAL_IMAGE_SIZE) -> Any:
    """An un-loaded `Sam2VideoModel` (random init from torch's RNG), in eval mode, on the CPU."""
    modeling = require_transformers()
    return modeling.Sam2VideoModel(build_config(variant, image_size)).eval()
