"""CLI commands: `m3vos breakdowns`, `entropy-report`, `report`, `leaderboard` (thin over `m3vos.analysis`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import List, Optional

import typer

from m3vos_cli.common import OutputFormat, err_console, note, parse_names, shared, split_list
from m3vos_cli.common import wide_console as console


class Definition(str, Enum):
    official = "official"
    lbp = "lbp"


BREAKDOWNS_HELP = """List the declared breakdowns, or compute them for a results folder.

Every breakdown is a group-by over the per-object table (one row per scored object, with its
labels and ground-truth attributes); each row's number is the plain mean over its objects, with
the object count beside it. Unlabelled objects and objects outside the dataset get rows of their
own.

Examples:

  m3vos breakdowns                                 # what exists

  m3vos breakdowns preds/ --names transition,group,size

  m3vos breakdowns preds/ --names all --format json > breakdowns.json
"""


def breakdowns(
    results: Optional[Path] = typer.Argument(None, help="A results folder (holds results.json); omit to list."),
    names: str = typer.Option("transition,group,intra,core,difficulty,size,velocity", "--names", "-n",
                              help="Comma-separated breakdown names, or `all`."),
    data: Optional[Path] = shared("data", "Dataset root (default: the one the results were scored on)."),
    labels: Optional[Path] = typer.Option(None, "--labels",
                                          help="Folder with the official label files (all_phase_label.json, ...)."),
    fmt: OutputFormat = shared("format"),
) -> None:
    from m3vos.analysis.breakdowns import BREAKDOWNS

    if results is None:
        from rich.table import Table

        t = Table(title="declared breakdowns", title_justify="left")
        for c in ("name", "column", "needs", "what"):
            t.add_column(c)
        for b in BREAKDOWNS.values():
            t.add_row(b.name, b.column, ",".join(b.gt) or "labels", b.description)
        console.print(t)
        return
    from m3vos.analysis.report import breakdowns_document, results_breakdowns

    section = results_breakdowns(results, names, data=data, labels=labels)
    if fmt == OutputFormat.table:
        from m3vos.analysis.breakdowns import render_breakdowns

        for t in render_breakdowns(section):
            console.print(t)
    else:
        typer.echo(breakdowns_document(section, fmt.value), nl=False)


ENTROPY_HELP = """Shape entropy of the ground-truth masks, first half vs second half of each video.

--definition official reproduces the paper's h_LBP literally (palette -> luminance, one 0/1 mask per
grey value, uniform LBP P=32 R=4, a 35-bin density histogram, skimage shannon_entropy of that
histogram array, first vs second half per video, mean over videos). That statistic is not
monotone in shape disorder; use it only to compare with the paper.

--definition lbp (default, NON-OFFICIAL) is m3vos's per-object entropy of the uniform-LBP code
histogram (one bin per code) over the object's boundary band, void excluded.

Writes per_video.csv, per_object.csv, summary.json, curves.json and entropy_over_time.png into
--out (one sub-folder per dataset when several roots are given), and the hypothesis test:
hypothesis.csv/.md/.json and entropy_hypothesis.png: per dataset and per transition group,
latter-half minus first-half entropy with a 95% video-bootstrap CI and a paired t-test over
videos. Any supported layout works (M3-VOS, DAVIS 2017, VOST, YouTube-VOS, MOSE). With --preds
(a scored predictions/results folder), adds the Spearman correlation, with a video-bootstrap 95%
interval, between each object's entropy change and its J.

Examples:

  m3vos entropy-report ~/M3-VOS --definition official --max-frames 64

  m3vos entropy-report ds/ --preds preds/ --out entropy/

  m3vos entropy-report ~/M3-VOS ~/DAVIS --dataset m3vos --dataset davis2017
