"""CLI command: `m3vos score`, the J/F/J_cc scorer (thin: parse, call `m3vos.metrics`, render)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from m3vos_cli.common import OutputFormat, console, err_console

#: Warnings printed on the terminal; the rest are in results.json.
MAX_WARNINGS_SHOWN = 8


class Protocol(str, Enum):
    m3vos = "m3vos"
    davis = "davis"


class JccMode(str, Enum):
    hungarian = "hungarian"
    greedy = "greedy"


class MissingMode(str, Enum):
    error = "error"
    empty = "empty"


SCORE_HELP = """Score predicted masks against the ground truth (J, J_last, J_cc, F, J&F).

PREDS is a folder of <video>/<frame>.png masks (palette or grayscale PNGs of object ids, named like the ground-truth frames). The first and last annotated frames are not scored; the objects are ids 1..N, N = the max id of the first annotated frame. Several PREDS are scored one after the other, each into its own results.json.

Protocols: `m3vos` (the default for M3-VOS and VOST roots) follows the official M3-VOS evaluator (J, J_last, J_cc) and adds F and J&F as an m3vos extension; `davis` (the default for --dataset davis2017, ytvos and mose) follows davis2017-evaluation (J and F Mean, Recall, Decay, J&F). --dataset names the benchmark when the layout does not (docs/data.md). Writes results.json and the official CSVs into --out (default: PREDS), atomically: earlier results are replaced only once the new ones are complete. results.json also records what was scored (dataset fingerprint, date, the tracker and weights from PREDS/run.json), see docs/score.md.

Exit codes: 0 scored, 1 scored but a --fail-under/--fail-over gate failed, 2 bad input, 3 the results cannot be written (checked before scoring; also a full disk).

Examples:

  m3vos score preds/ --data ~/M3-VOS

  m3vos score runs/cutie runs/revos runs/static --format md --percent

  m3vos score preds/ --protocol davis --format json > scores.json

  m3vos score preds/ --videos cut_bread_1,melt_ice_3 --fail-under J_cc-Mean=0.5 --fail-over J-Decay=20%
