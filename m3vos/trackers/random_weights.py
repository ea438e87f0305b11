"""`--weights random[:SEED]`: a model tracker's architecture with seeded random parameters.

For smoke tests without a download or a GPU (CI, a first end-to-end check). The numbers such
a run produces mean nothing; the runner records `"weights": {"random": true, "seed": N}` in
run.json and warns. Parsing imports nothing heavy; `seeded_build` imports torch.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from m3vos.errors import BadInputError

WARNING = "random weights: the numbers mean nothing"
PREFIX = "random"


def random_seed(weights: str | os.PathLike[str] | None) -> int | None:
    """The seed of a `random` / `random:N` weights value, or None for anything else."""
    if weights is None:
        return None
    text = str(weights).strip()
    if text == PREFIX:
        return 0
    if not text.startswith(PREFIX + ":"):
        return None
    seed = text[len(PREFIX) + 1:]
    if not seed.isdigit():
        raise BadInputError(f"--weights {text}: the seed must be a non-negative integer",
                            hint="use --weights random or --weights random:SEED (e.g. random:3)")
    return int(seed)


def spec(seed: int) -> Path:
    """The canonical weights value handed to trackers (`random:N`)."""
    return Path(f"{PREFIX}:{seed}")


def supports_random(cls: type) -> bool:
    """Whether a tracker class can build itself with random parameters."""
    return bool(getattr(cls, "supports_random_weights", False))


def seeded_build(build: Callable[[], Any], seed: int) -> Any:
    """Call `build()` with torch's CPU RNG seeded, without disturbing the caller's RNG state.
    Models are built on the CPU so the parameters do not depend on the device."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()
