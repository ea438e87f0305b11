"""The ReVOS reverse pass as a plug-in for any online tracker (`--model revos:<backbone>`).

ReVOS revisits recent frames backwards, starting from the state it has reached at the current
frame: later frames often show a changed object more clearly than the frames before them. This
wrapper applies that schedule to a tracker that has no internal state we can reach: every
`every` (L) forward frames, and after the last frame, it runs the backbone once more on the
clip `frame t, t-1, ..., t-window`, with the backbone's own forward labels at frame t as the
starting mask, and re-emits the revised frames (last write wins, as in ReVOS). The passes run
once the forward run is done, in schedule order, on the same backbone instance (so its
per-video state is never interleaved); since only the start masks at the trigger frames are
needed, the final labels equal those of the interleaved loop.

Differences from ReVOS proper (`--model revos`), by necessity: the backbone's reverse run
starts from the hard labels at frame t (not a soft mask plus hidden state), it builds its own
memory inside the window instead of reading the forward memory, and nothing is fused. Two
rules keep the given annotations authoritative: a frame that has an input mask keeps the
objects that mask gives, and an object never appears in a frame before the frame its mask
was given.

Settings (`--config reverse.window=30 reverse.every=30 reverse.enabled=true`): everything else in
the config goes to the backbone unchanged. Importing this module imports no torch.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np

from m3vos.errors import BadInputError
from m3vos.utils.configvalues import flatten, parse_bool
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput

DEFAULT_WINDOW = 30   # T, as ReVOS
DEFAULT_EVERY = 30    # L, as ReVOS

_KEYS = {"window": "window", "T": "window", "polish_frames": "window",
         "every": "every", "interval": "every", "L": "every", "polish_every": "every",
         "enabled": "enabled"}
_PAPER_NAMES = ("T", "L")


class FrameView(Sequence):
    """Frames of a video picked by index, still decoded on access."""

    def __init__(self, frames: Sequence[np.ndarray], indices: Sequence[int]) -> None:
        self._frames = frames
        self._indices = list(indices)

    def __len__(self) -> int:
        return len(self._indices)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self._frames[j] for j in self._indices[i]]
        return self._frames[self._indices[i]]


def split_config(config: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(reverse settings, backbone config). Accepts `reverse.window=...` flat or nested."""
    reverse: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    for key, value in (config or {}).items():
        if key == "reverse" and isinstance(value, dict):
            reverse.update(flatten(value, "reverse."))
        elif str(key).startswith("reverse."):
            reverse[key] = value
        elif key in _PAPER_NAMES:   # the paper's T and L, as `--model revos` takes them
            reverse[f"reverse.{key}"] = value
        else:
            rest[key] = value
    settings: dict[str, Any] = {"window": DEFAULT_WINDOW, "every": DEFAULT_EVERY, "enabled": True}
    for key, value in reverse.items():
        name = _KEYS.get(key.split(".", 1)[1])
        if name is None:
            raise BadInputError(f"unknown reverse-pass setting '{key}'",
                                hint="use reverse.window=T, reverse.every=L or reverse.enabled=false")
        settings[name] = _parse(key, name, value)
    return settings, rest


def _parse(key: str, name: str, value: Any) -> Any:
    if name == "enabled":
        try:
            return parse_bool(str(value))
        except ValueError:
            raise BadInputError(f"{key}={value!r} is not true/false",
                                hint=f"pass {key}=true or {key}=false") from None
    try:
        number = int(str(value))
    except ValueError:
        number = 0
    if number < 1:
        raise BadInputError(f"{key}={value!r} must be a positive integer", hint=f"pass e.g. {key}=30")
    return number


def reverse_schedule(num_frames: int, window: int, every: int) -> list[tuple[int, list[int]]]:
    """[(trigger frame t, frames revisited newest first)], the ReVOS loop's order."""
    passes = []
    recent: deque[int] = deque(maxlen=window)
    countdown = every
    for t in range(num_frames):
        countdown -= 1
        if countdown == 0 or (t == num_frames - 1 and recent):
            passes.append((t, list(reversed(recent))))
            countdown = every
        recent.append(t)
    return passes


