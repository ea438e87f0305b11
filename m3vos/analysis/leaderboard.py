"""Rank result folders on the objects they all scored, with intervals and a CI gate.

Comparing means over different object sets is how leaderboards lie, so every entry is scored on
the intersection of the scored objects with a defined value (and each entry says how many of its
objects were left out). Only runs scored the same way are compared (`contract.check_comparable`),
and every metric is ranked in its own direction (Decay: lower is better). Intervals resample
videos (`stats.video_weights`) with a fixed seed; the same resamples are used for every entry, so
differences between entries are paired.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import pandas as pd

from m3vos.analysis.results_io import ResultsFolder, load_many, load_results
from m3vos.analysis.stats import DEFAULT_BOOT, DEFAULT_SEED, boot_means, percentile_ci, video_weights
from m3vos.errors import BadInputError
from m3vos.metrics.contract import RANDOM_WEIGHTS_MARK, check_comparable, metric_spec, provenance
from m3vos.utils.jsonvalues import nan_to_none

if TYPE_CHECKING:
    from rich.console import JustifyMethod

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
    flags: list[str] = field(default_factory=list)            # MIXED, random weights
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """A ranked table; render it with `to_markdown`, `to_csv`, `to_json`, `to_latex`, `to_rich`."""

    metric: str
    entries: list[Entry]
    n_common: int
    n_videos: int
    reference: str                     # entry the differences are taken against
    n_boot: int = DEFAULT_BOOT
    seed: int = DEFAULT_SEED
    side_metrics: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    percent: bool = False              # print tables as 75.6 (JSON and CSV stay fractions)
    mixed: bool = False                # --allow-mixed let differently scored runs in
    show_ci: bool = True               # intervals in the LaTeX table

    @property
    def higher_is_better(self) -> bool:
        spec = metric_spec(self.metric)
        return spec is None or spec.higher_is_better

    # --- rendering ---------------------------------------------------------------------------
    def _num(self, x: float | None, sign: bool = False, digits: int = 4) -> str:
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "—"
        if self.percent:
            return f"{x * 100:+.1f}" if sign else f"{x * 100:.1f}"
        return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"

    def _side(self) -> list[str]:
        return [m for m in self.side_metrics if m != self.metric]

    def columns(self) -> list[str]:
        arrow = "↑" if self.higher_is_better else "↓"
        return ["rank", "name", f"{self.metric} {arrow}", "ci95", f"diff vs {self.reference}", "diff ci95",
                *self._side(), "objects", "dropped", "flags"]

    def rows(self) -> list[list[str]]:
        f = self._num
        out = []
        for e in self.entries:
            diff = "ref" if e.name == self.reference else f(e.diff, True)
            dci = "" if e.name == self.reference else f"[{f(e.diff_low, True)}, {f(e.diff_high, True)}]"
            out.append([
                "base" if e.is_baseline else str(e.rank), e.name, f(e.mean),
                f"[{f(e.ci_low)}, {f(e.ci_high)}]", diff, dci,
                *[f(e.metrics.get(m)) for m in self._side()],
                str(e.n_scored - e.n_dropped), str(e.n_dropped), "; ".join(e.flags)])
        return out

    def caption(self) -> str:
        units = "percent" if self.percent else "fractions"
        return (f"{self.n_common} objects in {self.n_videos} videos scored by every entry; "
                f"{self.metric}: {'higher' if self.higher_is_better else 'lower'} is better ({units}); "
                f"95% intervals: {self.n_boot} bootstrap resamples of videos (seed {self.seed}); "
                f"differences paired against {self.reference}."
                + (" MIXED: these runs were scored differently; the comparison is not valid." if self.mixed else ""))

    def provenance_frame(self) -> pd.DataFrame:
        rows = []
        for e in self.entries:
            p = {k: v for k, v in e.provenance.items() if k != "random_weights"}
            p["run"] = e.name
            rows.append(p)
        return pd.DataFrame(rows)

    def to_markdown(self) -> str:
        cols = self.columns()
        lines = [f"### Leaderboard: {self.metric}", "",
                 "| " + " | ".join(cols) + " |",
                 "|" + "|".join("---:" if i not in (1, len(cols) - 1) else "---" for i in range(len(cols))) + "|"]
        for r in self.rows():
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
        lines += ["", self.caption()]
        lines += [f"- {n}" for n in self.notes]
        prov = self.provenance_frame()
        if len(prov):
            from m3vos.analysis.export import TableStyle, to_markdown

            lines += ["", "#### Provenance", "", to_markdown(prov, TableStyle()).rstrip()]
        return "\n".join(lines) + "\n"

    def to_frame(self) -> pd.DataFrame:
        """One row per entry: fractions, intervals, counts, flags and provenance (for CSV, JSON, LaTeX)."""
        rows = []
        for e in self.entries:
            row: dict[str, Any] = {
                "rank": e.rank if not e.is_baseline else None, "name": e.name, self.metric: e.mean,
                "ci_low": e.ci_low, "ci_high": e.ci_high, "diff": e.diff, "diff_low": e.diff_low,
                "diff_high": e.diff_high,
                **{m: e.metrics.get(m) for m in self._side()},
                "objects": e.n_scored - e.n_dropped, "dropped": e.n_dropped, "baseline": e.is_baseline,
                "flags": "; ".join(e.flags)}
            rows.append(row)
        df = pd.DataFrame(rows)
        df["rank"] = df["rank"].astype("Int64")
        return df

    def style(self, *, ci: bool = True) -> Any:
        from m3vos.analysis.export import TableStyle

        from m3vos.metrics.contract import directions

        return TableStyle(directions=directions([self.metric, *self._side()]),
                          ci={self.metric: ("ci_low", "ci_high"), "diff": ("diff_low", "diff_high")} if ci else None,
                          fractions=("diff",), percent=self.percent,
                          caption=f"Leaderboard: {self.metric}. {self.caption()}", label="tab:m3vos-leaderboard",
                          notes=list(self.notes))

    def to_csv(self) -> str:
        df = self.to_frame()
        df.insert(2, "path", [e.path for e in self.entries])
        df.insert(3, "metric", self.metric)
        df["reference"] = self.reference
        df["n_common"] = df["objects"]
        df["n_dropped"] = df["dropped"]
        df["is_baseline"] = df["baseline"]
        df = df.rename(columns={self.metric: "mean"})
        prov = self.provenance_frame().drop(columns=["run"], errors="ignore")
        for c in prov.columns:
            df[c] = prov[c].values
        if self.metric in self.side_metrics:     # the ranking metric also under its own name
            df[self.metric] = df["mean"]
        return df.to_csv(index=False, lineterminator="\n")

    def to_latex(self, *, ci: bool | None = None) -> str:
        """A booktabs table, one row per entry, best per metric column in bold (its direction)."""
        from m3vos.analysis.export import to_latex

        ci = self.show_ci if ci is None else ci
        df = self.to_frame().drop(columns=["baseline"])
        df["rank"] = [str(r) if r is not pd.NA else "base" for r in df["rank"]]
        if not ci:
            df = df.drop(columns=["ci_low", "ci_high", "diff_low", "diff_high"])
        prov_lines = [f"{e.name}: " + ", ".join(f"{k}={v}" for k, v in e.provenance.items()
                                                 if k not in ("run", "random_weights"))
                      for e in self.entries]
        st = self.style(ci=ci)
        st.notes = [*self.notes, *prov_lines]
        return to_latex(df, st)

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "m3vos-leaderboard/1", "metric": self.metric,
                "direction": "higher" if self.higher_is_better else "lower", "units": "fractions",
                "reference": self.reference, "mixed": self.mixed,
                "n_common_objects": self.n_common, "n_videos": self.n_videos, "n_boot": self.n_boot,
                "seed": self.seed, "entries": [nan_to_none(asdict(e)) for e in self.entries], "notes": self.notes}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

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
                t.add_column(c, justify="left" if i in (1, len(self.columns()) - 1) else "right")
            for r in self.rows():
                t.add_row(*r)
            return t

        def f(x: float | None, sign: bool = False) -> str:
            return self._num(x, sign, digits=3)

        columns: list[tuple[str, JustifyMethod]] = [
            ("rank", "right"), ("name", "left"), (f"{self.metric} [95% CI]", "right"),
            (f"vs {self.reference} [95% CI]", "right"), ("objects", "right")]
        for c, just in columns:
            t.add_column(c, justify=just)
        for e in self.entries:
            diff = "ref" if e.name == self.reference else \
                f"{f(e.diff, True)} [{f(e.diff_low, True)}, {f(e.diff_high, True)}]"
            name = e.name + "".join(f" ({fl})" for fl in e.flags)
            t.add_row("base" if e.is_baseline else str(e.rank), name,
                      f"{f(e.mean)} [{f(e.ci_low)}, {f(e.ci_high)}]", diff,
                      f"{e.n_scored - e.n_dropped}" + (f" (-{e.n_dropped})" if e.n_dropped else ""))
        return t

    def render(self, fmt: str) -> Any:
        return {"md": self.to_markdown, "csv": self.to_csv, "json": self.to_json, "tex": self.to_latex,
                "table": self.to_rich}[fmt]()

    def write(self, out: str | Path, formats: Sequence[str] = ("md", "csv", "json", "tex")) -> list[Path]:
        """`out/leaderboard.{md,csv,json,tex}`; or, when `out` ends in one of those suffixes, that one file.

        Everything is rendered before anything is written; a bad folder or a failing disk is an
        `EnvError` (exit 3)."""
        from m3vos.analysis.export import ensure_dir, write_text

        out = Path(out)
        suffix = out.suffix.lstrip(".")
        if suffix in ("md", "csv", "json", "tex") and not out.is_dir():
            text = self.render(suffix)
            ensure_dir(out.parent)
            return [write_text(out, text)]
        texts = {f: self.render(f) for f in formats}
        ensure_dir(out)
        return [write_text(out / f"leaderboard.{f}", t) for f, t in texts.items()]

    def entry(self, name: str) -> Entry:
        return next(e for e in self.entries if e.name == name)


def _video_of(r: ResultsFolder, key: str) -> str:
    v = r.per_object[key].get("video")
    return v if isinstance(v, str) else key.rsplit("_", 1)[0]


def build_leaderboard(result_dirs: Sequence[str | Path], metric: str = DEFAULT_METRIC, *,
                      baseline: str | Path | None = None, n_boot: int = DEFAULT_BOOT,
                      seed: int = DEFAULT_SEED, allow_mixed: bool = False,
                      names: dict[str, str] | None = None, show: Sequence[str] | None = None,
                      percent: bool = False) -> Leaderboard:
    """Rank `result_dirs` by `metric` on their common objects; `baseline` (a results.json or its
    folder) joins the intersection and becomes the reference for paired differences.

    Runs scored under another protocol, other number-changing options or other ground truth are
    refused (`BadInputError`) unless `allow_mixed`, which marks every entry MIXED instead.
    `names` maps paths to display names; `show` picks the side columns (default: the main means).
    """
    spec = metric_spec(metric)
    if spec is None:
        raise BadInputError(f"{metric!r} is not a metric", hint="use an official CSV name, e.g. J-Mean, J-Decay, J_cc-Mean")
    runs = load_many(list(result_dirs), names=names)
    base = load_results(baseline) if baseline is not None else None
    if base is not None:
        base.name = f"{base.name} (baseline)" if any(r.name == base.name for r in runs) else base.name
    everyone = runs + ([base] if base is not None else [])
    for r in everyone:
        if metric not in r.metrics():
            raise BadInputError(f"metric {metric!r} is not in these results (they have: {', '.join(r.metrics())})",
                                path=r.file, hint="pick one with --metric")
    notes = check_comparable(everyone, allow_mixed=allow_mixed)
    mixed = any(n.startswith("MIXED") for n in notes)
    shared_keys = set(everyone[0].per_object)
    for r in everyone[1:]:
        shared_keys &= set(r.per_object)
    if not shared_keys:
        raise BadInputError("the results share no scored object, so they cannot be compared",
                            hint="score every run on the same dataset and videos")
    # an object whose ranking metric is undefined (null) in any entry is not common either
    keys = sorted(k for k in shared_keys if all(r.per_object[k].get(metric) is not None for r in everyone))
    undefined = len(shared_keys) - len(keys)
    if not keys:
        raise BadInputError(f"no shared object has a defined {metric} in every run", hint="pick another --metric")
    videos = sorted({_video_of(everyone[0], k) for k in keys})
    code_of = {v: i for i, v in enumerate(videos)}
    codes = np.array([code_of[_video_of(everyone[0], k)] for k in keys])
    weights = video_weights(len(videos), n_boot=n_boot, seed=seed)
    shared = [m for m in everyone[0].metrics() if all(m in r.metrics() for r in everyone)]
    if show:
        unknown = [m for m in show if m not in shared]
        if unknown:
            raise BadInputError(f"--show names {unknown[0]!r}, which not every run has",
                                hint=f"use some of: {', '.join(shared)}")
        side = [metric, *[m for m in show if m != metric]]
    else:
        side = [metric, *[m for m in SIDE_METRICS if m in shared and m != metric]]

    def values(r: ResultsFolder, m: str) -> np.ndarray:
        return np.array([_num(r.per_object[k].get(m)) for k in keys])

    reps: dict[str, np.ndarray] = {}
    entries: list[Entry] = []
    for r in everyone:
        v = values(r, metric)
        reps[r.name] = boot_means(v, codes, weights)
        lo, hi = percentile_ci(reps[r.name])
        prov = provenance(r)
        flags = ["MIXED"] if mixed else []
        if prov["random_weights"]:
            flags.append(RANDOM_WEIGHTS_MARK)
        entries.append(Entry(
            name=r.name, path=str(r.path), n_scored=len(r.per_object), n_dropped=len(r.per_object) - len(keys),
            mean=_mean(v), ci_low=lo, ci_high=hi, is_baseline=r is base,
            metrics={m: _mean(values(r, m)) for m in shared}, flags=flags, provenance=prov))
    sign = -1.0 if spec.higher_is_better else 1.0
    ranked = sorted((e for e in entries if not e.is_baseline),
                    key=lambda e: (sign * e.mean if math.isfinite(e.mean) else math.inf, e.name))
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
    if undefined:
        notes.append(f"{undefined} shared object(s) have an undefined (null) {metric} in some run and were left out")
    notes += [f"{e.name}: {e.n_dropped} of {e.n_scored} scored objects are not shared by every entry "
              f"(or undefined) and were left out" for e in ordered if e.n_dropped]
    notes += [f"{e.name}: {RANDOM_WEIGHTS_MARK}" for e in ordered if e.provenance.get("random_weights")]
    return Leaderboard(metric, ordered, len(keys), len(videos), ref, n_boot, seed, side, notes,
                       percent=percent, mixed=mixed)


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _mean(v: np.ndarray) -> float:
    return float(np.nanmean(v)) if np.isfinite(v).any() else math.nan


def gate_failures(board: Leaderboard, *, thresholds: Any = None, max_drop: float | None = None) -> list[str]:
    """One line per failed check: `--fail-under`/`--fail-over` thresholds on each ranked entry's
    common-set means (any metric every entry has), and `--max-drop`: the ranking metric may not
    get worse than the baseline by more than this, in the metric's own direction."""
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
            if not math.isfinite(e.mean) or not math.isfinite(base.mean):
                failures.append(f"{e.name}: {board.metric} is undefined, cannot check --max-drop")
                continue
            worse = base.mean - e.mean if board.higher_is_better else e.mean - base.mean
            if worse > max_drop + 1e-12:
                verb = "dropped" if board.higher_is_better else "rose (worse: lower is better)"
                failures.append(f"{e.name}: {board.metric} {verb} {worse:.4f} against {base.name} "
                                f"({base.mean:.4f} -> {e.mean:.4f}), more than --max-drop {max_drop:g}")
    return failures


