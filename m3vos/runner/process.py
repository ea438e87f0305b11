"""Running one tracker over one video into its output folder, atomically.

Shared by every executor (serial, worker processes, Ray actors), which is what makes their
outputs identical: the same code, the same seed per video, the same encoder.
"""

from __future__ import annotations

import contextlib
import random
import resource
import sys
import time
import traceback
from typing import Any, Callable, Iterator

import numpy as np

from m3vos.errors import M3vosError
from m3vos.runner.store import RunStore
from m3vos.runner.video import IdMap, OrderCheck, VideoSource, make_input, restore_output
from m3vos.runner.writer import PngWriter
from m3vos.trackers.base import Tracker
from m3vos.utils.atomic import atomic_dir

ProgressFn = Callable[[int], None]


def seed_everything(seed: int) -> None:
    """Same seed before every video: a video's result must not depend on which worker ran it."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    if "torch" in sys.modules:
        import torch

        torch.manual_seed(seed)


@contextlib.contextmanager
def torch_context(device: str, precision: str = "fp32") -> Iterator[None]:
    """`inference_mode` and, for `amp-*` precisions on CUDA, autocast around `track()` for torch
    trackers; nothing for the others. (`precision.effective` has already made CPU runs fp32.)"""
    if "torch" not in sys.modules:
        yield
        return
    import torch

    from m3vos.runner.precision import autocast_dtype

    dtype = autocast_dtype(precision)
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        if dtype is not None and device.startswith("cuda"):
            stack.enter_context(torch.autocast("cuda", dtype=getattr(torch, dtype)))
        yield


def _peak_memory_mb(device: str) -> dict[str, float]:
    mem = {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    if device.startswith("cuda") and "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        import torch

        mem["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return mem


def _reset_peak(device: str) -> None:
    if device.startswith("cuda") and "torch" in sys.modules and sys.modules["torch"].cuda.is_available():
        import torch

        torch.cuda.reset_peak_memory_stats(device)


def track_video(tracker: Tracker, src: VideoSource, store: RunStore, *, seed: int = 0,
                progress: ProgressFn | None = None, precision: str = "fp32") -> dict[str, Any]:
    """Track `src` with `tracker` into `store`; returns the done record (already written)."""
    store.clean_temps(src.name)
    cls = type(tracker)
    ids = IdMap.for_source(src)
    video_in = make_input(src, cls, ids)
    order = OrderCheck(src.num_frames, cls.capabilities.offline)
    device = getattr(tracker, "device", "cpu")
    _reset_peak(device)
    seed_everything(seed)
    t0 = time.perf_counter()
    with atomic_dir(store.video_dir(src.name)) as tmp:
        writer = PngWriter(tmp, src.palette)
        try:
            with torch_context(device, precision):
                for out in tracker.track(video_in):
                    labels = restore_output(out, n=ids.n, size=src.size, num_frames=src.num_frames)
                    order.see(int(out.frame))
                    writer.put(src.stems[int(out.frame)], ids.to_dataset(labels))
                    if progress is not None and order.next_new == int(out.frame) + 1:
                        progress(1)
            order.finish()
            writer.close()
        except BaseException:
            writer.abort()  # before atomic_dir removes the folder it writes into
            raise
        finally:
            if hasattr(video_in.frames, "close"):
                video_in.frames.close()
        files = {stem: writer.sizes[stem] for stem in src.stems}
    seconds = time.perf_counter() - t0
    record = {
        "video": src.name,
        "frames": src.num_frames,
        "objects": ids.n,
        "object_ids": ids.dataset_ids,
        "seconds": round(seconds, 4),
        "fps": round(src.num_frames / seconds, 3) if seconds > 0 else None,
        "device": device,
        "precision": precision,
        **_peak_memory_mb(device),
        "files": files,
    }
    store.write_done(record)
    return record


def failure_record(name: str, exc: BaseException) -> dict[str, Any]:
    """What a failed video leaves behind: a one-line error, and a traceback when it is a bug."""
    if isinstance(exc, M3vosError):
        return {"video": name, "error": exc.one_line(), "kind": type(exc).__name__}
    return {"video": name, "error": f"{type(exc).__name__}: {exc}".splitlines()[0], "kind": type(exc).__name__,
            "traceback": traceback.format_exception(type(exc), exc, exc.__traceback__)}


def run_one(tracker: Tracker, dataset: Any, name: str, store: RunStore, *, late_objects: bool,
            seed: int, progress: ProgressFn | None = None, precision: str = "fp32") -> tuple[str, dict[str, Any]]:
    """("done", record) or ("failed", record); only KeyboardInterrupt escapes."""
    try:
        src = VideoSource.from_video(dataset.video(name), late_objects=late_objects)
        return "done", track_video(tracker, src, store, seed=seed, progress=progress, precision=precision)
    except Exception as exc:  # one bad video must not stop the run: record it and go on
        rec = failure_record(name, exc)
        try:
            store.write_failed(name, rec)
        except OSError:  # e.g. the disk is full: the summary still reports the failure
            pass
        return "failed", rec
