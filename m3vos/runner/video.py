"""Turning a dataset video into what a tracker sees, and its outputs back into GT-shaped ids.

The runner, not the tracker, owns this so that every tracker is fed and judged the same way:
- ids are remapped to contiguous 1..N (void 255 becomes background) and mapped back on output;
- frames whose short side exceeds the tracker's `input_short_side` are shrunk (frames with
  Pillow's antialiased bilinear filter, masks nearest), the short side becoming exactly that
  value and the long side truncated, as in the official Cutie/ReVOS loader;
- outputs of another size are resized back: `probs` bilinearly (align_corners=False) then
  argmax, `labels` nearest.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image

from m3vos.data.masks import DAVIS_PALETTE, VOID_ID, read_mask, read_palette
from m3vos.errors import BadInputError, M3vosError
from m3vos.trackers.base import Tracker, TrackerOutput, VideoInput


class ContractError(M3vosError):
    """A tracker broke the interface (skipped frames, wrong shapes, unknown ids)."""

    exit_code = 1


@dataclass
class VideoSource:
    """One video to run: frames (files or arrays), its first GT mask, and where outputs go."""

    name: str
    stems: list[str]                          # output file stems, one per tracked frame
    first_mask: np.ndarray                    # GT ids of the first tracked frame, H x W
    size: tuple[int, int]                     # (H, W) of GT and outputs
    palette: bytes = DAVIS_PALETTE
    frame_paths: list[Path] | None = None
    frame_arrays: Sequence[np.ndarray] | None = None
    late_masks: dict[int, np.ndarray] = field(default_factory=dict)  # frame -> GT ids of new objects only

    @property
    def num_frames(self) -> int:
        return len(self.stems)

    @classmethod
    def from_video(cls, video: Any, *, late_objects: bool = False) -> "VideoSource":
        """From an `m3vos.data.dataset.Video`: tracking starts at the first annotated frame."""
        mask_paths = list(video.mask_paths)
        frame_paths = list(video.frame_paths)
        if not mask_paths:
            raise BadInputError(f"video {video.name!r} has no annotation PNGs", path=video.annotations_dir,
                                hint="the first frame must be annotated; re-download the dataset")
        if not frame_paths:
            raise BadInputError(f"video {video.name!r} has no frames (JPEGImages) to track",
                                path=getattr(video, "images_dir", None),
                                hint="download the full dataset with frames; score-only roots cannot be run")
        frame_stems = [p.stem for p in frame_paths]
        first_stem = mask_paths[0].stem
        try:
            start = frame_stems.index(first_stem)
        except ValueError:
            raise BadInputError(f"the first annotated frame {first_stem} has no image",
                                path=mask_paths[0], hint="re-download this video's frames") from None
        first = read_mask(mask_paths[0])
        with Image.open(frame_paths[start]) as im:
            fw, fh = im.size
        if (fh, fw) != first.shape:
            raise BadInputError(f"frame is {fw}x{fh} but the first mask is {first.shape[1]}x{first.shape[0]}",
                                path=frame_paths[start], hint="frames and masks must have the same size")
        src = cls(name=video.name, stems=frame_stems[start:], first_mask=first, size=first.shape,
                  palette=read_palette(mask_paths[0]) or DAVIS_PALETTE, frame_paths=frame_paths[start:])
        if late_objects:
            src.late_masks = _late_masks(mask_paths[1:], src.stems, first)
        return src


def _late_masks(mask_paths: list[Path], stems: list[str], first: np.ndarray) -> dict[int, np.ndarray]:
    """For every frame where an object is first seen after frame 0, a mask of only those objects."""
    index = {s: i for i, s in enumerate(stems)}
    seen = set(np.unique(first).tolist()) | {0, VOID_ID}
    out: dict[int, np.ndarray] = {}
    for p in mask_paths:
        t = index.get(p.stem)
        if t is None:
            continue
        m = read_mask(p)
        new = [int(i) for i in np.unique(m).tolist() if i not in seen]
        if new:
            out[t] = np.where(np.isin(m, new), m, 0).astype(np.uint8)
            seen.update(new)
    return out


@dataclass
class IdMap:
    """Dataset ids <-> contiguous tracker ids 1..N (first-frame objects first, then late ones)."""

    dataset_ids: list[int]

    @classmethod
    def for_source(cls, src: VideoSource) -> "IdMap":
        ids = [int(i) for i in np.unique(src.first_mask).tolist() if i not in (0, VOID_ID)]
        for t in sorted(src.late_masks):
            ids += [int(i) for i in np.unique(src.late_masks[t]).tolist() if i not in (0, VOID_ID) and i not in ids]
        return cls(ids)

    @property
    def n(self) -> int:
        return len(self.dataset_ids)

    def to_tracker(self, mask: np.ndarray) -> np.ndarray:
        lut = np.zeros(256, dtype=np.uint8)
        for k, i in enumerate(self.dataset_ids, start=1):
            lut[i] = k
        return lut[mask]

    def to_dataset(self, ids: np.ndarray) -> np.ndarray:
        """A new array of dataset ids (a copy: the caller may write it in another thread)."""
        if self.dataset_ids == list(range(1, self.n + 1)):  # the usual case: ids 1..N already
            return np.array(ids, dtype=np.uint8)
        lut = np.zeros(256, dtype=np.uint8)
        lut[1:self.n + 1] = self.dataset_ids
        return lut[ids]


def scaled_size(size: tuple[int, int], short_side: int | None) -> tuple[int, int]:
    """(H, W) after shrinking the short side to `short_side` (never enlarges)."""
    h, w = size
    if not short_side or min(h, w) <= short_side:
        return h, w
    if h <= w:
        return short_side, int(short_side * w / h)
    return int(short_side * h / w), short_side


class FrameSequence(Sequence):
    """Frames decoded (and resized) on access, with a small cache for offline re-reads.

    Reading frame i starts decoding frame i+1 in a background thread (Pillow releases the GIL
    while decoding), so a tracker that reads in order rarely waits for JPEG decoding. Several
    threads may read at once (a tracker's loader threads): the bookkeeping is locked, the
    decoding is not.
    """

    def __init__(self, src: VideoSource, size: tuple[int, int], cache: int = 4, prefetch: bool = True) -> None:
        import threading

        self.src = src
        self.size = size
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache
        self._prefetch = prefetch
        self._pool: Any = None
        self._pending: dict[int, Any] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._pending.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _schedule(self, index: int) -> None:
        if not self._prefetch or index >= len(self) or index in self._cache or index in self._pending:
            return
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="m3vos-frames")
        self._pending[index] = self._pool.submit(self._load, index)

    def __len__(self) -> int:
        return self.src.num_frames

    def __getitem__(self, index: int) -> np.ndarray:  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]  # type: ignore[return-value]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        with self._lock:
            hit = self._cache.get(index)
            if hit is not None:
                self._cache.move_to_end(index)
                return hit
            pending = self._pending.pop(index, None)
        frame = pending.result() if pending is not None else self._load(index)
        with self._lock:
            self._cache[index] = frame
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
            self._schedule(index + 1)
        return frame

    def _load(self, index: int) -> np.ndarray:
        if self.src.frame_arrays is not None:
            im = Image.fromarray(np.asarray(self.src.frame_arrays[index], dtype=np.uint8))
        else:
            path = self.src.frame_paths[index]  # type: ignore[index]
            try:
                with Image.open(path) as f:
                    f.load()  # an RGB JPEG is used as decoded (convert("RGB") would copy it)
                    im = f if f.mode == "RGB" else f.convert("RGB")
            except (OSError, ValueError) as exc:
                raise BadInputError(f"unreadable frame ({exc.__class__.__name__})", path=path,
                                    hint="re-download this file") from None
        if (im.height, im.width) != self.src.size:
            raise BadInputError(f"frame {self.src.stems[index]} is {im.width}x{im.height}, "
                                f"expected {self.src.size[1]}x{self.src.size[0]}",
                                path=self.src.frame_paths[index] if self.src.frame_paths else None,
                                hint="all frames of a video must have the mask's size")
        if (im.height, im.width) != self.size:
            im = im.resize((self.size[1], self.size[0]), Image.BILINEAR)
        return np.array(im)  # writable (torch.from_numpy warns on read-only arrays), and a copy per read


def make_input(src: VideoSource, tracker_cls: type[Tracker], ids: IdMap) -> VideoInput:
    """The `VideoInput` a tracker is given (resized, ids remapped)."""
    size = scaled_size(src.size, getattr(tracker_cls, "input_short_side", None))

    def prep(mask: np.ndarray) -> np.ndarray:
        m = ids.to_tracker(mask)
        if m.shape != size:
            m = np.asarray(Image.fromarray(m).resize((size[1], size[0]), Image.NEAREST))
        return m

    masks = {0: prep(src.first_mask)}
    if tracker_cls.capabilities.late_objects:
        for t, m in src.late_masks.items():
            masks[t] = prep(m)
    return VideoInput(name=src.name, frames=FrameSequence(src, size), masks=masks,
                      object_ids=list(range(1, ids.n + 1)), size=size, stems=list(src.stems),
                      frame_paths=list(src.frame_paths) if src.frame_paths and size == src.size else None)


def restore_output(out: TrackerOutput, *, n: int, size: tuple[int, int], num_frames: int) -> np.ndarray:
    """A tracker's output as an H x W tracker-id map of the GT size; contract errors are raised."""
    if not isinstance(out, TrackerOutput):
        raise ContractError(f"track() yielded a {type(out).__name__}, expected TrackerOutput")
    if not 0 <= int(out.frame) < num_frames:
        raise ContractError(f"tracker yielded frame {out.frame}, the video has frames 0..{num_frames - 1}")
    if out.probs is not None:
        probs = np.asarray(out.probs, dtype=np.float32)
        if probs.ndim != 3 or probs.shape[0] != n + 1:
            raise ContractError(f"frame {out.frame}: probs have shape {probs.shape}, expected ({n + 1}, H, W) "
                                f"(background first, {n} objects)")
        if probs.shape[1:] != size:
            probs = _resize_probs(probs, size)
        labels = probs.argmax(axis=0).astype(np.uint8)
    elif out.labels is not None:
        labels = np.asarray(out.labels)
        if labels.ndim != 2:
            raise ContractError(f"frame {out.frame}: labels have shape {labels.shape}, expected H x W")
        if labels.dtype != np.uint8:
            if labels.size and (labels.min() < 0 or labels.max() > 255):
                raise ContractError(f"frame {out.frame}: label values outside 0..255")
            labels = labels.astype(np.uint8)
        if labels.shape != size:
            labels = np.asarray(Image.fromarray(labels).resize((size[1], size[0]), Image.NEAREST))
    else:
        raise ContractError(f"frame {out.frame}: output holds neither labels nor probs")
    top = int(labels.max()) if labels.size else 0
    if top > n:
        raise ContractError(f"frame {out.frame}: tracker produced id {top} but the video has {n} object(s)")
    return labels


def _resize_probs(probs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, align_corners=False; torch's kernel when torch is already loaded (model
    trackers, matching the official Cutie eval bit for bit), OpenCV's otherwise."""
    if "torch" in sys.modules:
        import torch
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(probs))[None]
        return F.interpolate(t, size=size, mode="bilinear", align_corners=False)[0].numpy()
    import cv2

    return np.stack([cv2.resize(c, (size[1], size[0]), interpolation=cv2.INTER_LINEAR) for c in probs])


class OrderCheck:
    """Checks the yield order: every frame once in order, re-yields only from offline trackers."""

    def __init__(self, num_frames: int, offline: bool) -> None:
        self.num_frames = num_frames
        self.offline = offline
        self.next_new = 0

    def see(self, frame: int) -> None:
        if frame == self.next_new:
            self.next_new += 1
        elif frame > self.next_new:
            raise ContractError(f"tracker yielded frame {frame} before frame {self.next_new}")
        elif not self.offline:
            raise ContractError(f"tracker re-yielded frame {frame} but does not declare offline=True")

    def finish(self) -> None:
        if self.next_new != self.num_frames:
            raise ContractError(f"tracker yielded {self.next_new} of {self.num_frames} frames")
