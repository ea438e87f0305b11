"""The paper's entropy hypothesis, tested: is the shape entropy higher in the latter half?

For each dataset (any supported layout, so M3-VOS can sit beside DAVIS or VOST in one table)
and each phase-transition group (where the benchmark has labels): the mean first-half and
latter-half entropy, their paired difference with a 95% video-bootstrap interval and a paired
t-test over videos. Rows for a whole dataset pair videos; rows for a group pair its objects,
resampled and tested by video (`m3vos.analysis.paired`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from m3vos.analysis.entropy_report import EntropyReport, compute_entropy, correlate_with_scores
from m3vos.utils.jsonvalues import nan_to_none

ALL = "all"
COLUMNS = ["dataset", "benchmark", "group", "unit", "n", "videos", "first_half", "latter_half", "change",
           "ci_low", "ci_high", "p_value", "increasing"]


@dataclass
class DatasetEntropy:
    label: str
    dataset: Any
    report: EntropyReport


@dataclass
class Hypothesis:
    definition: str
    table: pd.DataFrame
    datasets: list[DatasetEntropy] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    out_dir: Path | None = None     # where `entropy_study` wrote `files`


def _row(label: str, bench: str, group: str, unit: str, first: pd.Series, second: pd.Series,
         videos: pd.Series) -> dict[str, Any]:
    from m3vos.analysis.paired import paired

    p = paired(first.to_numpy(float), second.to_numpy(float), videos.astype(str).to_numpy())
    both = first.notna() & second.notna()
    inc = int(((second - first)[both] > 0).sum())
    return {"dataset": label, "benchmark": bench, "group": group, "unit": unit, "n": p.n, "videos": p.n_videos,
            "first_half": p.mean_a, "latter_half": p.mean_b, "change": p.diff, "ci_low": p.ci_low,
            "ci_high": p.ci_high, "p_value": p.p_value, "increasing": f"{inc}/{int(both.sum())}"}


def hypothesis_rows(item: DatasetEntropy) -> list[dict[str, Any]]:
    """One row for the dataset (videos paired), then one per transition group (objects paired)."""
    from m3vos.analysis.breakdowns import UNLABELLED

    bench = item.dataset.benchmark
    pv = item.report.per_video
    rows = [_row(item.label, bench.name, ALL, "videos", pv["first_half"], pv["second_half"], pv["video"])]
    if not bench.groups:
        return rows
    po = item.report.per_object.copy()
    po["group"] = [item.dataset.target_object(v, int(k)).group or UNLABELLED
                   for v, k in zip(po["video"], po["object_id"])]
    for group in sorted(po["group"].unique(), key=lambda g: (g == UNLABELLED, g)):
        sub = po[po["group"] == group]
        rows.append(_row(item.label, bench.name, group, "objects", sub["first_half"], sub["second_half"],
                         sub["video"]))
    return rows


def _labels(datasets: list[Any]) -> list[str]:
    names = [f"{d.benchmark.name}:{d.root.resolve().name}" for d in datasets]
    return [n if names.count(n) == 1 else f"{n}#{i + 1}" for i, n in enumerate(names)]


def entropy_hypothesis(datasets: list[Any], *, definition: str = "lbp", max_frames: int | None = None,
                            videos: list[str] | None = None, workers: int | None = None,
                            progress: bool | None = None) -> Hypothesis:
    """Entropy of every dataset's ground truth and the hypothesis table over all of them."""
    items = []
    for label, ds in zip(_labels(datasets), datasets):
        rep = compute_entropy(ds, definition=definition, max_frames=max_frames, videos=videos,
                              progress=progress, workers=workers)
        items.append(DatasetEntropy(label, ds, rep))
    rows = [r for it in items for r in hypothesis_rows(it)]
    return Hypothesis(definition, pd.DataFrame(rows, columns=COLUMNS), items)


def to_markdown(df: pd.DataFrame) -> str:
    """The table as markdown, formatted as every m3vos report table."""
    from m3vos.analysis.report import md_table

    return md_table(df) + "\n"


