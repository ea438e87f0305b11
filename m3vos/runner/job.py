"""What every executor needs to run videos: a small, picklable description of the run.

Workers (processes, Ray actors) rebuild the tracker and reopen the dataset from it, so nothing
heavy or unpicklable crosses a process boundary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from m3vos.runner.process import run_one
from m3vos.runner.store import RunStore
from m3vos.trackers.base import Tracker

#: on_event(kind, video, payload); kind in start | frames | done | failed
EventFn = Callable[[str, str, Any], None]


@dataclass(frozen=True)
class TrackerArgs:
    model: str
    weights: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    amp: bool = False

    def build(self, device: str, amp: bool | None = None) -> Tracker:
        from m3vos.trackers.registry import get_tracker

        cls = get_tracker(self.model)
        return cls(device=device, weights=Path(self.weights) if self.weights else None,
                   config=dict(self.config), amp=self.amp if amp is None else amp)


@dataclass(frozen=True)
class Job:
    tracker: TrackerArgs
    data_root: str
    split: str
    out: str
    late_objects: bool = False
    seed: int = 0
    precision: str = "fp32"   # requested; each worker runs `precision.effective(...)` on its device

    def open_dataset(self) -> Any:
        from m3vos.data.dataset import open_dataset

        return open_dataset(self.data_root, split=self.split)

    def store(self) -> RunStore:
        return RunStore(self.out)


class VideoWorker:
    """One loaded tracker and an open dataset, running videos one at a time."""

    def __init__(self, job: Job, device: str, tracker: Tracker | None = None) -> None:
        from m3vos.runner.precision import apply_backends, autocast_dtype, effective

        self.job = job
        self.device = device
        self.precision = effective(job.precision, device)
        self.tracker = tracker if tracker is not None else job.tracker.build(
            device, amp=autocast_dtype(self.precision) is not None)
        apply_backends(self.precision, device)  # after the build: the tracker imports torch
        self.dataset = job.open_dataset()
        self.store = job.store()

    def run(self, name: str, progress: Callable[[int], None] | None = None) -> tuple[str, dict[str, Any]]:
        return run_one(self.tracker, self.dataset, name, self.store, late_objects=self.job.late_objects,
                       seed=self.job.seed, progress=progress, precision=self.precision)

    def close(self) -> None:
        self.tracker.close()
