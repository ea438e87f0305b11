"""Cutie (small and base): our own PyTorch re-implementation that loads the official
checkpoints unchanged.

- `CutieNetwork` (network.py) and `CutieModelConfig` (config.py): the network and its config;
  one small module per part (resnet, pixel_encoder, mask_encoder, object_transformer, ...);
- the inference core (memory, `step`) lives beside them (inference_core.py and friends).

Importing the package itself imports nothing heavy: torch is loaded with the first model
module that needs it (so e.g. `settings` can be read without torch).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CutieModelConfig", "CutieNetwork"]


def __getattr__(name: str) -> Any:
    if name == "CutieNetwork":
        from m3vos.trackers.cutie.network import CutieNetwork

        return CutieNetwork
    if name == "CutieModelConfig":
        from m3vos.trackers.cutie.config import CutieModelConfig

        return CutieModelConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
