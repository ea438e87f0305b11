"""The tracker interface: what a tracker is given and what it yields.

A tracker only segments. The runner owns everything around it (resizing, id remapping,
palettes, device placement, `torch.inference_mode`, AMP, seeding, timing, atomic output), so a
new tracker is a `track()` generator and nothing else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator, Sequence

import numpy as np


@dataclass(frozen=True)
class Capabilities:
    """What a tracker can do; the runner and `m3vos trackers list` read these."""

    late_objects: bool = False   # accepts masks for new objects after frame 0
    offline: bool = False        # may re-emit earlier frames (last write wins)
    needs_torch: bool = False
    needs_weights: bool = False

    def flags(self) -> list[str]:
        """Names of the capabilities that are set, for tables."""
        return [name for name in ("late_objects", "offline", "needs_torch", "needs_weights")
                if getattr(self, name)]


@dataclass
class VideoInput:
    """One video as a tracker sees it (already resized and with ids remapped to 1..N)."""

    name: str
    frames: Sequence[np.ndarray]   # len T; frames[i] -> H x W x 3 uint8 RGB, decoded on access
    masks: dict[int, np.ndarray]   # frame index -> H x W uint8 id map; frame 0 always; later
                                   # frames hold only the objects that first appear there
    object_ids: list[int]          # contiguous 1..N
    size: tuple[int, int]          # (H, W) of what the tracker is given
    stems: list[str] = field(default_factory=list)   # frame names (for trackers that write files)
    frame_paths: list[Path] | None = None   # the image files behind `frames`, when not resized

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    @property
    def num_objects(self) -> int:
        return len(self.object_ids)

    def first_frame_of(self) -> dict[int, int]:
        """Object id -> index of the first input mask that holds it."""
        first: dict[int, int] = {}
        for t in sorted(self.masks):
            for oid in np.unique(self.masks[t]).tolist():
                if oid != 0 and oid != 255 and oid not in first:
                    first[int(oid)] = t
        return first


@dataclass
class TrackerOutput:
    """One frame's result. Give `labels` or `probs` (or both; `probs` wins when resizing)."""

    frame: int
    labels: np.ndarray | None = None   # H' x W' uint8 ids 0..N
    probs: np.ndarray | None = None    # (N+1) x H' x W' float32, background first

    def label_map(self) -> np.ndarray:
        """The id map, from `labels` or the argmax of `probs`."""
        if self.labels is not None:
            return self.labels
        if self.probs is not None:
            return np.asarray(self.probs).argmax(axis=0).astype(np.uint8)
        raise ValueError(f"tracker output for frame {self.frame} holds neither labels nor probs")


class Tracker(ABC):
    """Base class of every tracker. Subclasses set `name`, `capabilities` and write `track()`."""

    name: ClassVar[str] = "tracker"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Short side the runner resizes frames to before `track()` (None: native size).
    input_short_side: ClassVar[int | None] = None
    #: Key of `m3vos.trackers.weights` table for trackers that need a checkpoint.
    weights_name: ClassVar[str | None] = None
    #: Version of the tracker's code/behaviour; recorded in run.json so a changed tracker
    #: does not silently mix with old results.
    version: ClassVar[str] = "1"
    #: The `--config` keys this tracker reads (dotted for nested ones). None: the tracker does
    #: not declare them and takes any key (plug-ins, external commands).
    config_keys: ClassVar[tuple[str, ...] | None] = None

    def __init__(self, *, device: str = "cpu", weights: Path | None = None,
                 config: dict[str, Any] | None = None, amp: bool = False) -> None:
        type(self).check_config(config)
        self.device = device
        self.weights = Path(weights) if weights is not None else None
        self.config: dict[str, Any] = dict(config or {})
        self.amp = amp

    @classmethod
    def valid_config_keys(cls) -> list[str] | None:
        """The accepted `--config` keys, or None when the tracker takes any key."""
        return None if cls.config_keys is None else list(cls.config_keys)

    @classmethod
    def check_config(cls, config: dict[str, Any] | None) -> None:
        """A typo in `--config` is bad input (exit 2) naming the valid keys, never silently ignored.

        Nested mappings are read as dotted keys (`{"long_term": {"x": 1}}` is `long_term.x`).
        """
        valid = cls.valid_config_keys()
        if valid is None or not config:
            return
        allowed = set(valid)
        unknown = [k for k in _dotted_keys(config) if k not in allowed]
        if unknown:
            from m3vos.errors import BadInputError

            shown = ", ".join(sorted(allowed)) if allowed else "none (this tracker takes no --config)"
            raise BadInputError(f"{cls.name}: unknown config key(s) {', '.join(sorted(unknown))}",
                                hint=f"valid keys: {shown}")

    @abstractmethod
    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        """Yield every frame at least once, in order (offline trackers may re-yield)."""

    def close(self) -> None:
        """Release resources (models, subprocesses). Called by the runner at the end."""


def _dotted_keys(config: dict[str, Any], prefix: str = "") -> list[str]:
    out: list[str] = []
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.extend(_dotted_keys(value, name + "."))
        else:
            out.append(name)
    return out
