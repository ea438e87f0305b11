"""Report figures (matplotlib, headless Agg backend), each saved atomically as a PNG.

Every function takes data already reduced by the analysis modules (tables, curves) so plots
never compute a metric themselves; several runs are drawn side by side in one figure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


def pyplot() -> Any:
    """`matplotlib.pyplot` on the headless Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, dpi: float = 110) -> Path:
    """Write `fig` as a PNG atomically (cropped to its content) and close it."""
    from m3vos.utils.atomic import atomic_path

    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    pyplot().close(fig)
    return path


def bars_by_value(rows_by_run: dict[str, list[dict[str, Any]]], metric: str, path: Path, *,
                  title: str, xlabel: str = "") -> Path:
    """Grouped bars of `metric` per breakdown value, one colour per run, object counts on top."""
    plt = pyplot()
    values: list[str] = []
    for rows in rows_by_run.values():
        for r in rows:
            if r["value"] not in values:
                values.append(r["value"])
    n_runs = max(len(rows_by_run), 1)
    width = 0.8 / n_runs
    fig, ax = plt.subplots(figsize=(max(6.0, 0.55 * len(values) * max(1, n_runs * 0.6) + 2), 4.2))
    x = np.arange(len(values))
    for j, (run, rows) in enumerate(rows_by_run.items()):
        by = {r["value"]: r for r in rows}
        ys: list[Any] = [by[v].get(metric) if v in by and by[v].get(metric) is not None else np.nan for v in values]
        ns = [by[v]["n_objects"] if v in by else 0 for v in values]
        bars = ax.bar(x + (j - (n_runs - 1) / 2) * width, ys, width, label=run or metric,
                      color=COLORS[j % len(COLORS)])
        for b, n, y in zip(bars, ns, ys):
            if n and np.isfinite(y):
                ax.annotate(f"n={n}", (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom",
                            fontsize=7, rotation=90 if len(values) > 8 else 0, xytext=(0, 2),
                            textcoords="offset points")
    ax.set_xticks(x)
    ax.set_xticklabels(values, rotation=45 if len(values) > 5 else 0, ha="right" if len(values) > 5 else "center")
    ax.set_ylim(0, 1.12)
    ax.set_ylabel(metric)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    if n_runs > 1:
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def kernel_trend(x: np.ndarray, y: np.ndarray, grid: np.ndarray, bandwidth: float | None = None) -> np.ndarray:
    """Gaussian-kernel (Nadaraya-Watson) smoothed mean of y over x at `grid` points."""
    if bandwidth is None:
        spread = np.std(x) if len(x) > 1 else 1.0
        bandwidth = max(1.06 * spread * len(x) ** (-1 / 5), 1e-3)
    w = np.exp(-0.5 * ((grid[:, None] - x[None, :]) / bandwidth) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (w @ y) / w.sum(axis=1)


def scatter_ln(points_by_run: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, *, xlabel: str,
               metric: str, title: str, edges: Sequence[float] = (), cut: float | None = None,
               cut_label: str = "") -> Path:
    """metric vs ln(attribute): points, a kernel-smoothed trend, bin means at `edges`, the official cut."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for j, (run, (xv, yv)) in enumerate(points_by_run.items()):
        ok = (xv > 0) & np.isfinite(xv) & np.isfinite(yv)
        lx, yy = np.log(xv[ok]), yv[ok]
        c = COLORS[j % len(COLORS)]
        ax.scatter(lx, yy, s=14, alpha=0.55, color=c, label=run or None)
        if len(lx) >= 3:
            grid = np.linspace(lx.min(), lx.max(), 100)
            ax.plot(grid, kernel_trend(lx, yy, grid), color=c, lw=2)
        full = [-math.inf, *edges, math.inf]
        for lo, hi in zip(full[:-1], full[1:]):
            sel = (lx >= lo) & (lx < hi)
            if sel.any():
                a = max(lo, lx.min()) if np.isfinite(lo) else lx.min()
                b = min(hi, lx.max()) if np.isfinite(hi) else lx.max()
                ax.hlines(yy[sel].mean(), a, b, colors=c, linestyles="dashed", lw=1.2, alpha=0.9)
    for e in edges:
        ax.axvline(e, color="0.8", lw=0.8, zorder=0)
    if cut is not None:
        ax.axvline(cut, color="k", lw=1.0, ls=":", label=cut_label or None)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(metric)
    ax.set_ylim(-0.03, 1.05)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if any(points_by_run) or cut_label:
        ax.legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def curves_over_time(curves_by_run: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: Path, *,
                     ylabel: str, title: str) -> Path:
    """One panel per run, one line per curve over normalised time 0..1 (e.g. the worst objects' J)."""
    plt = pyplot()
    runs = list(curves_by_run) or [""]
    fig, axes = plt.subplots(1, len(runs), figsize=(5.6 * len(runs), 4.2), squeeze=False, sharey=True)
    for ax, run in zip(axes[0], runs):
        for j, (label, (t, y)) in enumerate(curves_by_run.get(run, {}).items()):
            ax.plot(t, y, lw=1.4, color=COLORS[j % len(COLORS)], label=label)
        ax.set_xlabel("normalised time (0 = first evaluated frame, 1 = last)")
        ax.set_xlim(0, 1)
        ax.set_ylim(-0.03, 1.05)
        ax.set_title(f"{run}: {title}" if run else title, fontsize=10)
        ax.grid(alpha=0.3)
        if curves_by_run.get(run):
            ax.legend(fontsize=7, loc="best")
    axes[0][0].set_ylabel(ylabel)
    fig.tight_layout()
    return save_figure(fig, path)


def entropy_curves_plot(curves_by_run: dict[str, dict[str, list[tuple[float, float]]]], path: Path, *,
                        title: str, bins: int = 20, unit: str = "videos") -> Path:
    """Entropy over normalised time: faint line per video, bold binned mean (per run)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for j, (run, curves) in enumerate(curves_by_run.items()):
        c = COLORS[j % len(COLORS)]
        all_t, all_e = [], []
        for pts in list(curves.values()):
            if not pts:
                continue
            t, e = np.array(pts, dtype=float).T
            if len(curves) <= 60:
                ax.plot(t, e, color=c, alpha=0.18, lw=0.8)
            all_t.append(t)
            all_e.append(e)
        if all_t:
            t, e = np.concatenate(all_t), np.concatenate(all_e)
            idx = np.minimum((t * bins).astype(int), bins - 1)
            centers, means = [], []
            for b in range(bins):
                sel = idx == b
                if sel.any():
                    centers.append((b + 0.5) / bins)
                    means.append(e[sel].mean())
            ax.plot(centers, means, color=c, lw=2.4, label=f"{run + ': ' if run else ''}mean over {unit}")
    ax.axvline(0.5, color="0.5", ls=":", lw=1)
    ax.set_xlabel("normalised time (first half | second half)")
    ax.set_ylabel("entropy (bits)")
    ax.set_xlim(0, 1)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
