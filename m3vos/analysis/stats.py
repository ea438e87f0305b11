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


def spearman_ci(x: Sequence[float], y: Sequence[float], groups: Sequence[str] | None = None, *,
                n_boot: int = DEFAULT_BOOT, seed: int = DEFAULT_SEED, level: float = 0.95) -> Correlation:
    """Spearman's rho with a percentile bootstrap interval (resampling `groups`, e.g. videos)."""
    from scipy.stats import spearmanr

    x = np.asarray(x, float)
    y = np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    g = np.asarray(groups)[ok] if groups is not None else np.arange(len(x)).astype(str)
    n = len(x)
    if n < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return Correlation(math.nan, math.nan, math.nan, n, math.nan)
    res = spearmanr(x, y)
    rho, p = float(res.statistic), float(res.pvalue)
    uniq, codes = np.unique(g, return_inverse=True)
    members = [np.flatnonzero(codes == i) for i in range(len(uniq))]
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(n_boot):
        pick = rng.integers(0, len(uniq), len(uniq))
        idx = np.concatenate([members[i] for i in pick])
        xs, ys = x[idx], y[idx]
        if np.ptp(xs) == 0 or np.ptp(ys) == 0:
            continue
        reps.append(spearmanr(xs, ys).statistic)
    lo, hi = percentile_ci(np.asarray(reps, float), level)
    return Correlation(rho, lo, hi, n, p)