"""


def entropy_report(
    data: Optional[List[Path]] = typer.Argument(None, help="Dataset root(s) (default: the configured dataset). "
                                                            "Several roots: one report beside the other."),
    definition: Definition = typer.Option(Definition.lbp, "--definition",
                                          help="official (paper's h_LBP, literal) or lbp (m3vos, non-official)."),
    dataset_kind: Optional[List[str]] = shared("benchmark", "Benchmark of the root(s): davis2017, vost, ytvos, "
                                                            "mose, m3vos (once for all roots, or once per root; "
                                                            "default: from the layout)."),
    preds: Optional[Path] = typer.Option(None, "--preds",
                                         help="Scored predictions (a folder with results.json) to correlate with "
                                              "(one dataset only)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Output folder (default: PREDS/report/entropy-DEF, else ./entropy-DEF)."),
    max_frames: int = typer.Option(0, "--max-frames", min=0,
                                   help="Evenly sample at most N frames per video (0: every frame, the "
                                        "official procedure; LBP with P=32 costs ~0.2 s per 480p mask)."),
    videos: Optional[str] = shared("videos"),
    split: str = shared("split"),
    metric: str = shared("metric", "Per-object metric correlated with entropy change."),
    workers: Optional[int] = shared("workers"),
    fmt: OutputFormat = shared("format", help="table (people), json (summary and hypothesis rows), csv or md "
                                              "(the hypothesis table)."),
) -> None:
    import json

    from m3vos.analysis.entropy_hypothesis import entropy_study, to_markdown
    from m3vos.analysis.entropy_report import nan_to_none

    h = entropy_study(list(data or []), benchmarks=dataset_kind, split=split, definition=definition.value,
                      max_frames=max_frames or None, videos=split_list(videos), preds=preds, metric=metric,
                      out=out, workers=workers, progress=None if fmt == OutputFormat.table else False,
                      say=note)
    rep = h.datasets[0].report
    if fmt == OutputFormat.json:
        typer.echo(json.dumps(nan_to_none({"summary": rep.summary, "correlation": rep.correlation,
                                           "summaries": {it.label: it.report.summary for it in h.datasets},
                                           "hypothesis": json.loads(h.table.to_json(orient="records")),
                                           "files": [str(f) for f in h.files]}), indent=1, allow_nan=False))
        return
    if fmt == OutputFormat.csv:
        typer.echo(h.table.to_csv(index=False), nl=False)
        return
    if fmt == OutputFormat.md:
        typer.echo(to_markdown(h.table), nl=False)
        return
    if len(h.datasets) == 1:
        _render_entropy(rep)
    _render_hypothesis(h.table)
    console.print(f"written: {h.out_dir}/ ({', '.join(sorted({f.name for f in h.files}))})")


def _render_hypothesis(df) -> None:
    from rich.table import Table

    def f(x) -> str:
        return "—" if x is None or x != x else f"{x:.4f}"

    t = Table(title="entropy hypothesis: latter half minus first half (95% CI over videos, paired t-test)",
              title_justify="left")
    for c in ("dataset", "group", "n", "first half", "latter half", "change [95% CI]", "p", "increasing"):
        t.add_column(c, justify="left" if c in ("dataset", "group") else "right")
    for _, r in df.iterrows():
        t.add_row(r["dataset"], r["group"], f"{r['n']} {r['unit']}", f(r["first_half"]), f(r["latter_half"]),
                  f"{f(r['change'])} [{f(r['ci_low'])}, {f(r['ci_high'])}]", f(r["p_value"]), r["increasing"])
    console.print(t)


def _render_entropy(rep) -> None:
    from rich.table import Table

    s = rep.summary

    def f(x) -> str:
        return "—" if x is None or x != x else f"{x:.4f}"

    t = Table(title=f"entropy: {s['label']}", title_justify="left")
    t.add_column("videos", justify="right")
    t.add_column("first half", justify="right")
    t.add_column("second half", justify="right")
    t.add_column("mean change", justify="right")
    t.add_column("videos increasing", justify="right")
    t.add_row(str(s["n_videos"]), f(s["first_half"]), f(s["second_half"]), f(s["mean_change"]),
              f"{s['videos_increasing']}/{s['videos_with_both_halves']}")
    console.print(t)
    pv = Table(title="per video", title_justify="left")
    for c in ("video", "frames", "first half", "second half", "change"):
        pv.add_column(c, justify="left" if c == "video" else "right")
    for _, r in rep.per_video.head(30).iterrows():
        pv.add_row(r["video"], str(r["frames_used"]), f(r["first_half"]), f(r["second_half"]), f(r["change"]))
    console.print(pv)
    if len(rep.per_video) > 30:
        console.print(f"... {len(rep.per_video) - 30} more videos in per_video.csv")
    c = rep.correlation
    if c:
        console.print(f"Spearman({c['x']}, {c['metric']}) = {f(c['rho'])}  95% CI [{f(c['ci95'][0])}, "
                      f"{f(c['ci95'][1])}]  n = {c['n_objects']} objects in {c['n_videos']} videos")


REPORT_HELP = """Plots, tables and a contact sheet of the worst objects, for one or several results folders.

