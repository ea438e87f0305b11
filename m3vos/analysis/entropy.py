"""Shape entropy of ground-truth masks from local binary patterns (LBP).

Two definitions, never mixed:

- `official`: the paper's h_LBP, reproduced literally from the official
  `scripts/get_dataset_entropy.py`: the palette PNG is converted to luminance, every non-zero
  grey value becomes a 0/1 mask, uniform LBP (P = 32, R = 4), a 35-bin *density* histogram over
  the codes' own range, and `skimage.measure.shannon_entropy` of that histogram *array*. That last
  step measures how often each distinct density value repeats, not the spread of LBP codes, so the
  statistic is not monotone in shape disorder (a noise mask can score below a disc). Kept only to
  reproduce the paper's numbers.
- `lbp` (m3vos, non-official): per object, the Shannon entropy (bits) of the normalised histogram
  of uniform LBP codes with one bin per code (0..P+1), counted over the object's own pixels
  (pixels within R of void excluded). A compact shape puts most pixels in the interior code P;
  as it breaks into pieces, thins or frays, more pixels sit near an edge and the codes spread, so
  the entropy rises. It is scale-dependent at fixed R = 4 px (a small disc scores above a large
  one) and structures thinner than R collapse into few codes again: see docs/analysis.md.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from m3vos.data.masks import VOID_ID

RADIUS = 4
POINTS = 8 * RADIUS
OFFICIAL_BINS = POINTS + 3        # 35, as the official script
LBP_CODES = POINTS + 2            # uniform codes 0..P+1

_FIRST_INT = re.compile(r"\d+")


def _lbp(binary: np.ndarray) -> np.ndarray:
    from skimage.feature import local_binary_pattern

    return local_binary_pattern(binary, P=POINTS, R=RADIUS, method="uniform")


# --------------------------------------------------------------------------------------------
# official h_LBP
# --------------------------------------------------------------------------------------------

def official_mask_entropy(gray: np.ndarray) -> float:
    """Official per-frame value: mean over non-zero grey values of shannon_entropy(hist); NaN if none."""
    from skimage.measure import shannon_entropy

    values = []
    for g in np.unique(gray):
        if not g:
            continue
        lbp = _lbp((gray == g).astype(np.uint8))
        hist, _ = np.histogram(lbp.ravel(), bins=OFFICIAL_BINS, density=True)
        values.append(shannon_entropy(hist))
    return float(np.mean(values)) if values else math.nan


def official_png_entropy(path: str | Path) -> float:
    """`official_mask_entropy` of a mask PNG opened as the official script does (PIL `convert('L')`)."""
    from PIL import Image

    from m3vos.errors import BadInputError

    try:
        with Image.open(path) as im:
            gray = np.asarray(im.convert("L"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"unreadable mask ({exc.__class__.__name__})", path=path,
                            hint="re-download this file") from None
    return official_mask_entropy(gray)


@dataclass
class HalfEntropy:
    """One video's (or object's) entropy curve and its two half means."""

    frames: list[int]           # frame numbers (official: the first integer of the file name)
    values: list[float]         # entropy per kept frame
    first_half: float
    second_half: float

    @property
    def change(self) -> float:
        return self.second_half - self.first_half


def _nanless_mean(xs: Sequence[float]) -> float:
    return float(np.mean(xs)) if len(xs) else math.nan


def split_halves(frames: list[int], values: list[float]) -> HalfEntropy:
    """Official split: sort by frame number, midpoint = n // 2, mean of each side (NaN when empty)."""
    order = sorted(range(len(frames)), key=lambda i: frames[i])
    fs = [frames[i] for i in order]
    vs = [values[i] for i in order]
    mid = len(vs) // 2
    return HalfEntropy(fs, vs, _nanless_mean(vs[:mid]), _nanless_mean(vs[mid:]))


def official_video_entropy(mask_paths: Iterable[Path], *, frame_filter=None) -> HalfEntropy:
    """The official `get_entropy_for_dir` on one video's mask PNGs.

    Files are taken in sorted-name order (the official script used `os.listdir` order, which is
    arbitrary; it only matters for its guard, which tests the *last listed* frame number > 1).
    Frames whose value is NaN (no object) are dropped before the halves are split. A frame number
    seen twice keeps the later file, as the official dict does. `frame_filter(i, n)`, when given,
    keeps only some files (m3vos's `--max-frames`; not part of the official procedure).
    """
    paths = [Path(p) for p in mask_paths if str(p).endswith(".png")]
    paths.sort(key=lambda p: p.name)
    by_num: dict[int, float] = {}
    last_num = 0
    for i, p in enumerate(paths):
        m = _FIRST_INT.search(p.name)
        if not m:
            continue
        last_num = int(m.group())
        if frame_filter is not None and not frame_filter(i, len(paths)):
            continue
        e = official_png_entropy(p)
        if not math.isnan(e):
            by_num[last_num] = e
    if last_num <= 1:
        return HalfEntropy(list(by_num), list(by_num.values()), math.nan, math.nan)
    return split_halves(list(by_num), list(by_num.values()))


def official_dataset_entropy(per_video: Iterable[HalfEntropy]) -> tuple[float, float]:
    """Official dataset value: mean over videos of each half, NaN videos dropped per half separately."""
    firsts, seconds = [], []
    for h in per_video:
        if not math.isnan(h.first_half):
            firsts.append(h.first_half)
        if not math.isnan(h.second_half):
            seconds.append(h.second_half)
    return _nanless_mean(firsts), _nanless_mean(seconds)


# --------------------------------------------------------------------------------------------
# m3vos per-object LBP entropy (non-official)
# --------------------------------------------------------------------------------------------

def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y) <= radius * radius


_DISK = _disk(RADIUS)


def object_lbp_entropy(ids: np.ndarray, obj_id: int) -> float:
    """m3vos `lbp` entropy (bits) of object `obj_id` in one id map; NaN when the object is absent.

    Computed on a crop around the object padded by R + 1 pixels: LBP treats pixels outside the
    image as 0, so the crop gives exactly the codes of the full frame, at a fraction of the cost.
    """
    from scipy.ndimage import binary_dilation

    mask = ids == obj_id
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return math.nan
    cols = np.flatnonzero(mask.any(axis=0))
    pad = RADIUS + 1
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, ids.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, ids.shape[1])
    crop = np.zeros((r1 - r0 + 2 * pad, c1 - c0 + 2 * pad), dtype=bool)
    crop[pad:-pad, pad:-pad] = mask[r0:r1, c0:c1]
    void = np.zeros_like(crop)
    void[pad:-pad, pad:-pad] = ids[r0:r1, c0:c1] == VOID_ID
    # Zero padding beyond the image border equals skimage's constant-0 border, so codes match.
    codes = _lbp(crop.astype(np.uint8))
    # Background pixels always get code P (every neighbour >= 0 passes the test), so the shape is
    # in the object's own pixels: interior ones get P too, edge ones spread over the other codes.
    band = crop & ~binary_dilation(void, _DISK)    # codes next to void are not trustworthy
    if not band.any():
        return math.nan
    counts = np.bincount(codes[band].astype(np.int64), minlength=LBP_CODES)[:LBP_CODES]
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def sample_indices(n: int, max_frames: int | None) -> list[int]:
    """Evenly spaced frame indices, at most `max_frames` (all when None or 0), first and last kept."""
    if not max_frames or n <= max_frames:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, max_frames)})
