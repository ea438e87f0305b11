"""Trackers a third party might ship, plus misbehaving ones for m3vos's tests."""

from __future__ import annotations

import os
import time
from typing import Iterator

import numpy as np

from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput


def first_mask_every_frame(video: VideoInput, delay: float = 0.0, skip: int | None = None
                           ) -> Iterator[TrackerOutput]:
    """The static tracker's output (frame 0's mask on every frame), `delay` seconds per frame;
    frame `skip`, when given, is left out (a contract breach)."""
    for t in range(video.num_frames):
        if delay:
            time.sleep(delay)
        if t != skip:
            yield TrackerOutput(frame=t, labels=video.masks[0])


class EchoTracker(Tracker):
    """Repeats the first mask, as probabilities at half resolution (exercises the resize-back)."""

    name = "echo-test"
    capabilities = Capabilities()

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        first = video.masks[0][::2, ::2]
        n = len(video.object_ids)
        probs = np.stack([(first == k).astype(np.float32) for k in range(n + 1)])
        for t in range(video.num_frames):
            yield TrackerOutput(frame=t, probs=probs)


class SlowTracker(Tracker):
    """Static, but sleeps `delay` seconds per frame: lets tests interrupt a run mid-video."""

    name = "slow-test"
    capabilities = Capabilities()

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        yield from first_mask_every_frame(video, float(self.config.get("delay", 0.05)))


class FailingTracker(Tracker):
    """Raises on the video named by config `fail_on`, or kills its process with `die_on`."""

    name = "failing-test"
    capabilities = Capabilities()

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        for t in range(video.num_frames):
            if video.name == self.config.get("fail_on") and t == 2:
                raise RuntimeError(f"boom on {video.name}")
            if video.name == self.config.get("die_on") and t == 2:
                os._exit(9)
            yield TrackerOutput(frame=t, labels=video.masks[0])


class SkippingTracker(Tracker):
    """Breaks the contract: never yields frame 3."""

    name = "skipping-test"
    capabilities = Capabilities()

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        yield from first_mask_every_frame(video, skip=3)


class ReverseTracker(Tracker):
    """Offline: yields every frame forward as background, then again backward with the mask."""

    name = "reverse-test"
    capabilities = Capabilities(offline=True)

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        empty = np.zeros(video.size, dtype=np.uint8)
        for t in range(video.num_frames):
            yield TrackerOutput(frame=t, labels=empty)
        for t in reversed(range(video.num_frames)):
            yield TrackerOutput(frame=t, labels=video.masks[0])


class NeedsWeightsTracker(EchoTracker):
    """Declares a checkpoint from m3vos's weights table (never downloaded in tests)."""

    name = "needs-weights-test"
    capabilities = Capabilities(needs_weights=True)
    weights_name = "cutie-small-mega"


class NotATracker:
    """Registered by mistake: `m3vos trackers list` must report it, not crash."""


class ShrinkTracker(Tracker):
    """Asks the runner for a 32-pixel short side and reports what it was given."""

    name = "shrink-test"
    capabilities = Capabilities()
    input_short_side = 32

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        h, w = video.size
        for t in range(video.num_frames):
            frame = video.frames[t]
            if frame.shape != (h, w, 3) or video.masks[0].shape != (h, w) or min(h, w) != 32:
                raise AssertionError(f"runner gave frame {frame.shape}, mask {video.masks[0].shape}, size {video.size}")
            yield TrackerOutput(frame=t, labels=video.masks[0])
