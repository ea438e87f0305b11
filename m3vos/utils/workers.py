"""The one rule for how many workers (processes or threads) a command uses by default."""

from __future__ import annotations

import os

from m3vos.errors import BadInputError


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask: a batch job's share, not the machine's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def default_workers(items: int | None = None, workers: int | None = None) -> int:
    """`workers` when given (checked >= 1); else the CPUs this process may use, capped by
    `items` (the number of things to work on; None: no cap) and at least 1."""
    if workers is not None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise BadInputError(f"--workers must be a whole number >= 1, got {workers!r}",
                                hint="leave it out to use every CPU this process may run on")
        return workers
    n = available_cpus()
    if items is not None:
        n = min(n, max(1, items))
    return n