"""


def score(
    preds: list[Path] = typer.Argument(..., help="Folder(s) of <video>/<frame>.png predicted masks."),
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="Dataset root (HF release, VOST-like or DAVIS-style layout). "
                                             "Default: M3VOS_DATA, then the configured dataset."),
    protocol: Optional[Protocol] = typer.Option(None, "--protocol", "-p",
                                                help="m3vos: official M3-VOS rules (+F/J&F extension); davis: "
                                                     "davis2017-evaluation. Default: the benchmark's own "
                                                     "(m3vos for M3-VOS and VOST, davis for the others)."),
    dataset_kind: Optional[str] = typer.Option(None, "--dataset",
                                               help="Benchmark the data belongs to: davis2017, vost, ytvos, mose "
                                                    "or m3vos (default: from the layout; see docs/data.md)."),
    split: str = typer.Option("val", "--set", "--split", help="Which split file of the dataset to score."),
    videos: Optional[str] = typer.Option(None, "--videos", help="Comma-separated subset of videos to score."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", min=1,
                                          help="Worker processes (default: number of CPUs). Results do not "
                                               "depend on it."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Where results.json and the CSVs go (default: PREDS; only with one "
                                            "PREDS)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                     help="table (rich, for people), md (a markdown table of the global numbers, "
                                          "one row per PREDS, best in bold), json (the results document; a list "
                                          "for several PREDS) or csv (the per-object CSV)."),
    percent: bool = typer.Option(False, "--percent",
                                 help="Print table/md numbers as percent (75.6); files and json stay fractions."),
    jcc: JccMode = typer.Option(JccMode.hungarian, "--jcc",
                                help="J_cc matching: hungarian (official default) or greedy (the official "
                                     "--origin_Jcc variant)."),
    void_aware: bool = typer.Option(False, "--void-aware",
                                    help="Exclude ground-truth void pixels (255) from J, F and J_cc (the "
                                         "official tools count them as background)."),
    compat_decay: bool = typer.Option(False, "--compat-decay",
                                      help="Reproduce the official uint8 Decay bins that wrap past 256 "
                                           "scored frames (default: correct Decay)."),
    missing: MissingMode = typer.Option(MissingMode.error, "--missing",
                                        help="error: a missing prediction video or frame is an error; empty: "
                                             "score it as an empty mask (with a warning)."),
    strict: bool = typer.Option(False, "--strict",
                                help="Prediction ids that are not ground-truth objects are an error "
                                     "(default: background, with a warning naming the files)."),
    breakdown: Optional[str] = typer.Option(None, "--breakdown",
                                            help="Comma-separated breakdowns to add (e.g. transition,"
                                                 "difficulty; `all`), see `m3vos breakdowns`."),
    fail_under: Optional[list[str]] = typer.Option(None, "--fail-under",
                                                   help="METRIC=VALUE gate, repeatable (e.g. J&F-Mean=0.7 or "
                                                        "J-Mean=65%); exit 1 when a global metric is below."),
    fail_over: Optional[list[str]] = typer.Option(None, "--fail-over",
                                                  help="METRIC=VALUE gate for lower-is-better metrics (Decay), "
                                                       "e.g. J-Decay=0.2; exit 1 when above."),
) -> None:
    from m3vos.analysis.gate import OVER, check_thresholds, parse_thresholds
    from m3vos.errors import BadInputError, GateFailedError
    from m3vos.metrics import metric_names, retire_results, write_results
    from m3vos.metrics.engine import score_predictions, select_videos
    from m3vos.metrics.results import check_writable
    from m3vos.utils.progress import make_progress

    _exit_cleanly_on_sigterm()
    from m3vos.data.benchmarks import check_scorable
    from m3vos.data.dataset import open_dataset

    # Everything the user typed is checked before any work, and before any earlier results are touched.
    dataset = open_dataset(data, split=split, benchmark=dataset_kind)
    check_scorable(dataset)
    protocol = protocol or Protocol(dataset.benchmark.protocol)
    thresholds = parse_thresholds(fail_under) + parse_thresholds(fail_over, OVER)
    known = set(metric_names(protocol.value))
    for th in thresholds:
        if th.metric not in known:
            raise BadInputError(f"--fail-{th.kind} names {th.metric!r}, which the {protocol.value} protocol does not "
                                "report", hint=f"use one of: {', '.join(metric_names(protocol.value))}")
    breakdown_names = [b.strip() for b in breakdown.split(",") if b.strip()] if breakdown else []
    add_breakdowns = _breakdown_function(breakdown_names) if breakdown_names else None
    if out is not None and len(preds) > 1:
        raise BadInputError(f"--out with {len(preds)} prediction folders would write every results.json into "
                            "one folder", hint="drop --out: each PREDS gets its own results")
    for p in preds:
        if not p.is_dir():
            raise BadInputError("prediction folder does not exist" if not p.exists() else
                                "predictions must be a folder, not a file", path=p,
                                hint="pass the folder that holds one <video>/ folder of PNG masks per video")

    wanted = [v for v in videos.split(",")] if videos else None
    n_videos = len(select_videos(dataset, wanted))
    targets = [(p, out if out is not None else p) for p in preds]
    for _, out_dir in targets:
        check_writable(out_dir)            # exit 3 now, not after minutes of scoring

    results = []
    for p, out_dir in targets:
        progress = make_progress(enabled=None if fmt == OutputFormat.table else False, transient=True)
        bar = progress.add_task(f"scoring {p.name}" if len(preds) > 1 else "scoring", total=n_videos, status="")
        try:
            # the bar's refresh thread starts only once the workers exist (see score_predictions)
            result = score_predictions(p, dataset, protocol=protocol.value, videos=wanted, workers=workers,
                                       jcc=jcc.value, void_aware=void_aware, compat_decay=compat_decay,
                                       missing=missing.value, strict=strict, on_start=progress.start,
                                       on_video_done=lambda name, progress=progress, bar=bar: progress.update(bar, advance=1, status=name))
        except (BadInputError, KeyboardInterrupt) as exc:
            # the arguments were valid, but these predictions did not score (broken, or the run was
            # killed): the earlier numbers no longer describe the folder, so they are moved aside
            retired = retire_results(out_dir, split)
            if retired is not None:
                moved = f"the earlier results were moved to {retired}"
                if isinstance(exc, BadInputError):
                    exc.message += f"; {moved}"
                    exc.args = (exc.one_line(),)
                else:
                    err_console.print(moved, markup=False, highlight=False)
            raise
        finally:
            progress.stop()
        if add_breakdowns is not None:
            result.breakdowns = add_breakdowns(result.to_dict(), dataset, breakdown_names)
        written = write_results(result, out_dir, split)
        results.append((p, result, written[0]))

    _print_results(results, fmt, percent)
    failures = []
    for p, result, _ in results:
        prefix = f"{p}: " if len(results) > 1 else ""
        failures += [prefix + f for f in check_thresholds(result.global_metrics, thresholds)]
    if failures:
        raise GateFailedError("quality gate failed: " + "; ".join(failures),
                              hint="the results were written; improve the predictions or change the gate")


def _print_results(results: list, fmt: OutputFormat, percent: bool) -> None:
    import json

    if fmt == OutputFormat.json:
        docs = [r.to_dict() for _, r, _ in results]
        typer.echo(json.dumps(docs[0] if len(docs) == 1 else docs, indent=1, allow_nan=False))
    elif fmt == OutputFormat.csv:
        if len(results) == 1:
            typer.echo(results[0][1].per_object_csv(), nl=False)
        else:                               # one CSV: the official columns after a Run column
            for i, (p, r, _) in enumerate(results):
                lines = r.per_object_csv().splitlines()
                rows = ([f"Run,{lines[0]}"] if i == 0 else []) + [f"{p.name},{line}" for line in lines[1:]]
                typer.echo("\n".join(rows))
    elif fmt == OutputFormat.md:
        typer.echo(_global_markdown(results, percent), nl=False)
    else:
        for _, r, path in results:
            _render(r, path, percent)
    for p, r, _ in results:
        _print_warnings(r.warnings, f"{p}: " if len(results) > 1 else "")


def _global_markdown(results: list, percent: bool) -> str:
    """One row per scored folder, the protocol's metrics as columns, best per column in bold."""
    import pandas as pd

    from m3vos.analysis.export import TableStyle, to_markdown
    from m3vos.metrics.contract import RANDOM_WEIGHTS_MARK, directions, random_weights

    metrics = results[0][1].metrics
    rows = []
    for p, r, _ in results:
        row = {"run": p.name, **{m: r.global_metrics.get(m) for m in metrics},
               "objects": len(r.per_object), "videos": len(r.videos)}
        row["flags"] = RANDOM_WEIGHTS_MARK if random_weights(r.run) else ""
        rows.append(row)
    opts = results[0][1].options
    caption = f"{opts.protocol} protocol" + (f", J_cc {opts.jcc}" if opts.protocol == "m3vos" else "") + \
        f" ({'percent' if percent else 'fractions'})"
    return to_markdown(pd.DataFrame(rows), TableStyle(directions=directions(metrics), percent=percent, caption=caption))


