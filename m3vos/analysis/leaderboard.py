"""Rank result folders on the objects they all scored, with intervals and a CI gate.

Comparing means over different object sets is how leaderboards lie, so every entry is scored on
the intersection of the scored objects (and each entry says how many of its objects were left
out). Intervals resample videos (`stats.video_weights`) with a fixed seed; the same resamples are
used for every entry, so differences between entries are paired.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from m3vos.analysis.results_io import ResultsFolder, load_many, load_results
from m3vos.analysis.stats import DEFAULT_BOOT, DEFAULT_SEED, boot_means, percentile_ci, video_weights
from m3vos.errors import BadInputError

DEFAULT_METRIC = "J-Mean"
#: Other metrics shown beside the ranking metric when every entry has them.
SIDE_METRICS = ("J-Mean", "J_last-Mean", "J_cc-Mean", "J&F-Mean")


@dataclass
class Entry:
    name: str
    path: str
    n_scored: int
    n_dropped: int
    mean: float
    ci_low: float
    ci_high: float
    diff: float | None = None          # entry - reference, on the common objects
    diff_low: float | None = None
    diff_high: float | None = None
    rank: int | None = None
    is_baseline: bool = False
    metrics: dict[str, float] = field(default_factory=dict)   # every shared metric's common-set mean


@dataclass
class Leaderboard:
    """A ranked table; render it with `to_markdown`, `to_csv`, `to_json`, `to_rich`."""

    metric: str
    entries: list[Entry]
    n_common: int
    n_videos: int
    reference: str                     # entry the differences are taken against
    n_boot: int = DEFAULT_BOOT
    seed: int = DEFAULT_SEED
    side_metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    # --- rendering ---------------------------------------------------------------------------
    def columns(self) -> list[str]:
        return ["rank", "name", self.metric, "ci95", f"diff vs {self.reference}", "diff ci95",
                *[m for m in self.side_metrics if m != self.metric], "objects", "dropped"]

    def rows(self) -> list[list[str]]:
        def f(x: float | None, sign: bool = False) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "—"
            return f"{x:+.4f}" if sign else f"{x:.4f}"

        out = []
        for e in self.entries:
            diff = "ref" if e.name == self.reference else f(e.diff, True)
            dci = "" if e.name == self.reference else f"[{f(e.diff_low, True)}, {f(e.diff_high, True)}]"
            out.append([
                "base" if e.is_baseline else str(e.rank), e.name, f(e.mean),
                f"[{f(e.ci_low)}, {f(e.ci_high)}]", diff, dci,
                *[f(e.metrics.get(m)) for m in self.side_metrics if m != self.metric],
                str(e.n_scored - e.n_dropped), str(e.n_dropped)])
        return out

    def caption(self) -> str:
        return (f"{self.n_common} objects in {self.n_videos} videos scored by every entry; "
                f"95% intervals: {self.n_boot} bootstrap resamples of videos (seed {self.seed}); "
                f"differences paired against {self.reference}.")

    def to_markdown(self) -> str:
        cols = self.columns()
        lines = [f"### Leaderboard: {self.metric}", "",
                 "| " + " | ".join(cols) + " |",
                 "|" + "|".join("---:" if i not in (1,) else "---" for i in range(len(cols))) + "|"]
        for r in self.rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        lines += ["", self.caption()]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_csv(self) -> str:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        fields = ["rank", "name", "path", "metric", "mean", "ci_low", "ci_high", "diff", "diff_low",
                  "diff_high", "reference", "n_common", "n_dropped", "is_baseline",
                  *[m for m in self.side_metrics]]
        w.writerow(fields)
        for e in self.entries:
            w.writerow([e.rank if not e.is_baseline else "", e.name, e.path, self.metric, e.mean, e.ci_low,
                        e.ci_high, "" if e.diff is None else e.diff, "" if e.diff_low is None else e.diff_low,
                        "" if e.diff_high is None else e.diff_high, self.reference,
                        e.n_scored - e.n_dropped, e.n_dropped, e.is_baseline,
                        *[e.metrics.get(m, "") for m in self.side_metrics]])
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "m3vos-leaderboard/1", "metric": self.metric, "reference": self.reference,
                "n_common_objects": self.n_common, "n_videos": self.n_videos, "n_boot": self.n_boot,
                "seed": self.seed, "entries": [_clean(asdict(e)) for e in self.entries], "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def to_rich(self, width: int | None = None) -> Any:
        """A rich Table; below 130 columns (default: the terminal's width) a compact layout that
        merges each interval into its value and leaves out the side metrics, so nothing is cut."""
        from rich.table import Table

        if width is None:
            import shutil

            width = shutil.get_terminal_size((80, 24)).columns
        t = Table(title=f"Leaderboard: {self.metric}", caption=self.caption(), title_justify="left")
        if width >= 130:
            for i, c in enumerate(self.columns()):
                t.add_column(c, justify="left" if i == 1 else "right")
            for r in self.rows():
                t.add_row(*r)
            return t

        def f(x: float | None, sign: bool = False) -> str:
            if x is None or (isinstance(x, float) and math.isnan(x)):
                return "—"
            return f"{x:+.3f}" if sign else f"{x:.3f}"

        for c, just in (("rank", "right"), ("name", "left"), (f"{self.metric} [95% CI]", "right"),
                        (f"vs {self.reference} [95% CI]", "right"), ("objects", "right")):
            t.add_column(c, justify=just)
        for e in self.entries:
            diff = "ref" if e.name == self.reference else \
                f"{f(e.diff, True)} [{f(e.diff_low, True)}, {f(e.diff_high, True)}]"
            t.add_row("base" if e.is_baseline else str(e.rank), e.name,
                      f"{f(e.mean)} [{f(e.ci_low)}, {f(e.ci_high)}]", diff,
                      f"{e.n_scored - e.n_dropped}" + (f" (-{e.n_dropped})" if e.n_dropped else ""))
        return t

    def render(self, fmt: str) -> Any:
        return {"md": self.to_markdown, "csv": self.to_csv, "json": self.to_json,
                "table": self.to_rich}[fmt]()

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    def c(v: Any) -> Any:
        if isinstance(v, float) and math.isnan(v):
            return None
        if isinstance(v, dict):
            return {k: c(x) for k, x in v.items()}
        return v
    return {k: c(v) for k, v in d.items()}


def _video_of(r: ResultsFolder, key: str) -> str:
    v = r.per_object[key].get("video")
    return v if isinstance(v, str) else key.rsplit("_", 1)[0]


def build_leaderboard(result_dirs: Sequence[str | Path], metric: str = DEFAULT_METRIC, *,
                      baseline: str | Path | None = None, n_boot: int = DEFAULT_BOOT,
                      seed: int = DEFAULT_SEED) -> Leaderboard:
    """Rank `result_dirs` by `metric` on their common objects; `baseline` (a results.json or its
    folder) joins the intersection and becomes the reference for paired differences."""
    runs = load_many(list(result_dirs))
    base = load_results(baseline) if baseline is not None else None
    if base is not None:
        base.name = f"{base.name} (baseline)" if any(r.name == base.name for r in runs) else base.name
    everyone = runs + ([base] if base is not None else [])
    for r in everyone:
        if metric not in r.metrics():
            raise BadInputError(f"metric {metric!r} is not in these results (they have: {', '.join(r.metrics())})",
                                path=r.file, hint="pick one with --metric")
    common = set(everyone[0].per_object)
    for r in everyone[1:]:
        common &= set(r.per_object)
    if not common:
        raise BadInputError("the results share no scored object, so they cannot be compared",
                            hint="score every run on the same dataset and videos")
    keys = sorted(common)
    videos = sorted({_video_of(everyone[0], k) for k in keys})
    code_of = {v: i for i, v in enumerate(videos)}
    codes = np.array([code_of[_video_of(everyone[0], k)] for k in keys])
    weights = video_weights(len(videos), n_boot=n_boot, seed=seed)
    side = [m for m in SIDE_METRICS if all(m in r.metrics() for r in everyone)]
    if metric not in side:
        side = [metric, *side]

    def values(r: ResultsFolder, m: str) -> np.ndarray:
        return np.array([_num(r.per_object[k].get(m)) for k in keys])

    reps: dict[str, np.ndarray] = {}
    entries: list[Entry] = []
    for r in everyone:
        v = values(r, metric)
        reps[r.name] = boot_means(v, codes, weights)
        lo, hi = percentile_ci(reps[r.name])
        entries.append(Entry(
            name=r.name, path=str(r.path), n_scored=len(r.per_object), n_dropped=len(r.per_object) - len(keys),
            mean=float(np.nanmean(v)) if np.isfinite(v).any() else math.nan, ci_low=lo, ci_high=hi,
            is_baseline=r is base,
            metrics={m: _mean(values(r, m)) for m in side}))
    ranked = sorted((e for e in entries if not e.is_baseline),
                    key=lambda e: (-e.mean if math.isfinite(e.mean) else math.inf, e.name))
    for i, e in enumerate(ranked, 1):
        e.rank = i
    ref = base.name if base is not None else ranked[0].name
    ref_mean = next(e.mean for e in entries if e.name == ref)
    for e in entries:
        if e.name == ref:
            e.diff = 0.0
            continue
        e.diff = e.mean - ref_mean
        e.diff_low, e.diff_high = percentile_ci(reps[e.name] - reps[ref])
    ordered = ranked + [e for e in entries if e.is_baseline]
    notes = [f"{e.name}: {e.n_dropped} of {e.n_scored} scored objects are not shared by every entry and were left out"
             for e in ordered if e.n_dropped]
    return Leaderboard(metric, ordered, len(keys), len(videos), ref, n_boot, seed, side, notes)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _mean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def gate_failures(board: Leaderboard, *, thresholds: Any = None, max_drop: float | None = None) -> list[str]:
    """One line per failed check: `--fail-under` thresholds on each ranked entry's common-set means,
    and `--max-drop` of the ranking metric against the baseline."""
    failures: list[str] = []
    if thresholds:
        from m3vos.analysis.gate import check_thresholds

        for e in board.entries:
            if e.is_baseline:
                continue
            for line in check_thresholds(e.metrics, thresholds):
                failures.append(f"{e.name}: {line}")
    if max_drop is not None:
        base = next((e for e in board.entries if e.is_baseline), None)
        if base is None:
            raise BadInputError("--max-drop needs --baseline OLD.json", hint="pass the baseline results to compare against")
        for e in board.entries:
            if e.is_baseline or e.diff is None:
                continue
            drop = base.mean - e.mean
            if drop > max_drop + 1e-12:
                failures.append(f"{e.name}: {board.metric} dropped {drop:.4f} against {base.name} "
                                f"({base.mean:.4f} -> {e.mean:.4f}), more than --max-drop {max_drop:g}")
    return failures