class ReversePassTracker(Tracker):
    """Base of `wrap(...)`'s classes; `backbone` is set per wrapped tracker."""

    backbone: ClassVar[type[Tracker]]

    @classmethod
    def valid_config_keys(cls) -> list[str] | None:
        inner = cls.backbone.valid_config_keys()
        if inner is None:
            return None
        return [f"reverse.{k}" for k in _KEYS] + list(_PAPER_NAMES) + inner

    def __init__(self, *, device: str = "cpu", weights: Path | None = None,
                 config: dict[str, Any] | None = None, amp: bool = False) -> None:
        super().__init__(device=device, weights=weights, config=config, amp=amp)
        self.settings, backbone_config = split_config(config)
        self.inner = self.backbone(device=device, weights=weights, config=backbone_config, amp=amp)

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        window, every = self.settings["window"], self.settings["every"]
        if not self.settings["enabled"]:
            yield from self.inner.track(video)
            return
        first_given = video.first_frame_of()
        passes = [(t, frames) for t, frames in reverse_schedule(video.num_frames, window, every) if frames]
        triggers = {t for t, _ in passes}
        # The start masks are all we keep: the passes run after the forward run, in schedule
        # order, on the same backbone instance (its per-video state is never interleaved);
        # the final labels are the same as interleaving them, since the last write wins.
        starts: dict[int, np.ndarray] = {}
        for out in self.inner.track(video):
            yield out
            if out.frame in triggers:
                starts[out.frame] = out.label_map()
        for t, frames in passes:
            if t not in starts:
                raise RuntimeError(f"{self.backbone.__name__} never yielded frame {t} of {video.name}")
            yield from self._reverse_pass(video, t, frames, starts[t], first_given)

    def _reverse_pass(self, video: VideoInput, t: int, frames: list[int], start: np.ndarray,
                      first_given: dict[int, int]) -> Iterator[TrackerOutput]:
        if not np.any((start != 0) & (start != 255)):
            return   # nothing left to carry backwards
        order = [t, *frames]
        clip = VideoInput(name=f"{video.name}@reverse{t}", frames=FrameView(video.frames, order),
                          masks={0: start}, object_ids=list(video.object_ids), size=video.size,
                          stems=[video.stems[i] for i in order] if video.stems else [])
        for out in self.inner.track(clip):
            if out.frame == 0:
                continue
            s = order[out.frame]
            yield TrackerOutput(frame=s, labels=self._respect_inputs(out.label_map(), s, video, first_given))

    @staticmethod
    def _respect_inputs(pred: np.ndarray, s: int, video: VideoInput,
                        first_given: dict[int, int]) -> np.ndarray:
        pred = np.array(pred, dtype=np.uint8, copy=True)
        for oid, first in first_given.items():
            if s < first:
                pred[pred == oid] = 0
        given = video.masks.get(s)
        if given is not None:
            if s == min(video.masks):
                pred = np.where(given == 255, 0, given).astype(np.uint8)
            else:
                keep = (given != 0) & (given != 255)
                pred[keep] = given[keep]
        return pred

    def close(self) -> None:
        self.inner.close()


def wrap(backbone_cls: type[Tracker]) -> type[Tracker]:
    """A tracker class that runs `backbone_cls` forward plus ReVOS-style reverse passes."""
    if not (isinstance(backbone_cls, type) and issubclass(backbone_cls, Tracker)):
        raise BadInputError(f"revos:<backbone> needs a tracker class, got {backbone_cls!r}",
                            hint="pass a registered tracker name, e.g. --model revos:flow")
    if issubclass(backbone_cls, ReversePassTracker):
        raise BadInputError(f"'{backbone_cls.name}' already has reverse passes",
                            hint="wrap the plain backbone once, e.g. --model revos:flow")
    caps = backbone_cls.capabilities
    if caps.offline:
        raise BadInputError(
            f"revos:{backbone_cls.name}: the reverse wrapper needs an online backbone, and "
            f"'{backbone_cls.name}' re-emits frames itself",
            hint="wrap an online tracker (e.g. flow, static, cutie-base); `revos` already has its own reverse pass")
    attrs = {
        "backbone": backbone_cls,
        "name": f"revos:{backbone_cls.name}",
        "capabilities": Capabilities(late_objects=caps.late_objects, offline=True,
                                     needs_torch=caps.needs_torch, needs_weights=caps.needs_weights),
        "input_short_side": backbone_cls.input_short_side,
        "weights_name": backbone_cls.weights_name,
        "supports_random_weights": getattr(backbone_cls, "supports_random_weights", False),
        "version": f"{backbone_cls.version}+reverse1",
        "__doc__": f"{backbone_cls.__name__} with ReVOS-style reverse passes.",
    }
    return type(f"Reverse{backbone_cls.__name__}", (ReversePassTracker,), attrs)
