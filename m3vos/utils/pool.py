"""Process pools that are safe to start from a process that already used OpenCV.

Forking is fast (no re-import in the workers), but a child forked while OpenCV's thread pool
is alive inherits its locks and can deadlock on its first cv2 call. OpenCV's threads are
stopped for the moment of the fork and restored afterwards; workers run OpenCV single-threaded
since there is already one process per core.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
import sys
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def _opencv_threads_paused() -> Iterator[None]:
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


_POOL_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block SIGINT/SIGTERM while forking: a child must not run the parent's handlers
    (which raise KeyboardInterrupt) before its initializer has replaced them."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _POOL_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _init_worker(extra: Callable[[], None] | None) -> None:
    import os

    import cv2

    from m3vos.utils.lifeline import die_with_parent

    die_with_parent(os.getppid())  # a SIGKILLed parent must not leave its pool running

    cv2.setNumThreads(1)
    # Interrupts are the parent's business (it terminates the pool); workers just stop. The
    # parent forked us with both signals blocked, so its Python handlers never run here; one
    # that arrived meanwhile is delivered now, to these defaults.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _POOL_SIGNALS)
    if extra is not None:
        extra()


def worker_pool(workers: int, initializer: Callable[[], None] | None = None) -> Any:
    """A `multiprocessing.Pool` of `workers` processes (fork on Linux, spawn elsewhere)."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    with _opencv_threads_paused(), _signals_blocked():
        return mp.get_context(method).Pool(workers, initializer=_init_worker, initargs=(initializer,))


def pool_map(fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None, ordered: bool = True,
             on_start: Callable[[], None] | None = None) -> Iterator[R]:
    """`fn(item)` for each item, in this process when one worker suffices, else on a
    `worker_pool`; results come in `items` order, or as they finish when `ordered` is False.

    `workers` None: `default_workers(len(items))`; never more processes than items.
    `on_start` is called once the workers exist (e.g. to start a progress bar's clock)."""
    from m3vos.utils.workers import default_workers

    n = min(default_workers(len(items), workers), max(1, len(items)))
    if n <= 1:
        if on_start:
            on_start()
        for item in items:
            yield fn(item)
        return
    with worker_pool(n) as pool:
        if on_start:
            on_start()
        results: Iterable[R] = pool.imap(fn, items) if ordered else pool.imap_unordered(fn, items, chunksize=1)
        yield from results
