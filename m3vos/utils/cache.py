"""Where m3vos keeps what it can fetch again: weights, official label files, download archives,
analysis caches.

Data-independent on purpose: the dataset code, the trackers (weights) and the analysis all use
the same cache, and none of them should reach into another concern for it. Every call reads the
environment afresh, so tests and subprocesses see exactly what they were given.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "m3vos"


def user_dir(env_var: str, kind: str) -> Path:
    """`$env_var` when set, else platformdirs' per-user `kind` folder ("cache", "config", "data")."""
    env = os.environ.get(env_var)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME))


def cache_dir() -> Path:
    """The per-user cache folder (`M3VOS_CACHE` overrides the platform default)."""
    return user_dir("M3VOS_CACHE", "cache")
