"""Uncertainty for small subsets: video-level bootstrap and Spearman correlation intervals.

Objects of one video share frames, lighting and tracker state, so they are not independent:
the bootstrap resamples *videos* (with all their objects), then takes the plain object mean, the
same statistic as the official global score. A fixed seed makes intervals reproducible.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

DEFAULT_SEED = 0
DEFAULT_BOOT = 2000


def video_weights(n_videos: int, *, n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED) -> np.ndarray:
    """n_boot x n_videos resampling counts (each row sums to n_videos), shared by paired statistics."""
    rng = np.random.default_rng(seed)
    if n_videos == 0:
        return np.zeros((n_boot, 0))
    return rng.multinomial(n_videos, np.full(n_videos, 1.0 / n_videos), size=n_boot).astype(float)


def per_video_sums(values: np.ndarray, video_codes: np.ndarray, n_videos: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-video sum and count of the finite values."""
    ok = np.isfinite(values)
    sums = np.bincount(video_codes[ok], weights=values[ok], minlength=n_videos)
    counts = np.bincount(video_codes[ok], minlength=n_videos).astype(float)
    return sums, counts


def boot_means(values: np.ndarray, video_codes: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Bootstrap replicates of the object mean, resampling videos by `weights` rows."""
    sums, counts = per_video_sums(values, video_codes, weights.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ sums) / (weights @ counts)


def percentile_ci(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return math.nan, math.nan
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return float(lo), float(hi)


@dataclass
class Correlation:
    rho: float
    ci_low: float
    ci_high: float
    n: int
    p_value: float


def _rank_rows(m: np.ndarray) -> np.ndarray:
    """Average ranks along each row (ties share their mean rank), via pandas (already loaded)."""
    import pandas as pd

    return pd.DataFrame(m).rank(axis=1, method="average").to_numpy()


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: Pearson correlation of the average ranks."""
    xs = np.asarray(x, float)[None, :]
    ys = np.asarray(y, float)[None, :]
    return float(_pearson_rows(_rank_rows(xs), _rank_rows(ys))[0])


def spearman_ci(x: Sequence[float], y: Sequence[float], groups: Sequence[str] | None = None, *,
                n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED, level: float = 0.95) -> Correlation:
    """Spearman's rho with a percentile bootstrap interval (resampling `groups`, e.g. videos).

    The p-value is the two-sided t approximation (exact enough for n >= 10; scipy.stats is not
    imported, it costs seconds at start-up).
    """
    from scipy.special import stdtr

    xa = np.asarray(x, float)
    ya = np.asarray(y, float)
    ok = np.isfinite(xa) & np.isfinite(ya)
    xa, ya = xa[ok], ya[ok]
    g = np.asarray(groups)[ok] if groups is not None else np.arange(len(xa)).astype(str)
    n = len(xa)
    if n < 3 or np.ptp(xa) == 0 or np.ptp(ya) == 0:
        return Correlation(math.nan, math.nan, math.nan, n, math.nan)
    rho = spearman(xa, ya)
    if abs(rho) >= 1:
        p = 0.0
    else:
        t = rho * math.sqrt((n - 2) / (1 - rho * rho))
        p = float(2 * stdtr(n - 2, -abs(t)))
    uniq, codes = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(codes == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    # Videos hold different numbers of objects, so resamples differ in length: rank the
    # resamples of equal length together, one matrix per length.
    reps = np.full(n_boot, np.nan)
    rows = [np.concatenate([members[i] for i in rng.integers(0, len(uniq), len(uniq))]) for _ in range(n_boot)]
    by_len: dict[int, list[int]] = {}
    for b, idx in enumerate(rows):
        by_len.setdefault(len(idx), []).append(b)
    for length, bs in by_len.items():
        idx = np.stack([rows[b] for b in bs])
        reps[bs] = _pearson_rows(_rank_rows(xa[idx]), _rank_rows(ya[idx]))
    lo, hi = percentile_ci(reps, level)
    return Correlation(rho, lo, hi, n, p)
