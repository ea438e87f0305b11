"""Progress bars for long work: rich on a terminal, silent otherwise (CI logs stay clean)."""

from __future__ import annotations

import os
import sys
from typing import Any


def make_progress(*, enabled: bool | None = None, transient: bool = False) -> Any:
    """A rich `Progress` that draws only when stderr is a TTY (or when `enabled` says so)."""
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn,
                               TextColumn, TimeElapsedColumn, TimeRemainingColumn)

    if enabled is None:
        enabled = sys.stderr.isatty()
    if os.environ.get("M3VOS_QUIET") == "1":  # `m3vos -q`
        enabled = False
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=Console(stderr=True),
        disable=not enabled,
        transient=transient,
    )