score.__doc__ = SCORE_HELP


def _exit_cleanly_on_sigterm() -> None:
    """A killed run (SIGTERM) unwinds like Ctrl-C: the worker pool is terminated, nothing is written."""
    from m3vos.utils.signals import sigterm_raises_interrupt

    sigterm_raises_interrupt()


def _breakdown_function(names: list[str]) -> Any:
    """`add_breakdowns`, after checking the names (before any scoring work is done)."""
    from m3vos.analysis import breakdowns

    breakdowns.parse_names(names)
    return breakdowns.add_breakdowns


def _fmt(v: float | None, percent: bool = False) -> str:
    if v is None or v != v:
        return "n/a"
    return f"{v * 100:.1f}" if percent else f"{v:.4f}"


def _render(result: Any, results_path: Path, percent: bool = False) -> None:
    from rich.table import Table

    from m3vos.metrics.protocols import EXTENSION_METRICS

    from m3vos.metrics.contract import RANDOM_WEIGHTS_MARK, metric_spec, random_weights

    ext = set(EXTENSION_METRICS[result.protocol])
    opts = result.options
    title = f"{result.protocol} protocol: {len(result.videos)} videos, {len(result.per_object)} objects"
    if opts.protocol == "m3vos":
        title += f", J_cc {opts.jcc}"
    if percent:
        title += " (percent)"
    if random_weights(result.run):
        title += f" [{RANDOM_WEIGHTS_MARK.upper()}]"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    for name, value in result.global_metrics.items():
        notes = ["m3vos extension (not in the official evaluator)"] if name in ext else []
        spec = metric_spec(name)
        if spec is not None and not spec.higher_is_better:
            notes.append("lower is better")
        table.add_row(name, _fmt(value, percent), "; ".join(notes))
    console.print(table)
    if result.breakdowns:
        from m3vos.analysis.breakdowns import render_breakdowns

        for t in render_breakdowns(result.breakdowns):
            console.print(t)
    fp = (result.dataset.get("fingerprint") or {}).get("sha256", "")[:12]
    run = result.run or {}
    w = run.get("weights")
    weights = (f"random (seed {w.get('seed')})" if w.get("random") else (w.get("sha256") or "")[:12]) \
        if isinstance(w, dict) else ("none" if run else "no run.json")
    console.print(f"scored: dataset {fp or 'unknown'}, tracker {run.get('tracker') or 'unknown'}, weights {weights}",
                  markup=False, highlight=False)
    console.print(f"results: {results_path}")


def _print_warnings(warnings: list[str], prefix: str = "") -> None:
    for w in warnings[:MAX_WARNINGS_SHOWN]:
        err_console.print(f"warning: {prefix}{w}", markup=False, highlight=False, soft_wrap=True)
    if len(warnings) > MAX_WARNINGS_SHOWN:
        err_console.print(f"warning: {len(warnings) - MAX_WARNINGS_SHOWN} more warning(s) in results.json",
                          markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `m3vos score` to the root app."""
    app.command("score", help=SCORE_HELP, no_args_is_help=True)(score)
