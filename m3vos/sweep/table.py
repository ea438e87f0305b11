"""The sweep table: one DataFrame (`build_table`), its Pareto front, its files and its plot.

The files are written by the shared table export (`m3vos.analysis.export`), like the leaderboard's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from m3vos.analysis.export import TableStyle, render_table, write_tables as export_tables


@dataclass
class PointResult:
    """What the table needs from one finished point."""

    id: str
    varied: dict[str, Any]
    per_object: dict[str, tuple[str, float]]    # object key -> (video, metric value)
    fps: float | None
    peak_memory_mb: float | None
    folder: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def pareto_front(speed: Sequence[float], accuracy: Sequence[float]) -> list[bool]:
    """True for the points no other point beats on both axes (higher is better on both).

    A point is dominated when another is at least as fast and at least as accurate, and
    strictly better on one. Points with a missing (NaN) value are never on the front.
    """
    s = np.asarray(speed, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    ok = np.isfinite(s) & np.isfinite(a)
    out = []
    for i in range(len(s)):
        if not ok[i]:
            out.append(False)
            continue
        dominated = ok & (s >= s[i]) & (a >= a[i]) & ((s > s[i]) | (a > a[i]))
        out.append(not bool(dominated.any()))
    return out


def build_table(points: list[PointResult], *, reference: str, metric: str = "J-Mean",
                keys: list[str] | None = None) -> pd.DataFrame:
    """Every point: its swept values, `metric` with a video-bootstrap 95% CI, the paired
    difference to the `reference` point (CI and p-value), frames/s, peak memory, Pareto flag."""
    from m3vos.analysis.paired import mean_ci, paired

    keys = keys or list(dict.fromkeys(k for p in points for k in p.varied))
    ref = next((p for p in points if p.id == reference), None)
    rows = []
    for p in points:
        objs = sorted(p.per_object)
        m = mean_ci([p.per_object[k][1] for k in objs], [p.per_object[k][0] for k in objs])
        row: dict[str, Any] = {"point": p.id, **{k: p.varied.get(k) for k in keys},
                               metric: m.mean, f"{metric} CI low": m.ci_low, f"{metric} CI high": m.ci_high,
                               "objects": m.n, "videos": m.n_videos}
        if ref is not None:
            common = sorted(set(objs) & set(ref.per_object))
            d = paired([ref.per_object[k][1] for k in common], [p.per_object[k][1] for k in common],
                       [p.per_object[k][0] for k in common])
            row.update({f"Δ{metric} vs {reference}": d.diff, "Δ CI low": d.ci_low, "Δ CI high": d.ci_high,
                        "Δ p-value": d.p_value})
        row.update({"frames/s": p.fps if p.fps is not None else math.nan,
                    "peak memory MB": p.peak_memory_mb if p.peak_memory_mb is not None else math.nan})
        rows.append(row)
    df = pd.DataFrame(rows)
    df["pareto"] = pareto_front(df["frames/s"], df[metric]) if len(df) else []
    df["reference"] = df["point"] == reference
    return df


# --- writers ------------------------------------------------------------------------------------
def _cell(x: Any, digits: int = 4) -> str:
    if isinstance(x, (bool, np.bool_)):
        return "yes" if x else ""
    if isinstance(x, (float, np.floating)):
        return "" if math.isnan(x) else f"{x:.{digits}f}"
    return "" if x is None else str(x)


def _metric(df: pd.DataFrame) -> str | None:
    return next((str(c) for c in df.columns if f"{c} CI low" in df.columns), None)


def table_style(df: pd.DataFrame) -> TableStyle:
    """The sweep table for `m3vos.analysis.export`: the metric and its difference to the
    reference with their intervals, best values in bold (accuracy and frames/s higher, memory lower)."""
    metric = _metric(df)
    directions: dict[str, str] = {"frames/s": "higher", "peak memory MB": "lower"}
    ci: dict[str, tuple[str, str]] = {}
    if metric is not None:
        directions[metric] = "higher"
        ci[metric] = (f"{metric} CI low", f"{metric} CI high")
    delta = next((str(c) for c in df.columns if str(c).startswith("Δ") and " vs " in str(c)), None)
    if delta is not None:
        directions[delta] = "higher"
        ci[delta] = ("Δ CI low", "Δ CI high")
    return TableStyle(directions=directions, ci=ci, meta={"schema": "m3vos-sweep/1"})


def _display(df: pd.DataFrame) -> pd.DataFrame:
    """Flags as words for the printed tables (`yes` or empty); the CSV and JSON keep booleans."""
    out = df.copy()
    for c in ("pareto", "reference"):
        if c in out.columns:
            out[c] = ["yes" if v else "" for v in out[c]]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    return render_table(_display(df), "md", table_style(df))


def write_tables(df: pd.DataFrame, out_dir: str | Path, stem: str = "sweep") -> list[Path]:
    """`<stem>.md`, `.csv`, `.json` and `.tex`, each written atomically (`m3vos.analysis.export`)."""
    style = table_style(df)
    return (export_tables(df, out_dir, stem, style, formats=("csv", "json"))
            + export_tables(_display(df), out_dir, stem, style, formats=("md", "tex")))


def speed_accuracy_plot(df: pd.DataFrame, path: str | Path, *, metric: str = "J-Mean", title: str = "") -> Path:
    """Frames/s against `metric` with CI bars; the Pareto front joined and ringed."""
    from m3vos.analysis.plots import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=120)
    x, y = df["frames/s"].to_numpy(float), df[metric].to_numpy(float)
    lo = np.clip(y - df[f"{metric} CI low"].to_numpy(float), 0, None)
    hi = np.clip(df[f"{metric} CI high"].to_numpy(float) - y, 0, None)
    ax.errorbar(x, y, yerr=[np.nan_to_num(lo), np.nan_to_num(hi)], fmt="o", color="tab:blue", alpha=0.8,
                ecolor="0.6", capsize=2, label="point (95% CI over videos)")
    front = df[df["pareto"]].sort_values("frames/s")
    if len(front):
        ax.plot(front["frames/s"], front[metric], "-", color="tab:red", lw=1.2)
        ax.scatter(front["frames/s"], front[metric], s=110, facecolors="none", edgecolors="tab:red",
                   label="Pareto front")
    for _, r in df.iterrows():
        ax.annotate(str(r["point"]) + (" (ref)" if r.get("reference") else ""), (r["frames/s"], r[metric]),
                    fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_xlabel("frames/s (tracking)")
    ax.set_ylabel(metric)
    ax.set_title(title or "sweep: speed vs accuracy", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def display_rows(df: pd.DataFrame, *, metric: str, reference: str) -> tuple[list[str], list[list[str]]]:
    """The sweep table for people: columns and rows of text (values with their 95% CI in one
    cell, 3 decimals), for a terminal table; the files keep every column."""
    m = metric
    delta = next((c for c in df.columns if str(c).startswith("Δ") and "vs" in str(c)), None)
    keys = [c for c in df.columns[1:] if c not in (m,) and not str(c).startswith((m, "Δ"))
            and c not in ("objects", "videos", "frames/s", "peak memory MB", "pareto", "reference")]
    columns = ["point", *map(str, keys), f"{m} [95% CI]", f"Δ vs {reference} [95% CI]", "p", "frames/s", "peak MB",
               "Pareto"]
    rows = []
    for _, r in df.iterrows():
        compared = bool(delta) and not r["reference"]
        d = (f"{_cell(r[delta], 3)} [{_cell(r['Δ CI low'], 3)}, {_cell(r['Δ CI high'], 3)}]" if compared
             else "(reference)")
        rows.append([str(r["point"]), *[_cell(r[k], 3) for k in keys],
                     f"{_cell(r[m], 3)} [{_cell(r[f'{m} CI low'], 3)}, {_cell(r[f'{m} CI high'], 3)}]", d,
                     _cell(r["Δ p-value"], 3) if compared else "",
                     _cell(r["frames/s"], 1), _cell(r["peak memory MB"], 0), "*" if r["pareto"] else ""])
    return columns, rows