Writes PNG figures (J per transition and per group with object counts, J vs ln size and ln
velocity with a smoothed trend and bin means, J over normalised time for the worst objects, GT
entropy curves, a contact sheet: image | ground truth | each run's prediction), a self-contained
report.html (figures embedded, click a header to sort) and a report.md summary. Several folders
are drawn side by side, into FIRST/report-vs-OTHERS/ (a single-run report is never overwritten).

Each report states every run's provenance (protocol, options, J_cc variant, m3vos version,
dataset fingerprint, tracker, config, weights, scoring date); breakdown rows carry their object
count and a 95% bootstrap interval over videos, rows of fewer than 3 objects are marked. Runs
scored differently are refused (exit 2) unless --allow-mixed.

Examples:

  m3vos report preds/                      # -> preds/report/

  m3vos report cutie/ revos/ --out cmp/ --format md
"""


class ReportFormat(str, Enum):
    html = "html"
    md = "md"


def report(
    results: list[Path] = typer.Argument(..., help="One or more results folders (each holds results.json)."),
    formats: Optional[List[ReportFormat]] = typer.Option(None, "--format", "-f",
                                                         help="Which report to write: html (report.html) or md "
                                                              "(report.md), repeatable (default: both)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder (default: FIRST/report/)."),
    data: Optional[Path] = shared("data", "Dataset root (default: the one the results were scored on)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Folder with the official label files."),
    metric: str = shared("metric", "Metric the plots and worst-object lists use."),
    worst: int = typer.Option(6, "--worst", min=1, max=50, help="How many worst objects to show."),
    entropy: bool = typer.Option(True, "--entropy/--no-entropy", help="Compute GT entropy curves (slower)."),
    names: Optional[list[str]] = shared("names"),
    allow_mixed: bool = shared("allow_mixed", "Report runs scored differently anyway (marked MIXED)."),
    percent: bool = shared("percent", "Tables in the paper convention (75.6); the CSVs stay fractions."),
) -> None:
    from m3vos.analysis.report import write_report

    chosen = set(formats or [ReportFormat.html, ReportFormat.md])
    rep = write_report(results, out, data=data, labels=labels, html_page=ReportFormat.html in chosen,
                       markdown=ReportFormat.md in chosen, worst=worst, entropy=entropy, metric=metric,
                       allow_mixed=allow_mixed, names=parse_names(names), percent=percent)
    from rich.table import Table

    t = Table(title="summary", title_justify="left")
    summary = rep.table(rep.summary)
    for c in summary.columns:
        t.add_column(str(c), justify="left" if c == "run" else "right")
    for _, r in summary.iterrows():
        t.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in r))
    console.print(t)
    for name in ("group", "intra"):
        if name in rep.breakdowns:
            df = rep.breakdown(name)
            bt = Table(title=f"{metric} per {name}", title_justify="left")
            for c in df.columns:
                bt.add_column(str(c), justify="left" if c == "value" else "right")
            for _, r in df.iterrows():
                bt.add_row(*("—" if v is None or v != v else (f"{v:.4f}" if isinstance(v, float) else str(v))
                             for v in r))
            console.print(bt)
    for n in rep.notes:
        if n.startswith("MIXED"):
            err_console.print(f"WARNING: {n}", markup=False)
        else:
            note(n)
    console.print(f"report: {rep.out_dir}/ ({len(rep.files)} files: "
                  f"{', '.join(p.name for p in rep.files)})")


LEADERBOARD_HELP = """Rank results folders on the objects they all scored, and gate CI on it.

Every entry is scored on the intersection of the objects every run scored with a defined value
(the table says how many each entry lost). Each metric is ranked in its own direction (Decay:
lower is better). 95% intervals come from a bootstrap over videos (fixed seed); differences to the
best entry (or to --baseline) are paired, computed on the same resamples.

