"""Running a tracker over a dataset: outputs, resume, worker processes, shards, Ray.

`run()` is the entry point; `m3vos run` is a thin wrapper around it.
"""

from __future__ import annotations

from typing import Any


def run(*args: Any, **kwargs: Any) -> Any:
    """See `m3vos.runner.api.run` (imported lazily so `import m3vos.runner` stays cheap)."""
    from m3vos.runner.api import run as _run

    return _run(*args, **kwargs)


__all__ = ["run"]
