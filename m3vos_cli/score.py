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

PREDS is a folder of <video>/<frame>.png masks (palette or grayscale PNGs of object ids, named like the ground-truth frames). The first and last annotated frames are not scored; the objects are ids 1..N, N = the max id of the first annotated frame.

Protocols: `m3vos` (the default for M3-VOS and VOST roots) follows the official M3-VOS evaluator (J, J_last, J_cc) and adds F and J&F as an m3vos extension; `davis` (the default for --dataset davis2017, ytvos and mose) follows davis2017-evaluation (J and F Mean, Recall, Decay, J&F). --dataset names the benchmark when the layout does not (docs/data.md). Writes results.json and the official CSVs into --out (default: PREDS), atomically.

Exit codes: 0 scored, 1 scored but a --fail-under gate failed, 2 bad input.

Examples:

  m3vos score preds/ --data ~/M3-VOS

  m3vos score preds/ --protocol davis --format json > scores.json

  m3vos score preds/ --videos cut_bread_1,melt_ice_3 --fail-under J_cc-Mean=0.5
"""


def score(
    preds: Path = typer.Argument(..., help="Folder of <video>/<frame>.png predicted masks."),
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
                                       help="Where results.json and the CSVs go (default: PREDS)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                     help="table (rich, for people), json (the results document) or csv "
                                          "(the per-object CSV)."),
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
) -> None:
    from m3vos.analysis.gate import check_thresholds, parse_thresholds
    from m3vos.errors import BadInputError, GateFailedError
    from m3vos.metrics import clear_results, metric_names, write_results
    from m3vos.metrics.engine import score_predictions, select_videos
    from m3vos.utils.progress import make_progress

    _exit_cleanly_on_sigterm()
    out_dir = out if out is not None else preds
    # A run that fails must not leave an earlier run's numbers looking current.
    if out_dir.is_dir():
        clear_results(out_dir, split)
    from m3vos.data.benchmarks import check_scorable
    from m3vos.data.dataset import open_dataset

    dataset = open_dataset(data, split=split, benchmark=dataset_kind)
    check_scorable(dataset)
    protocol = protocol or Protocol(dataset.benchmark.protocol)
    thresholds = parse_thresholds(fail_under)
    known = set(metric_names(protocol.value))
    for th in thresholds:
        if th.metric not in known:
            raise BadInputError(f"--fail-under names {th.metric!r}, which the {protocol.value} protocol does not "
                                "report", hint=f"use one of: {', '.join(metric_names(protocol.value))}")
    breakdown_names = [b.strip() for b in breakdown.split(",") if b.strip()] if breakdown else []
    add_breakdowns = _breakdown_function(breakdown_names) if breakdown_names else None

    wanted = [v for v in videos.split(",")] if videos else None
    n_videos = len(select_videos(dataset, wanted))
    progress = make_progress(enabled=None if fmt == OutputFormat.table else False, transient=True)
    bar = progress.add_task("scoring", total=n_videos, status="")
    try:
        # the bar's refresh thread starts only once the workers exist (see score_predictions)
        result = score_predictions(preds, dataset, protocol=protocol.value, videos=wanted, workers=workers,
                                   jcc=jcc.value, void_aware=void_aware, compat_decay=compat_decay,
                                   missing=missing.value, strict=strict, on_start=progress.start,
                                   on_video_done=lambda name: progress.update(bar, advance=1, status=name))
    finally:
        progress.stop()
    if add_breakdowns is not None:
        result.breakdowns = add_breakdowns(result.to_dict(), dataset, breakdown_names)
    written = write_results(result, out_dir, split)

    if fmt == OutputFormat.json:
        import json

        typer.echo(json.dumps(result.to_dict(), indent=1, allow_nan=False))
    elif fmt == OutputFormat.csv:
        typer.echo(result.per_object_csv(), nl=False)
    else:
        _render(result, written[0])
    _print_warnings(result.warnings)
    failures = check_thresholds(result.global_metrics, thresholds)
    if failures:
        raise GateFailedError("quality gate failed: " + "; ".join(failures),
                              hint="the results were written; improve the predictions or lower --fail-under")


score.__doc__ = SCORE_HELP


def _exit_cleanly_on_sigterm() -> None:
    """A killed run (SIGTERM) unwinds like Ctrl-C: the worker pool is terminated, nothing is written."""
    import signal

    def _raise(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _raise)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass


def _breakdown_function(names: list[str]) -> Any:
    """`add_breakdowns`, after checking the names (before any scoring work is done)."""
    from m3vos.errors import BadInputError

    try:
        from m3vos.analysis import breakdowns
    except ImportError as exc:
        raise BadInputError(f"breakdowns are not available in this installation ({exc})",
                            hint="drop --breakdown, or install the analysis dependencies") from None
    if hasattr(breakdowns, "parse_names"):
        breakdowns.parse_names(names)
    return breakdowns.add_breakdowns


def _fmt(v: float | None) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}"


def _render(result: Any, results_path: Path) -> None:
    from rich.table import Table

    from m3vos.metrics.protocols import EXTENSION_METRICS

    ext = set(EXTENSION_METRICS[result.protocol])
    opts = result.options
    title = f"{result.protocol} protocol: {len(result.videos)} videos, {len(result.per_object)} objects"
    if opts.protocol == "m3vos":
        title += f", J_cc {opts.jcc}"
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("", style="dim")
    for name, value in result.global_metrics.items():
        table.add_row(name, _fmt(value), "m3vos extension (not in the official evaluator)" if name in ext else "")
    console.print(table)
    if result.breakdowns:
        try:
            from m3vos.analysis.breakdowns import render_breakdowns

            for t in render_breakdowns(result.breakdowns):
                console.print(t)
        except ImportError:  # pragma: no cover - rendering is optional
            pass
    console.print(f"results: {results_path}")


def _print_warnings(warnings: list[str]) -> None:
    for w in warnings[:MAX_WARNINGS_SHOWN]:
        err_console.print(f"warning: {w}", markup=False, highlight=False, soft_wrap=True)
    if len(warnings) > MAX_WARNINGS_SHOWN:
        err_console.print(f"warning: {len(warnings) - MAX_WARNINGS_SHOWN} more warning(s) in results.json",
                          markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    """Add `m3vos score` to the root app."""
    app.command("score", help=SCORE_HELP, no_args_is_help=True)(score)