@dataclass
class GatedLeaderboard:
    """What `rank_results` did: the board, the gate failures (one line each) and the files written."""

    board: Leaderboard
    failures: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def rank_results(result_dirs: Sequence[str | Path], metric: str = DEFAULT_METRIC, *,
                 fail_under: Sequence[str] | None = None, fail_over: Sequence[str] | None = None,
                 baseline: str | Path | None = None, max_drop: float | None = None,
                 out: str | Path | None = None, show_ci: bool = True, **build: Any) -> GatedLeaderboard:
    """`m3vos leaderboard` as one call: check the gates, rank (`build_leaderboard`, which takes
    the other keywords), gate, and write the board into `out` when given (an unwritable `out`
    fails here, before anything is printed). Gate failures are returned, not raised."""
    from m3vos.analysis.gate import OVER, parse_thresholds

    thresholds = parse_thresholds(fail_under) + parse_thresholds(fail_over, OVER)
    if max_drop is not None and baseline is None:
        raise BadInputError("--max-drop needs --baseline", hint="pass --baseline OLD/results.json")
    board = build_leaderboard(result_dirs, metric=metric, baseline=baseline, **build)
    board.show_ci = show_ci
    failures = gate_failures(board, thresholds=thresholds, max_drop=max_drop)
    written = board.write(out) if out is not None else []
    return GatedLeaderboard(board, failures, written)
