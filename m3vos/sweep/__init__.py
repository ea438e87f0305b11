"""`m3vos sweep`: a grid (or list) of tracker configs, each point an ordinary run folder.

`plan` turns `--grid`/YAML into points, `execute` runs and scores them through the runner and
the scoring engine (resumable, point by point), `table` builds the one results table, its
Pareto front, files and plot.
"""

from __future__ import annotations

from typing import Any


def run_sweep(*args: Any, **kwargs: Any) -> Any:
    """See `m3vos.sweep.execute.run_sweep` (imported lazily)."""
    from m3vos.sweep.execute import run_sweep as _run

    return _run(*args, **kwargs)


__all__ = ["run_sweep"]
