"""Per-object statistics of a per-frame series: Mean, Recall, Decay (davis2017 `db_statistics`).

Decay splits the N scored frames into 4 bins with edges round(linspace(1, N, 5) + 1e-10) - 1
(neighbouring bins share their edge frame) and reports mean(first bin) - mean(last bin). Both
official evaluators store the edges as uint8, which wraps for N >= 256 (and, with numpy >= 2,
makes `edge + 1` wrap at N = 256). m3vos uses integer edges; `compat_decay=True` reproduces the
wrap (numpy-2 behaviour) for bit-for-bit comparisons with the official tools.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

#: M3-VOS scores J_last over the frames from floor(0.75 * n) on.
LAST_FRACTION = 0.75


def mean(x: np.ndarray) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(x)) if len(x) else math.nan


def recall(x: np.ndarray, threshold: float = 0.5) -> float:
    if not len(x):
        return math.nan
    return float(np.nanmean(np.asarray(x) > threshold))


def decay_edges(n: int) -> np.ndarray:
    return (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(np.int64)


def decay(x: np.ndarray, *, compat: bool = False) -> float:
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return math.nan
    edges = decay_edges(n)
    if compat:
        wrapped = edges.astype(np.uint8).astype(np.int64)
        starts, stops = wrapped[:-1], (wrapped[1:] + 1) % 256
    else:
        starts, stops = edges[:-1], edges[1:] + 1
    first = x[starts[0]:stops[0]]
    last = x[starts[3]:stops[3]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.nanmean(first) - np.nanmean(last)) if len(first) and len(last) else math.nan


def last_part(x: np.ndarray) -> np.ndarray:
    """The frames J_last is computed over: index floor(0.75 * n) to the end."""
    return np.asarray(x)[int(math.floor(LAST_FRACTION * len(x))):]


def summary(prefix: str, x: np.ndarray, *, compat_decay: bool = False) -> dict[str, float]:
    """`{prefix}-Mean`, `{prefix}-Recall`, `{prefix}-Decay` of one per-frame series."""
    return {f"{prefix}-Mean": mean(x), f"{prefix}-Recall": recall(x),
            f"{prefix}-Decay": decay(x, compat=compat_decay)}
