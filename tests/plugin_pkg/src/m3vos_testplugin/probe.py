"""Trackers that report where and how the runner ran them (for the GPU/cluster tests)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Iterator

from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput
from m3vos_testplugin import first_mask_every_frame


class ProbeTracker(Tracker):
    """Static; writes `<probe_dir>/<video>.json` with its device, pid, parent pid, thread caps
    and GPU environment. `delay` (s per frame) slows it down."""

    name = "probe-test"
    capabilities = Capabilities()

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        info = {"device": self.device, "pid": os.getpid(),
                "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES")}
        folder = Path(self.config["probe_dir"]) / "started"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{os.getpid()}.json").write_text(json.dumps(info))

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        import cv2

        info = {"device": self.device, "amp": self.amp, "pid": os.getpid(), "ppid": os.getppid(),
                "cv2_threads": cv2.getNumThreads(),
                "env": {k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")}}
        try:
            import ray

            if ray.is_initialized():
                info["ray_gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        except ImportError:
            pass
        folder = Path(self.config["probe_dir"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{video.name}.json").write_text(json.dumps(info))
        yield from first_mask_every_frame(video, float(self.config.get("delay", 0)))


class SlowStartTracker(ProbeTracker):
    """Takes `init_sleep` seconds to load (a model that never finishes loading)."""

    name = "slow-start-test"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        time.sleep(float(self.config.get("init_sleep", 0)))


class TorchProbeTracker(ProbeTracker):
    """The same, declared as a torch tracker (the runner then picks GPUs for it)."""

    name = "torch-probe-test"
    capabilities = Capabilities(needs_torch=True)
