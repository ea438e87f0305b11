"""Everything about the M3-VOS data on disk: layouts, masks, metadata, download, verify, synth.

The main names are re-exported lazily so `import m3vos.data` stays cheap.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "open_dataset": "m3vos.data.dataset",
    "Dataset": "m3vos.data.dataset",
    "Video": "m3vos.data.dataset",
    "TargetObject": "m3vos.data.labels",
    "read_mask": "m3vos.data.masks",
    "write_mask": "m3vos.data.masks",
    "make_synthetic_dataset": "m3vos.data.synth",
    "get_data_root": "m3vos.data.config",
    "set_data_root": "m3vos.data.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'm3vos.data' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
