"""Paired comparisons with video-level uncertainty, on top of `m3vos.analysis.stats`.

Used wherever two numbers are measured on the same units (objects or videos): a sweep point
against its reference point, an object's entropy in the first against the latter half. The
interval resamples videos (objects of one video are not independent; see `stats`); the test is
a paired t-test over the per-video mean differences (videos are the independent units).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np

from m3vos.analysis.stats import DEFAULT_BOOT, DEFAULT_SEED, boot_means, per_video_sums, percentile_ci, video_weights


@dataclass
class MeanCI:
    mean: float
    ci_low: float
    ci_high: float
    n: int
    n_videos: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Paired:
    mean_a: float
    mean_b: float
    diff: float            # mean of (b - a) over the paired units
    ci_low: float
    ci_high: float
    p_value: float         # two-sided paired t-test over per-video mean differences
    n: int                 # paired units (objects or videos)
    n_videos: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _codes(videos: Sequence[str] | np.ndarray) -> tuple[np.ndarray, int]:
    uniq, codes = np.unique(np.asarray(videos, dtype=str), return_inverse=True)
    return codes.astype(int), len(uniq)


def mean_ci(values: Sequence[float], videos: Sequence[str], *, n_boot: int = DEFAULT_BOOT,
            seed: int = DEFAULT_SEED, level: float = 0.95) -> MeanCI:
    """Plain mean of the finite values with a video-bootstrap percentile interval."""
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    x, v = x[ok], np.asarray(videos, dtype=str)[ok]
    if x.size == 0:
        return MeanCI(math.nan, math.nan, math.nan, 0, 0)
    codes, n_videos = _codes(v)
    lo, hi = percentile_ci(boot_means(x, codes, video_weights(n_videos, n_boot=n_boot, seed=seed)), level)
    return MeanCI(float(x.mean()), lo, hi, int(x.size), n_videos)


def paired(a: Sequence[float], b: Sequence[float], videos: Sequence[str], *, n_boot: int = DEFAULT_BOOT,
           seed: int = DEFAULT_SEED, level: float = 0.95) -> Paired:
    """b - a on the units where both are finite: mean, video-bootstrap CI, paired t-test p-value."""
    from scipy.special import stdtr

    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    ok = np.isfinite(xa) & np.isfinite(xb)
    xa, xb, v = xa[ok], xb[ok], np.asarray(videos, dtype=str)[ok]
    if xa.size == 0:
        return Paired(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan, 0, 0)
    d = xb - xa
    codes, n_videos = _codes(v)
    lo, hi = percentile_ci(boot_means(d, codes, video_weights(n_videos, n_boot=n_boot, seed=seed)), level)
    sums, counts = per_video_sums(d, codes, n_videos)
    per_video = sums / counts
    p = math.nan
    if n_videos >= 2:
        sd = float(per_video.std(ddof=1))
        m = float(per_video.mean())
        if sd > 0:
            t = m / (sd / math.sqrt(n_videos))
            p = float(2 * stdtr(n_videos - 1, -abs(t)))
        else:
            p = 0.0 if m != 0 else 1.0
    return Paired(float(xa.mean()), float(xb.mean()), float(d.mean()), lo, hi, p, int(xa.size), n_videos)
