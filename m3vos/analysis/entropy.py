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
from contextlib import contextmanager
from typing import Iterable, Iterator, Sequence

import numpy as np

from m3vos.data.masks import VOID_ID

RADIUS = 4
POINTS = 8 * RADIUS
OFFICIAL_BINS = POINTS + 3        # 35, as the official script
LBP_CODES = POINTS + 2            # uniform codes 0..P+1

_FIRST_INT = re.compile(r"\d+")


def _sampling_corners() -> list[list[tuple[int, int]]]:
    """Per LBP sample point, the pixel offsets skimage's bilinear interpolation reads.

    skimage places point i at (-R sin(2 pi i / P), R cos(2 pi i / P)) rounded to 5 decimals and
    interpolates between the floor and ceil pixels of each coordinate (outside the image: 0).
    """
    angles = 2 * np.pi * np.arange(POINTS, dtype=np.float64) / POINTS
    rp = np.round(-RADIUS * np.sin(angles), 5)
    cp = np.round(RADIUS * np.cos(angles), 5)
    out = []
    for r, c in zip(rp, cp):
        ys = sorted({math.floor(r), math.ceil(r)})
        xs = sorted({math.floor(c), math.ceil(c)})
        out.append([(y, x) for y in ys for x in xs])
    return out


_CORNERS = _sampling_corners()
#: The ring of pixels any sample point reads (a 56-pixel ring of radius ~4 around the centre).
_RING = np.zeros((2 * RADIUS + 1, 2 * RADIUS + 1), np.uint8)
for _cs in _CORNERS:
    for _y, _x in _cs:
        _RING[_y + RADIUS, _x + RADIUS] = 1


def _sample_sources() -> list[tuple[int, int, int]]:
    """Per sample point: (plane, dy, dx). The point reads 1 pixel (plane 0, the mask itself),
    2 side by side (plane 1: mask AND its right neighbour), 2 stacked (plane 2: AND the one
    below) or a 2 x 2 block (plane 3: AND of the block), whose top-left is at (dy, dx)."""
    out = []
    for cs in _CORNERS:
        ys, xs = sorted({y for y, _ in cs}), sorted({x for _, x in cs})
        plane = (len(xs) == 2) + 2 * (len(ys) == 2)
        out.append((plane, ys[0], xs[0]))
    return out


_SOURCES = _sample_sources()


