"""Per-object attributes that depend on the ground truth only: size, velocity, length, entropy.

The official size and velocity values (`size_each_seq.json`, `v_each_seq.json`) and the code
that made them were never released, so m3vos defines its own (docs/analysis.md):

- size: mean, over the frames where the object is present, of its GT area / frame area;
- velocity: mean, over consecutive annotated frames where the object is present in both, of the
  displacement of its GT centroid divided by the image diagonal and by the frame gap, i.e. in
  image diagonals per frame at the data's 30 fps;
- length: the number of annotated frames of the video;
- entropy (m3vos `lbp` definition): first-half and second-half mean of the per-object LBP
  entropy over evenly sampled frames, and their change.

They are computed once per dataset and cached as JSON under `M3VOS_CACHE/analysis/`, keyed by
the dataset's identity (manifest sha256 when there is one) and each video's mask count and
folder time, so a changed dataset is recomputed rather than read back blindly.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from m3vos.data.masks import VOID_ID, read_mask

ATTRIBUTES_VERSION = 1
#: Frames per video sampled for the `lbp` entropy attribute (evenly spaced; LBP with P = 32 costs
#: about 0.2 s per full 480p frame, so all 200k frames would take hours).
ENTROPY_FRAMES = 16


@dataclass(frozen=True)
class VideoMasks:
    """What the per-video workers need: picklable, unlike the dataset model."""

    name: str
    mask_paths: list[Path]
    object_ids: list[int]

    @classmethod
    def of(cls, video: Any) -> "VideoMasks":
        return cls(video.name, list(video.mask_paths), list(video.object_ids))


def map_videos(fn: Callable[..., Any], items: list[Any], *, workers: int | None = None,
               on_done: Callable[[Any], None] | None = None, **kwargs: Any) -> list[Any]:
    """`[fn(item, **kwargs) for item in items]`, on a process pool when `workers` > 1 (same results)."""
    import functools

    from m3vos.utils.pool import pool_map

    out = []
    for item, res in zip(items, pool_map(functools.partial(fn, **kwargs), items, workers=workers)):
        out.append(res)
        if on_done:
            on_done(item)
    return out

_INT = re.compile(r"\d+")


def _frame_number(stem: str, fallback: int) -> int:
    m = _INT.search(stem)
    return int(m.group()) if m else fallback


def geometry_of_video(video: Any) -> dict[int, dict[str, float]]:
    """Size and velocity of every scored object of `video` (ids 1..N of the first frame)."""
    ids = list(video.object_ids)
    if not ids:
        return {}
    top = max(ids)
    paths = video.mask_paths
    area = np.zeros((len(paths), top + 1))          # fraction of the frame, per frame and id
    cy = np.full((len(paths), top + 1), np.nan)     # centroid, in image diagonals
    cx = np.full((len(paths), top + 1), np.nan)
    rr = cc = None
    for t, p in enumerate(paths):
        m = read_mask(p)
        if rr is None or rr.size != m.size:         # (a video whose size changes is verify's problem)
            diag = math.hypot(*m.shape)
            rr, cc = np.divmod(np.arange(m.size, dtype=np.float64), m.shape[1])
        flat = m.ravel().astype(np.int64)
        flat = np.where((flat == VOID_ID) | (flat > top), 0, flat)
        counts = np.bincount(flat, minlength=top + 1)[: top + 1]
        sy = np.bincount(flat, weights=rr, minlength=top + 1)[: top + 1]
        sx = np.bincount(flat, weights=cc, minlength=top + 1)[: top + 1]
        area[t] = counts / m.size
        with np.errstate(invalid="ignore", divide="ignore"):
            cy[t] = np.where(counts > 0, sy / np.maximum(counts, 1) / diag, np.nan)
            cx[t] = np.where(counts > 0, sx / np.maximum(counts, 1) / diag, np.nan)
    numbers = np.array([_frame_number(p.stem, i) for i, p in enumerate(paths)], dtype=float)
    out: dict[int, dict[str, float]] = {}
    for k in ids:
        present = area[:, k] > 0
        size = float(area[present, k].mean()) if present.any() else math.nan
        both = present[1:] & present[:-1]
        if both.any():
            gap = np.maximum(np.diff(numbers), 1.0)
            step = np.hypot(np.diff(cy[:, k]), np.diff(cx[:, k])) / gap
            velocity = float(step[both].mean())
        else:
            velocity = math.nan
        out[k] = {"size": size, "velocity": velocity,
                  "present_frac": float(present.mean()) if len(paths) else math.nan}
    return out


def entropy_of_video(video: Any, *, max_frames: int = ENTROPY_FRAMES) -> dict[int, dict[str, Any]]:
    """m3vos `lbp` entropy per object: sampled curve, half means and change."""
    from m3vos.analysis.entropy import object_lbp_curves, sample_indices, split_halves

    paths = video.mask_paths
    curves = object_lbp_curves(paths, video.object_ids, sample_indices(len(paths), max_frames))
    n = max(len(paths) - 1, 1)
    out: dict[int, dict[str, Any]] = {}
    for k, pts in curves.items():
        h = split_halves([i for i, _ in pts], [e for _, e in pts])
        out[k] = {"entropy_first": h.first_half, "entropy_second": h.second_half,
                  "entropy_change": h.change,
                  "entropy_curve": [[round(f / n, 4), round(v, 4)] for f, v in zip(h.frames, h.values)]}
    return out


_KINDS: dict[str, Callable[..., dict[int, dict[str, Any]]]] = {
    "geometry": geometry_of_video,
    "entropy": entropy_of_video,
}


def dataset_fingerprint(dataset: Any) -> dict[str, Any]:
    """What the cache key is made of: the dataset identity plus each video's mask count and mtime."""
    ident = dict(dataset.identity())
    videos = []
    for v in dataset:
        folder = v.annotations_dir
        try:
            mtime = folder.stat().st_mtime_ns
        except OSError:
            mtime = 0
        videos.append([v.name, len(v.mask_paths), mtime])
    ident.pop("notes", None)
    return {"identity": ident, "videos": videos}


