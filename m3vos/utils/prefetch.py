"""A frame pipeline that keeps a GPU busy: frames are prepared ahead in a background thread.

A tracker's loop is `prepare frame t` (decode, convert, resize: CPU) then `model step` (GPU).
Done in turn, the GPU waits for the CPU on every frame. `Prefetcher` runs `load(t+1 ..
t+depth)` in one background thread while the model works on `t` (JPEG decoding and torch's
resize release the GIL), holds at most `depth` frames in flight, and keeps the last `keep`
prepared frames so an offline tracker that goes back over a window (ReVOS's reverse passes)
reuses them instead of decoding them again. With `workers=1` every load runs in that one
thread, so the frame source needs no locking; with more, loads of different frames run at
once (the source must allow that) and `get` still returns them by index. `init` runs once in
each loader thread first (e.g. to cap torch's intra-op threads there: the frames are the
parallelism, see `m3vos.trackers.cutie.frames`).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Prefetcher(Generic[T]):
    """`get(i)` returns `load(i)`, computed ahead in forward order and cached (bounded)."""

    def __init__(self, load: Callable[[int], T], length: int, *, depth: int = 3, keep: int = 0,
                 init: Callable[[], None] | None = None, workers: int = 1) -> None:
        self.load = load
        self.length = length
        self.depth = max(depth, 0)
        self.keep = max(keep, 0)
        self.cache: dict[int, T] = {}
        self.pending: dict[int, Future[T]] = {}
        self.loads = 0  # how many times `load` ran (the tests count re-decodes with it)
        self._count_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(workers, 1), thread_name_prefix="m3vos-prefetch",
                                        initializer=init)

    def _counted(self, index: int) -> T:
        with self._count_lock:
            self.loads += 1
        return self.load(index)

    def _submit(self, index: int) -> Future[T]:
        fut = self.pending.get(index)
        if fut is None:
            fut = self._pool.submit(self._counted, index)
            self.pending[index] = fut
        return fut

    def get(self, index: int) -> T:
        if index in self.cache:
            return self.cache[index]
        fut = self._submit(index)
        try:
            value = fut.result()
        finally:
            self.pending.pop(index, None)
        if self.keep:
            self.cache[index] = value
            while len(self.cache) > self.keep:  # a sliding window: the earliest frame goes
                del self.cache[min(self.cache)]
        for ahead in range(index + 1, min(index + 1 + self.depth, self.length)):
            if ahead not in self.cache:
                self._submit(ahead)
        return value

    def close(self) -> None:
        for fut in self.pending.values():
            fut.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.pending.clear()
        self.cache.clear()

    def __enter__(self) -> "Prefetcher[T]":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
