"""A background PNG writer: encoding a 480p palette PNG costs ~3 ms of CPU, which a GPU
tracker would otherwise wait for on every frame. One thread, FIFO, so when an offline tracker
re-emits a frame the last write still wins. Pillow releases the GIL while compressing."""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np

from m3vos.data.masks import encode_mask

_STOP = object()


class PngWriter:
    def __init__(self, folder: Path, palette: bytes, *, depth: int = 16) -> None:
        self.folder = folder
        self.palette = palette
        self.sizes: dict[str, int] = {}
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="m3vos-png-writer", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain after a failure; the error is raised in the caller's thread
            stem, ids = item
            try:
                data = encode_mask(ids, self.palette)
                (self.folder / f"{stem}.png").write_bytes(data)
                self.sizes[stem] = len(data)
            except BaseException as exc:  # noqa: BLE001  (re-raised by put()/close())
                self._error = exc

    def put(self, stem: str, ids: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put((stem, ids))

    def close(self) -> None:
        """Wait for every queued frame; raise the first write error, if any."""
        self._queue.put(_STOP)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop without raising (the video failed or was interrupted anyway)."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(_STOP)
            self._thread.join(timeout=30)
