"""Boundary accuracy F, exactly as davis2017-evaluation defines it, computed on object crops.

The boundary map is davis2017's `seg2bmap` (a pixel is boundary when it differs from its east,
south or south-east neighbour inside the image), the tolerance is the closed Euclidean disk of
radius ceil(0.008 * frame diagonal) applied with `cv2.dilate`. Counting on the union bounding
box of both masks grown by one pixel gives the same counts as the full frame, because every
boundary pixel lies within one pixel of a mask and only dilated pixels under the other boundary
are counted; the radius still comes from the full frame size.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

BOUND_TH = 0.008


def tolerance_radius(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """davis2017's `bound_pix`: pixels if `bound_th >= 1`, else a fraction of the diagonal."""
    if bound_th >= 1:
        return int(bound_th)
    return int(np.ceil(bound_th * np.sqrt(float(height * height + width * width))))


@lru_cache(maxsize=64)
def disk_kernel(radius: int) -> np.ndarray:
    """The closed disk {dy^2 + dx^2 <= r^2} (scikit-image `disk(r)`), as a uint8 kernel."""
    span = np.arange(-radius, radius + 1)
    yy, xx = np.meshgrid(span, span, indexing="ij")
    return np.ascontiguousarray((yy * yy + xx * xx <= radius * radius).astype(np.uint8))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """davis2017 `seg2bmap` of a boolean mask: differs from E, S or SE neighbour inside the image."""
    b = np.zeros(mask.shape, dtype=bool)
    np.not_equal(mask[:, :-1], mask[:, 1:], out=b[:, :-1])
    b[:-1, :] |= mask[:-1, :] != mask[1:, :]
    b[:-1, :-1] |= mask[:-1, :-1] != mask[1:, 1:]
    return b


def union_box(box_a: tuple[int, int, int, int], box_b: tuple[int, int, int, int],
              height: int, width: int, grow: int = 1) -> tuple[int, int, int, int] | None:
    """Union of two (x, y, w, h) boxes (w == 0 means empty) grown by `grow`, as slice bounds
    (y0, y1, x0, x1) clipped to the frame; None when both are empty."""
    boxes = [b for b in (box_a, box_b) if b[2] > 0]
    if not boxes:
        return None
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (max(y0 - grow, 0), min(y1 + grow, height), max(x0 - grow, 0), min(x1 + grow, width))


def f_measure(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    """F of two boolean masks (already cropped or full frame) with tolerance `radius`."""
    bp = boundary_map(pred)
    bg = boundary_map(gt)
    n_p = int(np.count_nonzero(bp))
    n_g = int(np.count_nonzero(bg))
    if n_p == 0 and n_g == 0:
        return 1.0
    if n_p == 0 or n_g == 0:
        return 0.0  # precision 1 / recall 0 (or the reverse): F = 0
    kernel = disk_kernel(radius)
    bp8 = bp.view(np.uint8)
    bg8 = bg.view(np.uint8)
    g_dil = cv2.dilate(bg8, kernel)
    p_dil = cv2.dilate(bp8, kernel)
    precision = cv2.countNonZero(cv2.bitwise_and(bp8, g_dil)) / float(n_p)
    recall = cv2.countNonZero(cv2.bitwise_and(bg8, p_dil)) / float(n_g)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)
