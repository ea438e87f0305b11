"""SIGTERM handled like Ctrl-C: schedulers (Slurm, Kubernetes, `timeout`) stop jobs with SIGTERM,
and a stopped job must unwind the same way an interrupted one does (temp folders removed,
worker pools terminated, nothing half-written)."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def sigterm_raises_interrupt() -> Any:
    """From now on SIGTERM raises KeyboardInterrupt in the main thread; returns the handler it
    replaced, or None outside the main thread (embedded use), where signals are left alone."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """`sigterm_raises_interrupt()` for the duration of the block; the old handler comes back."""
    old = sigterm_raises_interrupt()
    try:
        yield
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)
