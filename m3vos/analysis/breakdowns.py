"""Breakdowns: declared group-bys over the per-object table.

A breakdown is a name, the table column it reads, and a binning that turns each object's value
into one or more row labels. Every row's metric is the plain mean over the objects in it (the
official rule: a group mean is over the group's objects, not a mean of its transitions' means),
and every row carries its object count. Objects without labels, or outside the dataset, get rows
of their own instead of vanishing.

Adding a breakdown is one `Breakdown(...)` entry in `BREAKDOWNS`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from m3vos.errors import BadInputError

UNLABELLED = "(unlabelled)"
NOT_IN_DATASET = "(not in dataset)"
UNKNOWN = "(unknown)"

#: The official auto-tag cuts (`plot_v_size_mertci_curve.py`): "Small Object (Auto)" is
#: size < e^-4; "FastMotion (Auto)" is velocity > e^-15 on the official (unreleased) velocity scale.
SIZE_CUT_LN = -4.0
VELOCITY_CUT_LN_OFFICIAL = -15.0
#: m3vos's velocity is in image diagonals per frame; the official values (median ln about -14,
#: range -25.5..-0.4) behave like a *squared* normalised displacement, so the official cut is
#: applied to velocity**2, i.e. ln(velocity) = -7.5. An assumption, flagged in docs/analysis.md.
VELOCITY_CUT_LN = VELOCITY_CUT_LN_OFFICIAL / 2

#: Metrics printed by default (the official three, then the J&F extension when present).
DEFAULT_METRICS = ("J-Mean", "J_last-Mean", "J_cc-Mean", "J&F-Mean")

Binner = Callable[[pd.Series], pd.Series]


@dataclass(frozen=True)
class Breakdown:
    """One declared breakdown. `binning` maps the column to labels (str, or list for multi-membership)."""

    name: str
    column: str
    binning: Binner
    description: str
    gt: tuple[str, ...] = ()            # GT attribute kinds it needs ("geometry", "entropy")
    order: tuple[str, ...] = ()         # preferred row order; others follow sorted
    labels_based: bool = True           # rows for unlabelled objects make sense


# --- binnings -------------------------------------------------------------------------------

def as_label(missing: str = UNLABELLED) -> Binner:
    def fn(s: pd.Series) -> pd.Series:
        return s.map(lambda v: missing if v is None or (isinstance(v, float) and math.isnan(v)) else str(v))
    return fn


def core_label(s: pd.Series) -> pd.Series:
    return s.map(lambda v: UNLABELLED if v is None or (isinstance(v, float) and math.isnan(v))
                 else ("core" if bool(v) else "non-core"))


def nested_difficulty(s: pd.Series) -> pd.Series:
    """The official lists are nested (hard ⊂ mid ⊂ easy): an object counts in every list holding it."""
    levels = {"hard": ["hard", "mid", "easy"], "mid": ["mid", "easy"], "easy": ["easy"]}

    def fn(v: Any) -> Any:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return [UNLABELLED]
        return levels.get(str(v), [str(v)])
    return s.map(fn)


def challenge_list(s: pd.Series) -> pd.Series:
    return s.map(lambda v: list(v) if isinstance(v, (list, tuple)) and len(v) else ["(none)"])


def _fmt(x: float) -> str:
    return "-inf" if x == -math.inf else ("inf" if x == math.inf else f"{x:g}")


def ln_bins(edges: Sequence[float]) -> Binner:
    """Bins of ln(value) at fixed edges; labels like `ln in [-6, -4)`."""
    edges = [-math.inf, *edges, math.inf]

    def fn(s: pd.Series) -> pd.Series:
        def one(v: Any) -> str:
            if v is None or not np.isfinite(v) or v <= 0:
                return UNKNOWN
            x = math.log(v)
            for lo, hi in zip(edges[:-1], edges[1:]):
                if lo <= x < hi:
                    return f"ln in [{_fmt(lo)}, {_fmt(hi)})"
            return UNKNOWN
        return s.map(one)
    return fn


def ln_bin_order(edges: Sequence[float]) -> tuple[str, ...]:
    edges = [-math.inf, *edges, math.inf]
    return tuple(f"ln in [{_fmt(lo)}, {_fmt(hi)})" for lo, hi in zip(edges[:-1], edges[1:]))


def threshold(cut_ln: float, below: str, above: str, *, power: float = 1.0) -> Binner:
    def fn(s: pd.Series) -> pd.Series:
        def one(v: Any) -> str:
            if v is None or not np.isfinite(v) or v < 0:
                return UNKNOWN
            if v == 0:
                return below
            return below if power * math.log(v) < cut_ln else above
        return s.map(one)
    return fn


def quantile_bins(q: int = 4, *, log: bool = False) -> Binner:
    """q quantile bins of the objects at hand (ties merge bins); labels carry the value range."""
    def fn(s: pd.Series) -> pd.Series:
        vals = pd.to_numeric(s, errors="coerce").astype(float)
        if log:
            vals = vals.where(vals > 0)
            vals = np.log(vals)
        out = pd.Series(UNKNOWN, index=s.index, dtype=object)
        ok = vals.notna() & np.isfinite(vals)
        if ok.sum() == 0:
            return out
        cats = pd.qcut(vals[ok], q=min(q, int(ok.sum())), duplicates="drop")
        names = {c: f"Q{i + 1} {'ln ' if log else ''}[{c.left:.3g}, {c.right:.3g}]"
                 for i, c in enumerate(cats.cat.categories)}
        out[ok] = cats.map(names).astype(object)
        return out
    return fn


def length_bins(edges: Sequence[int] = (150, 300, 450, 600)) -> Binner:
    bounds: list[float] = [0, *edges, math.inf]

    def fn(s: pd.Series) -> pd.Series:
        def one(v: Any) -> str:
            if v is None or not np.isfinite(v):
                return UNKNOWN
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                if lo <= v < hi:
                    return f"{lo}+ frames" if hi == math.inf else f"{lo}-{hi - 1} frames"
            return UNKNOWN
        return s.map(one)
    return fn


def entropy_change_bins(s: pd.Series) -> pd.Series:
    """Sign of the lbp entropy change, with a dead zone of 0.05 bits for 'stable'."""
    def one(v: Any) -> str:
        if v is None or not np.isfinite(v):
            return UNKNOWN
        return "more disordered" if v > 0.05 else ("more ordered" if v < -0.05 else "stable")
    return s.map(one)


def _transition_order() -> tuple[str, ...]:
    from m3vos.data.taxonomy import TRANSITIONS

    return tuple(TRANSITIONS)


SIZE_EDGES = (-6.0, SIZE_CUT_LN, -2.0)
VELOCITY_EDGES = (-9.0, VELOCITY_CUT_LN, -6.0, -4.5)

BREAKDOWNS: dict[str, Breakdown] = {b.name: b for b in [
    Breakdown("transition", "transition", as_label(), "per phase-transition label (23 in the taxonomy)",
              order=_transition_order()),
    Breakdown("group", "group", as_label(), "IS / IL / IG / CP transition groups (label-only grouping, as officially)",
              order=("IS", "IL", "IG", "CP")),
    Breakdown("intra", "intra", as_label(), "intra-phase (IS ∪ IL ∪ IG) vs cross-phase (CP)",
              order=("intra", "cross")),
    Breakdown("before", "before", as_label(), "top-level phase before the transition",
              order=("solid", "liquid", "aerosol/gas")),
    Breakdown("after", "after", as_label(), "top-level phase after the transition",
              order=("solid", "liquid", "aerosol/gas")),
    Breakdown("phase", "phase_pair", as_label(), "before -> after top-level phase pair"),
    Breakdown("core", "core", core_label, "the M3-VOS core subset (all objects of the core videos)",
              order=("core", "non-core")),
    Breakdown("difficulty", "difficulty", nested_difficulty,
              "official nested difficulty lists: hard ⊂ mid ⊂ easy", order=("hard", "mid", "easy")),
    Breakdown("challenges", "challenges", challenge_list, "challenge tags (an object counts in each of its tags)"),
    Breakdown("size", "size", ln_bins(SIZE_EDGES), "ln(GT area / frame area), fixed bins incl. the official e^-4 cut",
              gt=("geometry",), order=ln_bin_order(SIZE_EDGES), labels_based=False),
    Breakdown("size-auto", "size", threshold(SIZE_CUT_LN, "small (< e^-4)", "not small"),
              "the official 'Small Object (Auto)' tag: size < e^-4", gt=("geometry",),
              order=("small (< e^-4)", "not small"), labels_based=False),
    Breakdown("size-q", "size", quantile_bins(4, log=True), "size quartiles of the scored objects",
              gt=("geometry",), labels_based=False),
    Breakdown("velocity", "velocity", ln_bins(VELOCITY_EDGES),
              "ln(centroid speed in image diagonals per frame), fixed bins incl. the official cut",
              gt=("geometry",), order=ln_bin_order(VELOCITY_EDGES), labels_based=False),
    Breakdown("velocity-auto", "velocity", threshold(VELOCITY_CUT_LN_OFFICIAL, "not fast", "fast (v^2 > e^-15)", power=2),
              "the official 'FastMotion (Auto)' tag, applied to velocity^2 (assumption)", gt=("geometry",),
              order=("not fast", "fast (v^2 > e^-15)"), labels_based=False),
    Breakdown("velocity-q", "velocity", quantile_bins(4, log=True), "velocity quartiles of the scored objects",
              gt=("geometry",), labels_based=False),
    Breakdown("length", "length", length_bins(), "video length in annotated frames", gt=("geometry",),
              labels_based=False),
    Breakdown("entropy", "entropy_change", entropy_change_bins,
              "m3vos lbp entropy change, second half minus first (non-official definition)", gt=("entropy",),
              order=("more ordered", "stable", "more disordered"), labels_based=False),
    Breakdown("entropy-q", "entropy_change", quantile_bins(3), "terciles of the lbp entropy change",
              gt=("entropy",), labels_based=False),
]}

#: What `all` expands to (every declared breakdown).
ALL = tuple(BREAKDOWNS)


def parse_names(names: Iterable[str] | str) -> list[str]:
    """`transition,group` / ["size", "all"] -> declared names, in order, without duplicates."""
    if isinstance(names, str):
        names = [names]
    out: list[str] = []
    for chunk in names:
        for n in str(chunk).split(","):
            n = n.strip().lower()
            if not n:
                continue
            expanded = ALL if n == "all" else (n,)
            for e in expanded:
                if e not in BREAKDOWNS:
                    raise BadInputError(f"unknown breakdown {n!r}",
                                        hint=f"choose from {', '.join(ALL)} or `all`")
                if e not in out:
                    out.append(e)
    return out


def gt_kinds(names: Iterable[str]) -> tuple[str, ...]:
    kinds: list[str] = []
    for n in names:
        for k in BREAKDOWNS[n].gt:
            if k not in kinds:
                kinds.append(k)
    return tuple(kinds)


#: Rows with fewer objects than this are marked in reports: their mean says little.
SMALL_N = 3


def breakdown_rows(table: pd.DataFrame, name: str, metrics: Sequence[str] | None = None, *,
                   ci: str | None = None, n_boot: int = 1000, seed: int = 0) -> list[dict[str, Any]]:
    """Rows `{value, n_objects, <metric>: mean}` of one breakdown over a per-object table.

    With `ci=METRIC`, each row also gets `n_videos`, `ci_low`/`ci_high` (95% bootstrap interval of
    METRIC's mean, resampling the row's videos) and `small` (fewer than `SMALL_N` objects)."""
    spec = BREAKDOWNS[name]
    metrics = list(metrics if metrics is not None else table.attrs.get("metrics", []))
    if spec.column not in table.columns:
        values = pd.Series(UNKNOWN, index=table.index, dtype=object)
    else:
        values = spec.binning(table[spec.column])
    if "matched" in table.columns:
        values = values.where(table["matched"].astype(bool), NOT_IN_DATASET)
    exploded = pd.DataFrame({"value": values}, index=table.index).explode("value")
    joined = exploded.join(table[metrics])
    grouped = joined.groupby("value", sort=False)
    counts = grouped.size()
    means = grouped[metrics].mean() if metrics else pd.DataFrame(index=counts.index)
    tail = ("(outside the 23)", UNLABELLED, "(none)", UNKNOWN, NOT_IN_DATASET)
    present = list(counts.index)
    ordered = [v for v in spec.order if v in present]
    ordered += sorted(v for v in present if v not in ordered and v not in tail)
    ordered += [v for v in tail if v in present]
    rows = []
    for v in ordered:
        row: dict[str, Any] = {"value": v, "n_objects": int(counts[v])}
        for m in metrics:
            x = means.at[v, m]
            row[m] = None if pd.isna(x) else float(x)
        if ci is not None:
            row.update(_row_interval(joined, table, v, ci, n_boot, seed))
        rows.append(row)
    return rows


def _row_interval(joined: pd.DataFrame, table: pd.DataFrame, value: Any, metric: str, n_boot: int,
                  seed: int) -> dict[str, Any]:
    from m3vos.analysis.stats import boot_means, percentile_ci, video_weights

    idx = joined.index[joined["value"] == value]
    vals = table.loc[idx, metric].to_numpy(float) if metric in table.columns else np.full(len(idx), np.nan)
    videos = table.loc[idx, "video"].astype(str).to_numpy() if "video" in table.columns else np.arange(len(idx))
    uniq, codes = np.unique(videos, return_inverse=True)
    lo, hi = percentile_ci(boot_means(vals, codes, video_weights(len(uniq), n_boot=n_boot, seed=seed)))
    return {"n_videos": int(len(uniq)), "ci_low": None if math.isnan(lo) else lo,
            "ci_high": None if math.isnan(hi) else hi, "small": int(len(idx)) < SMALL_N}


def compute_breakdowns(table: pd.DataFrame, names: Iterable[str] | str,
                       metrics: Sequence[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    return {n: breakdown_rows(table, n, metrics) for n in parse_names(names)}


def add_breakdowns(results: dict, dataset: Any, names: list[str]) -> dict:
    """The `breakdowns` section of a results document for the named breakdowns (`all`: every one).

    GT attributes (size, velocity, entropy) are computed only when a named breakdown needs them,
    and read from the per-dataset cache after the first time.
    """
    wanted = parse_names(names)
    table = object_table_for(results, dataset, wanted)
    return compute_breakdowns(table, wanted)


def object_table_for(results: dict, dataset: Any, names: Sequence[str], *, progress: bool | None = None) -> pd.DataFrame:
    from m3vos.analysis.table import object_table

    return object_table(results, dataset, gt=gt_kinds(names), progress=progress)


def render_breakdowns(section: dict[str, list[dict[str, Any]]], metrics: Sequence[str] | None = None) -> list[Any]:
    """rich Tables, one per breakdown (value, objects, then the official metrics by default)."""
    from rich.table import Table

    tables = []
    for name, rows in section.items():
        present = [m for m in (metrics or DEFAULT_METRICS) if any(m in r for r in rows)]
        t = Table(title=f"breakdown: {name}", title_justify="left",
                  caption=BREAKDOWNS[name].description if name in BREAKDOWNS else None, caption_justify="left")
        t.add_column("value")
        t.add_column("objects", justify="right")
        for m in present:
            t.add_column(m, justify="right")
        for r in rows:
            t.add_row(str(r["value"]), str(r["n_objects"]),
                      *("—" if r.get(m) is None else f"{r[m]:.4f}" for m in present))
        tables.append(t)
    return tables
