"""Frames and masks as the official Cutie/ReVOS eval feeds them, prepared ahead of the model.

One implementation for `cutie-*` and `revos` (they had drifted: one switched CPU autocast off
around the resizes, the other not). Per frame: check the RGB array, ToTensor, the eval
loader's antialiased resize to the 480 short side (`eval_io`), on the CPU, in float32, in a
background thread (`m3vos.utils.prefetch.Prefetcher`); on CUDA the tensor is pinned and
copied without blocking. The last `keep` prepared frames are kept for ReVOS's reverse passes.

The loader thread runs torch with one intra-op thread. With torch's default (one per core) the
resize's OpenMP team spins at its barriers, and under load waits for a descheduled partner:
a 720p frame cost 13-20 ms of CPU that way against 8-10 ms in one thread, taking a core from
JPEG decoding and PNG writing (docs/benchmarks.md, "Pipeline"). The frames are the
parallelism, as in PyTorch's DataLoader workers. The resize gives the same bits with any
thread count (each output value is computed by one thread; tests/test_pipeline.py).
`torch.set_num_threads` sets the calling thread's pool and the default of threads that start
torch work later, so the model's thread initialises its own pool first, and the default is
restored when the frames are closed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from m3vos.errors import BadInputError
from m3vos.utils.prefetch import Prefetcher
from m3vos.trackers.base import VideoInput
from m3vos.trackers.cutie import eval_io


def _one_intraop_thread() -> None:
    """Runs first in the loader thread: torch ops there use this thread only."""
    torch.set_num_threads(1)


class EvalFrames:
    """`image(t)` ([3, h, w] float on the device), `mask(t)`, and each frame's original shape."""

    def __init__(self, video: VideoInput, size: int, device: torch.device, *, keep: int = 0,
                 depth: int = 3, workers: int = 1) -> None:
        self.video = video
        self.size = size
        self.device = device
        self.pin = device.type == "cuda"
        self.shapes: dict[int, tuple[int, int]] = {}
        given = sorted(video.masks)
        self.start = given[0] if given else len(video.frames)
        # this (the model's) thread's intra-op pool is set up now, before the loader changes
        # the default; the value is restored by close()
        self._threads = torch.get_num_threads()
        self.frames: Prefetcher[torch.Tensor] = Prefetcher(self._prepare, len(video.frames), depth=depth,
                                                           keep=keep, init=_one_intraop_thread, workers=workers)

    def rgb(self, t: int) -> np.ndarray:
        rgb = np.asarray(self.video.frames[t])
        if rgb.ndim != 3 or rgb.shape[2] != 3:
            raise BadInputError(f"video {self.video.name}: frame {t} has shape {rgb.shape}, "
                                "expected H x W x 3 RGB", hint="check the frame files")
        self.shapes[t] = rgb.shape[:2]
        return rgb

    def _prepare(self, t: int) -> torch.Tensor:
        # Runs in the prefetch thread: grad and autocast modes are per thread, so both are set
        # here explicitly (float32 resize, as the official CPU-side loader).
        with torch.inference_mode(), torch.autocast("cpu", enabled=False):
            image = eval_io.resize_image(eval_io.image_to_tensor(self.rgb(t)), self.size)
            if self.pin:
                image = image.pin_memory()
        return image

    def image(self, t: int) -> torch.Tensor:
        image = self.frames.get(t)
        return image.to(self.device, non_blocking=self.pin)

    def shape(self, t: int) -> tuple[int, int]:
        """Original (H, W) of frame t (frames before the first mask are read only for this)."""
        if t not in self.shapes:
            self.frames.get(t)
        return self.shapes[t]

    def mask(self, t: int) -> tuple[torch.Tensor | None, list[int] | None]:
        """The input mask of frame t, resized with PIL nearest, and its sorted object ids; (None,
        None) when t has none, or when a later mask holds no object."""
        if t not in self.video.masks:
            return None, None
        mask = eval_io.resize_mask(np.asarray(self.video.masks[t], dtype=np.uint8), self.size)
        objects = [int(i) for i in np.unique(mask) if i not in (0, 255)]
        if not objects and t != self.start:
            return None, None  # an empty later mask gives nothing new
        mask = np.where(mask == 255, 0, mask)
        return torch.from_numpy(mask.astype(np.int64)).to(self.device), objects

    def close(self) -> None:
        self.frames.close()
        # back to the default threads started later get (this thread's own pool is unchanged)
        torch.set_num_threads(self._threads)

    def __enter__(self) -> "EvalFrames":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
