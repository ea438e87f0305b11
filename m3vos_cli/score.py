"""CLI command: `m3vos score`, the J/F/J_cc scorer (thin: parse, call `m3vos.metrics`, render)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Optional

import typer

from m3vos_cli.common import OutputFormat, console, err_console, shared, split_list

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

PREDS is a folder of <video>/<frame>.png masks (palette or grayscale PNGs of object ids, named
like the ground-truth frames). The first and last annotated frames are not scored; the objects
are ids 1..N, N = the max id of the first annotated frame. Several PREDS are scored one after the
other, each into its own results.json.

Protocols: `m3vos` (the default for M3-VOS and VOST roots) follows the official M3-VOS evaluator
(J, J_last, J_cc) and adds F and J&F as an m3vos extension; `davis` (the default for --dataset
davis2017, ytvos and mose) follows davis2017-evaluation (J and F Mean, Recall, Decay, J&F).
--dataset names the benchmark when the layout does not (docs/data.md). Writes results.json and
the official CSVs into --out (default: PREDS), atomically: earlier results are replaced only once
the new ones are complete; a failed or interrupted scoring moves them to
PREDS/.m3vos/previous-results/. results.json also records what was scored (dataset fingerprint,
date, the tracker and weights from PREDS/run.json), see docs/score.md.

Exit codes: 0 scored, 1 scored but a --fail-under/--fail-over gate failed, 2 bad input, 3 the
results cannot be written (checked before scoring; also a full disk).

Examples:

  m3vos score preds/ --data ~/M3-VOS

  m3vos score runs/cutie runs/revos --format md --percent

  m3vos score preds/ --protocol davis --format json > scores.json

  m3vos score preds/ --videos cut_bread_1 --fail-under J_cc-Mean=0.5

  m3vos score preds/ --fail-over J-Decay=20%
"""


def score(
    preds: list[Path] = typer.Argument(..., help="Folder(s) of <video>/<frame>.png predicted masks."),
    data: Optional[Path] = shared("data", "Dataset root (HF release, VOST-like or DAVIS-style layout). "
                                          "Default: M3VOS_DATA, then the configured dataset."),
    protocol: Optional[Protocol] = typer.Option(None, "--protocol", "-p",
                                                help="m3vos: official M3-VOS rules (+F/J&F extension); davis: "
                                                     "davis2017-evaluation. Default: the benchmark's own "
                                                     "(m3vos for M3-VOS and VOST, davis for the others)."),
    dataset_kind: Optional[str] = shared("benchmark"),
    split: str = shared("split", "Which split file of the dataset to score (ImageSets/<NAME>.txt)."),
    videos: Optional[str] = shared("videos", "Comma-separated subset of videos to score."),
    workers: Optional[int] = shared("workers"),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Where results.json and the CSVs go (default: PREDS; only with one "
                                            "PREDS)."),
    fmt: OutputFormat = shared("format", help="table (rich, for people), md (a markdown table of the global "
                                              "numbers, one row per PREDS, best in bold), json (the results "
                                              "document; a list for several PREDS) or csv (the per-object CSV)."),
    percent: bool = shared("percent", "Print table/md numbers as percent (75.6); files and json stay fractions."),
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
    fail_under: Optional[list[str]] = shared("fail_under"),
    fail_over: Optional[list[str]] = shared("fail_over"),
) -> None:
    from m3vos.analysis.scoring import score_folders
    from m3vos.errors import GateFailedError

    from m3vos.utils.signals import sigterm_raises_interrupt

    sigterm_raises_interrupt()   # a killed run unwinds like Ctrl-C: the pool is stopped, nothing written
    run = score_folders(preds, data=data, split=split, benchmark=dataset_kind,
                        protocol=protocol.value if protocol else None, videos=split_list(videos), workers=workers,
                        out=out, jcc=jcc.value, void_aware=void_aware, compat_decay=compat_decay,
                        missing=missing.value, strict=strict, breakdowns=split_list(breakdown),
                        fail_under=fail_under, fail_over=fail_over,
                        progress=None if fmt == OutputFormat.table else False,
                        say=lambda line: err_console.print(line, markup=False, highlight=False))
    _print_results([(f.preds, f.result, f.results_file) for f in run.folders], fmt, percent)
    if run.failures:
        raise GateFailedError("quality gate failed: " + "; ".join(run.failures),
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