def lbp_code_counts(binary: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Counts of the uniform LBP codes 0..P+1 (P = 32, R = 4) of a binary mask, over the pixels of
    `where` (all pixels when None): exactly what `local_binary_pattern(binary, P, R, "uniform")`
    gives, without evaluating it at every pixel.

    On a 0/1 image skimage's codes are combinatorial: a sample interpolated between pixels that
    are all 1 is exactly 1.0 (fl(fl(1 - d) + d) = 1 for any d in [0, 1)), one touching a 0 pixel
    or the outside of the image (read as 0) is below 1. So a 0 pixel always gets code P (every
    sample is >= 0), a 1 pixel whose ring of sampled pixels is all 1 gets code P too, and only
    the 1 pixels that see a 0 or the border in their ring (found by one erosion) are computed, by
    ANDing the pixels each sample reads. Bit-identical to skimage (tests/test_entropy_fast.py).
    """
    import cv2

    b = np.asarray(binary)
    b = b if b.dtype == bool else b != 0
    if b.ndim != 2:
        raise ValueError(f"mask must be 2-D, got shape {b.shape}")
    sel = None if where is None else np.asarray(where, dtype=bool)
    total = b.size if sel is None else int(np.count_nonzero(sel))
    counts = np.zeros(LBP_CODES, dtype=np.int64)
    c0, r0, w, h = cv2.boundingRect(b.view(np.uint8))
    if w == 0:
        counts[POINTS] = total
        return counts
    r1, c1 = r0 + h, c0 + w
    # The object's box padded by R zeros: the padding stands for background or for the outside
    # of the image, both read as 0, so the codes are those of the full frame.
    hp, wp = h + 2 * RADIUS, w + 2 * RADIUS
    planes = np.zeros((4, hp, wp), np.uint8)
    pad = planes[0]
    pad[RADIUS:RADIUS + h, RADIUS:RADIUS + w] = b[r0:r1, c0:c1]
    inner = cv2.erode(pad, _RING, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    edge = pad > inner                      # 1 pixels whose ring touches a 0
    if sel is not None:
        edge[RADIUS:RADIUS + h, RADIUS:RADIUS + w] &= sel[r0:r1, c0:c1]
    idx = np.flatnonzero(edge)
    # The pixels a sample reads are ANDed once per plane, then each sample is one lookup.
    np.bitwise_and(pad[:, :-1], pad[:, 1:], out=planes[1][:, :-1])
    np.bitwise_and(pad[:-1], pad[1:], out=planes[2][:-1])
    np.bitwise_and(planes[1][:-1], planes[1][1:], out=planes[3][:-1])
    plane_size = hp * wp
    starts = np.array([k * plane_size + dy * wp + dx for k, dy, dx in _SOURCES], dtype=np.intp)
    bits = planes.ravel()[starts[:, None] + idx[None, :]]        # 32 x n sample bits
    changes = (bits[1:] ^ bits[:-1]).sum(axis=0, dtype=np.uint8)   # skimage: no wrap-around pair
    ones = bits.sum(axis=0, dtype=np.uint8)
    codes = np.where(changes <= 2, ones, POINTS + 1)
    counts += np.bincount(codes, minlength=LBP_CODES)
    counts[POINTS] += total - idx.size
    return counts


def lbp_code_counts_skimage(binary: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """The reference for `lbp_code_counts`: skimage's LBP at every pixel, then counted."""
    from skimage.feature import local_binary_pattern

    codes = local_binary_pattern(np.asarray(binary, dtype=np.uint8), P=POINTS, R=RADIUS, method="uniform")
    if where is not None:
        codes = codes[np.asarray(where, dtype=bool)]
    return np.bincount(codes.ravel().astype(np.int64), minlength=LBP_CODES)


#: Which implementation the entropy functions use; `lbp_backend("skimage")` switches to the
#: reference for a benchmark or a cross-check (in this process only).
_COUNTS = {"fast": lbp_code_counts, "skimage": lbp_code_counts_skimage}
_backend = "fast"


@contextmanager
def lbp_backend(name: str) -> Iterator[None]:
    """Run the entropy functions on `name` ("fast" or "skimage") inside the block."""
    global _backend
    if name not in _COUNTS:
        raise ValueError(f"unknown LBP backend {name!r}")
    old, _backend = _backend, name
    try:
        yield
    finally:
        _backend = old


def _code_counts(binary: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    return _COUNTS[_backend](binary, where)


def official_histogram(binary: np.ndarray) -> np.ndarray:
    """The official `np.histogram(lbp.ravel(), bins=35, density=True)[0]` of a binary mask.

    Each code present is passed once with its count as an integer weight: np.histogram then
    takes the same range (the codes' min and max), puts each code in the same bin and sums the
    same integers, so the densities are bit-identical to the per-pixel call.
    """
    if _backend == "skimage":                    # the literal official call, for reference
        from skimage.feature import local_binary_pattern

        lbp = local_binary_pattern(np.asarray(binary, dtype=np.uint8), P=POINTS, R=RADIUS, method="uniform")
        return np.histogram(lbp.ravel(), bins=OFFICIAL_BINS, density=True)[0]
    counts = _code_counts(binary)
    present = np.flatnonzero(counts)
    hist, _ = np.histogram(present.astype(np.float64), bins=OFFICIAL_BINS, weights=counts[present],
                           density=True)
    return hist


# --------------------------------------------------------------------------------------------
# official h_LBP
# --------------------------------------------------------------------------------------------

def official_grey_entropies(gray: np.ndarray) -> dict[int, float]:
    """Official per-object values of one frame: grey value -> shannon_entropy(35-bin LBP density)."""
    from skimage.measure import shannon_entropy

    return {int(g): float(shannon_entropy(official_histogram(gray == g))) for g in np.unique(gray) if g}


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


def official_video_curves(mask_paths: Iterable[Path], *, frame_filter=None
                          ) -> tuple[HalfEntropy, dict[int, list[tuple[int, float]]]]:
    """The official `get_entropy_for_dir` on one video's mask PNGs, plus per-object curves.

    Files are taken in sorted-name order (the official script used `os.listdir` order, which is
    arbitrary; it only matters for its guard, which tests the *last listed* frame number > 1).
    Frames whose value is NaN (no object) are dropped before the halves are split. A frame number
    seen twice keeps the later file, as the official dict does. `frame_filter(i, n)`, when given,
    keeps only some files (m3vos's `--max-frames`; not part of the official procedure).
    The curves map each object id to (file index, value of the grey level that id carries), read
    off the same per-grey values (the id of a grey level is that of its first pixel; void and
    colliding ids are left out).
    """
    from m3vos.data.masks import read_mask_gray

    paths = [Path(p) for p in mask_paths if str(p).endswith(".png")]
    paths.sort(key=lambda p: p.name)
    by_num: dict[int, float] = {}
    curves: dict[int, list[tuple[int, float]]] = {}
    last_num = 0
    for i, p in enumerate(paths):
        m = _FIRST_INT.search(p.name)
        if not m:
            continue
        last_num = int(m.group())
        if frame_filter is not None and not frame_filter(i, len(paths)):
            continue
        ids, gray = read_mask_gray(p)
        values = official_grey_entropies(gray)
        for g, e in values.items():
            k = int(ids[gray == g].flat[0])
            if k not in (0, VOID_ID):
                curves.setdefault(k, []).append((i, e))
        if values:
            by_num[last_num] = float(np.mean(list(values.values())))
    if last_num <= 1:
        return HalfEntropy(list(by_num), list(by_num.values()), math.nan, math.nan), curves
    return split_halves(list(by_num), list(by_num.values())), curves


# --------------------------------------------------------------------------------------------
# m3vos per-object LBP entropy (non-official)
# --------------------------------------------------------------------------------------------

def _disk(radius: int) -> np.ndarray:
    y, x = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    return (x * x + y * y) <= radius * radius


_DISK = _disk(RADIUS)
_DISK_U8 = _DISK.astype(np.uint8)


def object_lbp_entropy(ids: np.ndarray, obj_id: int) -> float:
    """m3vos `lbp` entropy (bits) of object `obj_id` in one id map; NaN when the object is absent.

    Computed on the window around the object grown by R + 1 pixels: LBP treats pixels outside
    the image as 0, like the background outside the window, so the window gives exactly the
    codes of the full frame, and any void within R of the object lies inside it.
    """
    import cv2

    mask = ids == obj_id
    x, y, w, h = cv2.boundingRect(mask.view(np.uint8))
    if w == 0:
        return math.nan
    pad = RADIUS + 1
    r0, r1 = max(y - pad, 0), min(y + h + pad, ids.shape[0])
    c0, c1 = max(x - pad, 0), min(x + w + pad, ids.shape[1])
    win = mask[r0:r1, c0:c1]
    # Background pixels always get code P (every neighbour >= 0 passes the test), so the shape is
    # in the object's own pixels: interior ones get P too, edge ones spread over the other codes.
    void = ids[r0:r1, c0:c1] == VOID_ID
    if void.any():
        band = win & ~cv2.dilate(void.view(np.uint8), _DISK_U8).astype(bool)   # codes next to void are not trustworthy
        if not band.any():
            return math.nan
        counts = _code_counts(win, band)
    else:
        counts = _code_counts(win)
        counts[POINTS] -= win.size - int(np.count_nonzero(win))   # the background's codes (all P)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def sample_indices(n: int, max_frames: int | None) -> list[int]:
    """Evenly spaced frame indices, at most `max_frames` (all when None or 0), first and last kept."""
    if not max_frames or n <= max_frames:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, max_frames)})


def object_lbp_curves(mask_paths: Sequence[Path], object_ids: Iterable[int], picks: Iterable[int] | None = None
                      ) -> dict[int, list[tuple[int, float]]]:
    """Each object's m3vos `lbp` entropy curve: (frame index, value) for the frames in `picks`
    (default: all) where the object is present, in frame order."""
    from m3vos.data.masks import read_mask

    curves: dict[int, list[tuple[int, float]]] = {int(k): [] for k in object_ids}
    for i in sorted(set(range(len(mask_paths))) if picks is None else set(picks)):
        ids = read_mask(mask_paths[i])
        for k, pts in curves.items():
            e = object_lbp_entropy(ids, k)
            if not math.isnan(e):
                pts.append((i, e))
    return curves
