"""`flow`: carries each object's mask forward with dense optical flow (OpenCV DIS).

A weight-free baseline that moves with the scene, unlike `static`, and needs no GPU. Labels are
warped backwards (each pixel of frame t looks up where it came from in frame t-1), so the warp
leaves no holes; the one-hot maps are warped bilinearly and re-hardened every frame, which
keeps boundaries from aliasing into staircase drift.
"""

from __future__ import annotations

from typing import Any, Iterator

import cv2
import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


class FlowTracker(Tracker):
    """Propagates the previous frame's labels with DIS optical flow; late objects are pasted in.

    Config: `preset` (ultrafast | fast | medium, default medium); `occlusion_check` (default
    false; doubles the cost): pixels whose forward and backward flows disagree were hidden in frame t-1 (e.g. the
    background an object just uncovered) and become background instead of copying the object
    that covered them, which otherwise leaves a growing trail behind every moving object.
    """

    name = "flow"
    capabilities = Capabilities(late_objects=True)
    #: Flow on full-HD frames is slow on a CPU and gains little; 480p is the VOS convention.
    input_short_side = 480
    config_keys = ("preset", "occlusion_check")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        preset = str(self.config.get("preset", "medium"))
        if preset not in PRESETS:
            raise BadInputError(f"flow: unknown preset '{preset}'",
                                hint=f"use --config preset=ONE_OF {', '.join(PRESETS)}")
        self.preset = preset
        self.occlusion_check = bool(self.config.get("occlusion_check", False))

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        dis = cv2.DISOpticalFlow_create(PRESETS[self.preset])
        h, w = video.size
        # The presets stop at 1/2 or 1/4 resolution, tuned for 480p+; on small frames that
        # blurs the flow of small objects into the background, so refine down to where the
        # finest level still has a short side of at least ~240 px.
        finest = max(0, int(np.floor(np.log2(max(min(h, w), 1) / 240))))
        dis.setFinestScale(min(dis.getFinestScale(), finest))
        grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        n = max(video.object_ids, default=0)
        labels = np.zeros((h, w), dtype=np.uint8)
        prev_gray: np.ndarray | None = None
        for t in range(video.num_frames):
            gray = cv2.cvtColor(np.ascontiguousarray(video.frames[t]), cv2.COLOR_RGB2GRAY)
            if prev_gray is not None and labels.any():
                back = dis.calc(gray, prev_gray, None)    # frame t -> t-1
                map_x, map_y = grid_x + back[..., 0], grid_y + back[..., 1]
                labels = _warp_labels(labels, map_x, map_y, n)
                if self.occlusion_check:
                    fwd = dis.calc(prev_gray, gray, None)  # frame t-1 -> t
                    labels[_disoccluded(back, fwd, map_x, map_y)] = 0
            given = video.masks.get(t)
            if given is not None:
                labels = _paste(labels, given, first=(t == 0))
            prev_gray = gray
            yield TrackerOutput(frame=t, labels=labels)


def _warp_labels(labels: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, n: int) -> np.ndarray:
    """Backward-warp an id map: bilinear on one-hot channels, then argmax (background first)."""
    best = np.zeros(labels.shape, dtype=np.float32)
    out = np.zeros(labels.shape, dtype=np.uint8)
    # background "probability" is what's left over; out-of-frame lookups become background
    present = [oid for oid in range(1, n + 1) if (labels == oid).any()]
    bg = np.ones(labels.shape, dtype=np.float32)
    for oid in present:
        chan = cv2.remap((labels == oid).astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        bg -= chan
        better = chan > best
        best[better] = chan[better]
        out[better] = oid
    out[bg >= best] = 0
    return out


def _disoccluded(back: np.ndarray, fwd: np.ndarray, map_x: np.ndarray, map_y: np.ndarray) -> np.ndarray:
    """Forward-backward consistency test (Sundaram et al., ECCV 2010)."""
    fwd_at = cv2.remap(fwd, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    err = ((back + fwd_at) ** 2).sum(axis=-1)
    scale = (back ** 2).sum(axis=-1) + (fwd_at ** 2).sum(axis=-1)
    return err > 0.01 * scale + 0.5


def _paste(labels: np.ndarray, given: np.ndarray, *, first: bool) -> np.ndarray:
    """Frame 0 replaces everything; a later mask only claims its own (new) objects' pixels."""
    clean = np.where(given == 255, 0, given).astype(np.uint8)
    if first:
        return clean
    out = labels.copy()
    new = clean != 0
    out[new] = clean[new]
    return out
