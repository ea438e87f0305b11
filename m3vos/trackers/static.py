"""`static`: repeats the last known mask of every object. The floor any real tracker must beat,
and the cheapest way to exercise the runner end to end."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput


class StaticTracker(Tracker):
    """Frame t is frame 0's mask, plus late objects pasted in from the frame they appear."""

    name = "static"
    capabilities = Capabilities(late_objects=True)
    config_keys = ()

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        current = np.zeros(video.size, dtype=np.uint8)
        for t in range(video.num_frames):
            given = video.masks.get(t)
            if given is not None:
                current = current.copy()
                new = given != 0
                if t == 0:
                    current = np.where(given == 255, 0, given).astype(np.uint8)
                else:
                    # a late object's mask takes its pixels; earlier objects keep the rest
                    keep = new & (given != 255)
                    current[keep] = given[keep]
            yield TrackerOutput(frame=t, labels=current)
