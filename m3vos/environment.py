"""`m3vos env`: what this installation can do and where it keeps things.

One place lists every environment variable m3vos reads (`ENV_VARS`; a test checks the code
reads no other `M3VOS_*` name), and `describe_environment()` reports the version, the optional
engines (torch and CUDA, Ray, transformers), the data, weights and cache locations and the
value of each variable.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import sys
from dataclasses import dataclass
from typing import Any

from m3vos import __version__


@dataclass(frozen=True)
class EnvVar:
    name: str
    what: str
    read_by: str   # "m3vos", or the library that reads it on m3vos's behalf


ENV_VARS: tuple[EnvVar, ...] = (
    EnvVar("M3VOS_DATA", "dataset root used when no --data is given (before the user config)",
           "m3vos"),
    EnvVar("M3VOS_HOME", "parent of the default download folder (<M3VOS_HOME>/M3-VOS)", "m3vos"),
    EnvVar("M3VOS_CONFIG_DIR", "folder of the user config (config.json: the remembered data root)",
           "m3vos"),
    EnvVar("M3VOS_CACHE", "cache folder: weights, official labels, archives, analysis caches",
           "m3vos"),
    EnvVar("M3VOS_LABELS_URL", "mirror of raw.githubusercontent.com for the official label files",
           "m3vos"),
    EnvVar("M3VOS_WEIGHTS_URL", "mirror (base URL) for the model checkpoints", "m3vos"),
    EnvVar("M3VOS_STARTUP_TIMEOUT", "seconds to wait for workers / Ray actors to load the model "
           "(default 600) before the run fails with exit 3", "m3vos"),
    EnvVar("M3VOS_SHARED", "folder of the parity references for `m3vos dev gpu-check` "
           "(default ../shared)", "m3vos"),
    EnvVar("M3VOS_QUIET", "1: no progress bars (set by `m3vos -q`)", "m3vos"),
    EnvVar("CUDA_VISIBLE_DEVICES", "which GPUs torch (and so `--gpus`) can see", "torch"),
    EnvVar("OMP_NUM_THREADS", "CPU threads per process of torch / OpenCV", "torch, opencv"),
    EnvVar("NO_COLOR", "plain terminal output", "rich"),
)

#: Optional engines: (import name, distribution name, what needs it).
ENGINES = (
    ("torch", "torch", "the model trackers (Cutie, ReVOS)"),
    ("ray", "ray", "`m3vos run --executor ray`"),
    ("transformers", "transformers", "trackers built on Hugging Face models"),
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def engines() -> dict[str, dict[str, Any]]:
    """Which optional engines are installed (found, never imported, except torch for CUDA)."""
    out: dict[str, dict[str, Any]] = {}
    for module, dist, needed_by in ENGINES:
        found = importlib.util.find_spec(module) is not None
        out[module] = {"installed": found, "version": _version(dist) if found else None,
                       "needed_by": needed_by}
    if out["torch"]["installed"]:
        import torch

        cuda = bool(torch.cuda.is_available())
        out["torch"].update({
            "cuda_available": cuda, "cuda_version": torch.version.cuda,
            "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if cuda else []})
    return out


def locations() -> dict[str, str | None]:
    """Where data, weights and caches live for this user (nothing is created)."""
    from m3vos.data.config import config_path, get_data_root
    from m3vos.utils.cache import cache_dir
    from m3vos.data.labels import labels_cache_dir
    from m3vos.data.sources import default_dest
    from m3vos.trackers.weights import weights_dir

    root = get_data_root()
    return {
        "data_root": str(root) if root else None,
        "download_dest": str(default_dest()),
        "config_file": str(config_path()),
        "cache": str(cache_dir()),
        "weights": str(weights_dir()),
        "labels": str(labels_cache_dir()),
    }


def describe_environment() -> dict[str, Any]:
    """Everything `m3vos env` prints, as one JSON-ready document."""
    return {
        "m3vos": __version__,
        "python": platform.python_version(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "engines": engines(),
        "locations": locations(),
        "environment": [{"name": v.name, "value": os.environ.get(v.name), "what": v.what,
                         "read_by": v.read_by} for v in ENV_VARS],
    }