def _cache_file(dataset: Any, kind: str, extra: dict[str, Any]) -> Path:
    from m3vos.utils.cache import cache_dir

    blob = json.dumps({"v": ATTRIBUTES_VERSION, "kind": kind, "extra": extra,
                       "data": dataset_fingerprint(dataset)}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:24]
    return cache_dir() / "analysis" / f"gt-{kind}-{digest}.json"


def _attributes_of(vm: VideoMasks, *, kind: str, **kwargs: Any) -> dict[str, dict[str, Any]]:
    n_masks = len(vm.mask_paths)
    return {str(k): {**attrs, "length": n_masks} for k, attrs in _KINDS[kind](vm, **kwargs).items()}


def gt_attributes(dataset: Any, kinds: tuple[str, ...] = ("geometry",), *, videos: list[str] | None = None,
                  entropy_frames: int = ENTROPY_FRAMES, use_cache: bool = True,
                  progress: bool | None = None, workers: int | None = None) -> dict[str, dict[str, Any]]:
    """`<video>_<id>` -> attributes (plus `length`) for the objects of `videos` (default: all).

    The cache holds one entry per video, so scoring a subset fills it bit by bit and a later
    full run only computes what is missing.
    """
    from m3vos.utils.atomic import atomic_write_json
    from m3vos.utils.progress import make_progress

    names = list(videos) if videos is not None else list(dataset.video_names)
    merged: dict[str, dict[str, Any]] = {}
    for kind in kinds:
        extra = {"entropy_frames": entropy_frames} if kind == "entropy" else {}
        kwargs = {"max_frames": entropy_frames} if kind == "entropy" else {}
        cache = _cache_file(dataset, kind, extra) if use_cache else None
        per_video: dict[str, dict[str, dict[str, Any]]] = {}
        if cache is not None and cache.is_file():
            try:
                loaded = json.loads(cache.read_text(encoding="utf-8"))["videos"]
                if isinstance(loaded, dict):
                    per_video = loaded
            except (OSError, ValueError, KeyError, TypeError):
                per_video = {}          # a damaged cache is recomputed, never trusted
        missing = [n for n in names if n not in per_video]
        if missing:
            items = [VideoMasks.of(dataset.video(n)) for n in missing]
            with make_progress(enabled=progress, transient=True) as bar:
                task = bar.add_task(f"GT {kind}", total=len(missing), status="")
                done = map_videos(_attributes_of, items, workers=workers, kind=kind,
                                  on_done=lambda vm: bar.update(task, advance=1, status=vm.name), **kwargs)
            for vm, attrs in zip(items, done):
                per_video[vm.name] = attrs
            if cache is not None:
                atomic_write_json(cache, {"schema": "m3vos-gt-attributes/1", "kind": kind,
                                          "videos": per_video}, indent=None)
        for name in names:
            for k, attrs in per_video.get(name, {}).items():
                merged.setdefault(f"{name}_{k}", {}).update(attrs)
    return merged
