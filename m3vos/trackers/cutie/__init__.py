"""Cutie (small and base): our own PyTorch re-implementation that loads the official
checkpoints unchanged. Importing this package imports torch; `m3vos` itself never does.

- `CutieNetwork` (network.py) and `CutieModelConfig` (config.py): the network and its config;
- `checkpoint.py`: strict, safe loading and `build_model(kind)`;
- the inference core (memory, `step`) lives beside them (inference_core.py and friends).
"""

from m3vos.trackers.cutie.config import CutieModelConfig
from m3vos.trackers.cutie.network import CutieNetwork

__all__ = ["CutieModelConfig", "CutieNetwork"]