Only comparable runs are ranked: the same protocol, the same number-changing options (--jcc,
--void-aware, --compat-decay) and the same ground truth (dataset fingerprint). Anything else is
exit 2 naming both runs and the field; --allow-mixed ranks them anyway, marked MIXED everywhere.

CI gate: exit 1 when a --fail-under / --fail-over threshold is not met by an entry, or when the
ranking metric gets worse than --baseline by more than --max-drop; one line per failure on
stderr. Exit 2 on bad input, 3 when --out cannot be written.

Examples:

  m3vos leaderboard runs/cutie runs/revos runs/static --name runs/revos=ReVOS

  m3vos leaderboard runs/* --out paper/ --percent    # .md/.csv/.json/.tex

  m3vos leaderboard new/ --baseline main/ --max-drop 0.01 --format md

  m3vos leaderboard new/ --fail-under J-Mean=60% --fail-over J-Decay=0.2
"""


class BoardFormat(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"
    tex = "tex"


def leaderboard(
    results: list[Path] = typer.Argument(..., help="Results folders (or results.json files) to rank."),
    metric: str = shared("metric", "Ranking metric (an official CSV name; Decay metrics rank lower-first)."),
    fmt: BoardFormat = shared("format", default=BoardFormat.table,
                              help="stdout: table, md, csv, json (fractions) or tex (booktabs LaTeX)."),
    fail_under: Optional[list[str]] = shared("fail_under"),
    fail_over: Optional[list[str]] = shared("fail_over"),
    baseline: Optional[Path] = typer.Option(None, "--baseline",
                                            help="Baseline results (results.json or its folder): reference "
                                                 "for differences and for --max-drop."),
    max_drop: Optional[float] = typer.Option(None, "--max-drop", min=0.0,
                                             help="Fail when METRIC is worse than --baseline by more than this "
                                                  "(a fraction; in the metric's direction)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Write leaderboard.md/.csv/.json/.tex into this folder (or one file "
                                            "when the name ends in .md/.csv/.json/.tex)."),
    names: Optional[list[str]] = shared("names"),
    show: Optional[str] = typer.Option(None, "--show",
                                       help="Comma-separated metrics shown beside the ranking one "
                                            "(default: J-Mean, J_last-Mean, J_cc-Mean, J&F-Mean)."),
    percent: bool = shared("percent"),
    allow_mixed: bool = shared("allow_mixed", "Rank runs scored differently anyway: a loud warning and a MIXED "
                                              "mark in every output."),
    ci: bool = typer.Option(True, "--ci/--no-ci", help="Intervals in the LaTeX table (the others always have them)."),
    n_boot: int = typer.Option(2000, "--n-boot", min=100, max=100000, help="Bootstrap resamples."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed (fixed: intervals are reproducible)."),
) -> None:
    import sys

    from m3vos.analysis.leaderboard import rank_results

    ranked = rank_results(results, metric=metric, fail_under=fail_under, fail_over=fail_over, baseline=baseline,
                          max_drop=max_drop, out=out, show_ci=ci, n_boot=n_boot, seed=seed,
                          allow_mixed=allow_mixed, names=parse_names(names), show=split_list(show),
                          percent=percent)
    board = ranked.board
    for n in board.notes:
        if n.startswith("MIXED"):
            err_console.print(f"WARNING: {n}", markup=False, highlight=False, soft_wrap=True)
    if fmt == BoardFormat.table:
        console.print(board.to_rich(width=None if sys.stdout.isatty() else 160))
        for n in board.notes:
            if not n.startswith("MIXED"):
                note(n)
    else:
        typer.echo(board.render(fmt.value), nl=False)
    if out is not None:
        err_console.print(f"written: {', '.join(str(p) for p in ranked.written)}", markup=False, highlight=False)
    if ranked.failures:
        for line in ranked.failures:
            err_console.print(f"gate failed: {line}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add `breakdowns`, `entropy-report`, `report` and `leaderboard` to the root app."""
    app.command("breakdowns", help=BREAKDOWNS_HELP)(breakdowns)
    app.command("entropy-report", help=ENTROPY_HELP)(entropy_report)
    app.command("report", help=REPORT_HELP, no_args_is_help=True)(report)
    app.command("leaderboard", help=LEADERBOARD_HELP, no_args_is_help=True)(leaderboard)