def hypothesis_plot(df: pd.DataFrame, path: str | Path, *, title: str) -> Path:
    """Forest plot: latter-half minus first-half entropy with its 95% CI, one line per row."""
    from m3vos.analysis.plots import pyplot, save_figure

    plt = pyplot()
    n = max(len(df), 1)
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.32 * n), dpi=120)
    ys = list(range(len(df)))[::-1]
    for y, (_, r) in zip(ys, df.iterrows()):
        colour = "tab:blue" if r["group"] == ALL else "tab:orange"
        if not math.isnan(r["ci_low"]):
            ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=colour, lw=2)
        ax.plot([r["change"]], [y], "o", color=colour)
    ax.axvline(0, color="0.4", ls=":", lw=1)
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r['dataset']} · {r['group']} (n={r['n']})" for _, r in df.iterrows()], fontsize=7)
    ax.set_xlabel("latter-half minus first-half entropy (95% CI over videos)")
    import textwrap

    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def write_hypothesis(h: Hypothesis, out_dir: str | Path) -> list[Path]:
    """Per dataset its usual entropy files (in a sub-folder when there are several), then
    hypothesis.{csv,md,json}, entropy_hypothesis.png and, for several datasets, curves of all."""
    import json

    from m3vos.analysis.entropy_report import write_entropy_report
    from m3vos.analysis.plots import entropy_curves_plot
    from m3vos.utils.atomic import atomic_write_text

    out_dir = Path(out_dir)
    files: list[Path] = []
    several = len(h.datasets) > 1
    for it in h.datasets:
        files += write_entropy_report(it.report, out_dir / it.label.replace(":", "-") if several else out_dir)
    label = h.datasets[0].report.summary["label"] if h.datasets else h.definition
    doc = {"schema": "m3vos-entropy-hypothesis/1", "definition": h.definition, "label": label,
           "test": "paired t-test over videos; 95% percentile bootstrap over videos (seed 0)",
           "rows": json.loads(h.table.to_json(orient="records"))}
    texts = {out_dir / "hypothesis.csv": h.table.to_csv(index=False),
             out_dir / "hypothesis.md": to_markdown(h.table),
             out_dir / "hypothesis.json": json.dumps(nan_to_none(doc), indent=1, allow_nan=False) + "\n"}
    for p, text in texts.items():
        atomic_write_text(p, text)
    files += list(texts)
    files.append(hypothesis_plot(h.table, out_dir / "entropy_hypothesis.png", title=f"entropy hypothesis: {label}"))
    if several:
        files.append(entropy_curves_plot({it.label: it.report.curves for it in h.datasets},
                                         out_dir / "entropy_over_time.png", title=label))
    h.files = files
    return files


def entropy_study(roots: list[str | Path | None], *, benchmarks: list[str] | None = None, split: str = "val",
                  definition: str = "lbp", max_frames: int | None = None, videos: list[str] | None = None,
                  preds: str | Path | None = None, metric: str = "J-Mean", out: str | Path | None = None,
                  workers: int | None = None, progress: bool | None = None,
                  say: Callable[[str], None] | None = None) -> Hypothesis:
    """`m3vos entropy-report` as one call: open the roots, compute, correlate, write.

    `benchmarks`: none (from the layout), one for every root, or one per root. `preds`: scored
    predictions to correlate with (its results.json, or an in-memory score when it has none;
    one dataset only). `out` default: PREDS/report/entropy-DEF, else ./entropy-DEF. Returns the
    hypothesis with `files` set; `Hypothesis.out_dir` is where they went.
    """
    from m3vos.analysis.scoring import results_or_score
    from m3vos.data.dataset import open_dataset
    from m3vos.errors import BadInputError

    roots = list(roots) or [None]
    kinds: list[str | None] = list(benchmarks or [])
    if len(kinds) not in (0, 1, len(roots)):
        raise BadInputError(f"--dataset given {len(kinds)} times for {len(roots)} roots",
                            hint="give it once (for every root) or once per root, in the same order")
    kinds = kinds * len(roots) if len(kinds) == 1 else (kinds or [None] * len(roots))
    datasets = [open_dataset(r, split=split, benchmark=k) for r, k in zip(roots, kinds)]
    if preds is not None and len(datasets) > 1:
        raise BadInputError("--preds correlates with one dataset only", hint="pass one root with --preds")
    if videos:
        for ds in datasets:
            for v in videos:
                ds.video(v)       # unknown names: one-line error with suggestions
    h = entropy_hypothesis(datasets, definition=definition, max_frames=max_frames or None, videos=videos or None,
                           progress=progress, workers=workers)
    if preds is not None:
        preds = Path(preds)
        correlate_with_scores(h.datasets[0].report, results_or_score(preds, datasets[0], say=say), metric=metric)
    out_dir = Path(out) if out is not None else (
        (preds if preds.is_dir() else preds.parent) / "report" / f"entropy-{definition}"
        if preds is not None else Path(f"entropy-{definition}"))
    write_hypothesis(h, out_dir)
    h.out_dir = out_dir
    return h
