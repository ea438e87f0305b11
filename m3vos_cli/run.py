"""CLI commands: `m3vos run`, `m3vos demo`, `m3vos trackers list|test`.

Thin: parse, call `m3vos.runner` / `m3vos.trackers`, render. Library imports happen inside the
commands so `m3vos --help` never loads OpenCV, torch or Ray.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from m3vos_cli.common import DocFormat, OutputFormat, console, err_console, shared, split_list, wide_console

trackers_app = typer.Typer(
    name="trackers",
    help="List the available trackers and check that one honours the tracker contract.",
    no_args_is_help=True,
)


def run_command(
    model: str = typer.Option(..., "--model", "-m",
                              help="Tracker: a name from `m3vos trackers list`, `revos:<backbone>`, "
                                   "a tracker .yaml file (external command) or package.module:Class."),
    out: Path = typer.Option(..., "--out", "-o", help="Output folder: <video>/<frame>.png, run.json, records."),
    data: Optional[Path] = shared("data"),
    split: str = shared("split"),
    videos: Optional[str] = shared("videos"),
    device: str = shared("device"),
    precision: Optional[str] = typer.Option(
        None, "--precision",
        help="fp32 | tf32 | amp-bf16 | amp-fp16 for torch trackers on CUDA (default tf32: what the official "
             "Cutie eval does on GPU). CPUs always run fp32. Recorded in run.json."),
    amp: bool = typer.Option(False, "--amp", help="Same as --precision amp-fp16."),
    weights: Optional[Path] = typer.Option(None, "--weights",
                                           help="Checkpoint file (default: the cached download), or random[:SEED] "
                                                "for seeded random parameters (smoke tests; the scores mean "
                                                "nothing)."),
    config: Optional[List[str]] = shared("config"),
    workers: Optional[int] = shared("workers", "Worker processes on --device, each loading the model (default: "
                                               "one per device for torch trackers, --gpus starts one per GPU; "
                                               "for static/flow the CPUs this process may use, at most one per "
                                               "video)."),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="One worker process per GPU, e.g. 0,1,2,3."),
    executor: str = typer.Option("local", "--executor", help="local | ray (needs `pip install 'm3vos\\[ray]'`)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (e.g. auto); default: local."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Run only shard i/N (0-based, balanced by frames)."),
    max_retries: int = typer.Option(2, "--max-retries",
                                    help="Retries of a video whose worker process died (segfault, OOM killer); "
                                         "then it is recorded as failed and the run goes on."),
    quiet: bool = typer.Option(False, "--quiet", "-q",
                               help="No progress bar and no log lines (by default, when stderr is not a "
                                    "terminal, one line per video and a heartbeat every minute)."),
    force: bool = typer.Option(False, "--force", help="Start over: redo every video even in a folder of another run."),
    late_objects: Optional[bool] = typer.Option(None, "--late-objects/--no-late-objects",
                                                help="Also give masks of objects first seen after frame 0 "
                                                     "(YouTube-VOS style; not the M3-VOS protocol). Default: "
                                                     "the benchmark's protocol (on for ytvos only)."),
    dataset_kind: Optional[str] = shared("benchmark"),
    fmt: DocFormat = shared("format", default=DocFormat.table, help="table (people) or json (the run summary)."),
) -> None:
    """Run a tracker over a dataset into a resumable folder of palette PNGs.

    Rerunning the same command skips finished videos (after a crash, Ctrl-C or SIGKILL); failed
    videos are recorded and the exit code is 1.

    Examples:

      m3vos run --model flow --data ~/m3vos --out preds/flow

      m3vos run --model cutie-base --gpus 0,1 --out preds/cutie

      m3vos run --model revos --executor ray --address auto --out preds/revos

      m3vos run --model revos --shard $SLURM_ARRAY_TASK_ID/8 --out preds/revos

      m3vos run --model my_tracker.yaml --out preds/mine

      m3vos run --model sam2.1-tiny --weights random --out /tmp/smoke
    """
    from m3vos.runner.api import run
    from m3vos.runner.options import parse_config

    summary = run(model, out, data=data, split=split, videos=split_list(videos), device=device, amp=amp,
                  weights=weights, config=parse_config(config), workers=workers, gpus=gpus, executor=executor,
                  address=address, shard=shard, force=force, late_objects=late_objects, benchmark=dataset_kind,
                  precision=precision, max_retries=max_retries, progress=False if quiet else None,
                  log=False if quiet else None)
    for warning in summary.warnings:
        err_console.print(f"warning: {warning}")
    if fmt == DocFormat.json:
        typer.echo(json.dumps(summary.to_dict(), indent=2))
    else:
        _render_summary(summary)
    if summary.failed:
        err_console.print(f"error: {len(summary.failed)} video(s) failed; errors are in "
                          f"{summary.out / '.m3vos' / 'failed'} (rerun to retry them)")
        raise typer.Exit(1)


def _render_summary(summary) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    table = Table(title=f"m3vos run: {summary.model} -> {summary.out}")
    for col in ("video", "status", "frames", "seconds", "frames/s"):
        table.add_column(col, justify="right" if col in ("frames", "seconds", "frames/s") else "left")
    shown = summary.done if len(summary.done) <= 20 else summary.done[:15]  # a full run has ~471 videos
    for r in shown:
        table.add_row(r["video"], "done", str(r["frames"]), f"{r['seconds']:.2f}", f"{r['fps'] or 0:.1f}")
    rest = summary.done[len(shown):]
    if rest:
        secs = sum(r["seconds"] for r in rest)
        frames = sum(r["frames"] for r in rest)
        table.add_row(f"({len(rest)} more)", "done", str(frames), f"{secs:.2f}", f"{frames / secs if secs else 0:.1f}")
    for r in summary.failed:
        table.add_row(r.get("video", "?"), "[red]failed[/red]", "", "", "", )
    if summary.skipped:
        table.add_row(f"({len(summary.skipped)} already done)", "skipped", "", "", "")
    console.print(table)
    for r in summary.failed:
        console.print(f"[red]failed[/red] {r.get('video')}: {r.get('error')}")
    fps = summary.frames / summary.wall_seconds if summary.wall_seconds > 0 else 0.0
    console.print(f"{len(summary.done)} done, {len(summary.skipped)} skipped, {len(summary.failed)} failed; "
                  f"{summary.frames} frames in {summary.wall_seconds:.1f} s ({fps:.1f} frames/s). "
                  f"Next: m3vos score {summary.out}")


@trackers_app.command("list")
def trackers_list(
    fmt: OutputFormat = shared("format", help="table (people), json, csv or md (one row per tracker)."),
) -> None:
    """List built-in and plug-in trackers, their capabilities and whether their weights are present.

    Example: m3vos trackers list --format json
    """
    from m3vos.trackers.registry import describe, list_trackers

    rows = [describe(spec) for spec in list_trackers()]
    if fmt == OutputFormat.json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if fmt in (OutputFormat.csv, OutputFormat.md):
        _print_rows(rows, fmt)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="m3vos trackers")
    for col in ("name", "source", "capabilities", "weights", "status"):
        table.add_column(col, no_wrap=col in ("name", "weights"))   # the status column (errors) wraps
    for r in rows:
        if r["weights"] is None:
            w = "-"
        else:
            w = f"{r['weights']}: {'present' if r['weights_present'] else 'missing (m3vos weights download ' + r['weights'] + ')'}"
        status = "ok" if r["available"] else f"[red]unavailable[/red]: {escape(str(r['error']))}"
        table.add_row(r["name"], r["source"], ", ".join(r["capabilities"]) or "-", escape(w), status)
    wide_console.print(table)
    console.print("Also: `revos:<name>` wraps any tracker with ReVOS; a .yaml file runs an external command.")


@trackers_app.command("test")
def trackers_test(
    model: str = typer.Argument(..., help="Tracker name, revos:<backbone>, .yaml file or module:Class."),
    device: str = shared("device"),
    weights: Optional[Path] = typer.Option(None, "--weights",
                                           help="Checkpoint file, or random[:SEED] (seeded random parameters)."),
    config: Optional[List[str]] = shared("config"),
    fmt: DocFormat = shared("format", default=DocFormat.table,
                            help="table (people) or json (the contract report)."),
) -> None:
    """Run a tracker on a tiny synthetic video and check the tracker contract.

    Checks: every frame yielded once and in order, shapes and ids valid, one palette PNG per
    frame with the ground-truth size, palette and (non-contiguous) ids. Exit 1 if any fails.

    Examples:

      m3vos trackers test flow

      m3vos trackers test sam2.1-tiny --weights random --config image_size=256
    """
    from m3vos.runner.options import parse_config
    from m3vos.selftest import check_tracker

    report = check_tracker(model, device=device, weights=str(weights) if weights else None,
                           config=parse_config(config))
    for warning in report.warnings:
        err_console.print(f"warning: {warning}")
    if fmt == DocFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.table import Table

        table = Table(title=f"m3vos trackers test {model}")
        table.add_column("check")
        table.add_column("result")
        table.add_column("detail")
        for c in report.checks:
            table.add_row(c.name, "[green]ok[/green]" if c.ok else "[red]FAIL[/red]", c.detail)
        console.print(table)
        if report.fps is not None:
            console.print(f"{report.fps:.1f} frames/s on the test video")
        console.print("contract: [green]ok[/green]" if report.ok else "contract: [red]broken[/red]")
    if not report.ok:
        raise typer.Exit(1)


def _print_rows(rows: list[dict], fmt: OutputFormat) -> None:
    """Flat rows (lists joined by commas) as CSV or a markdown table."""
    import pandas as pd

    from m3vos.analysis.report import md_table

    df = pd.DataFrame([{k: ",".join(map(str, v)) if isinstance(v, list) else v for k, v in r.items()} for r in rows])
    typer.echo(df.to_csv(index=False) if fmt == OutputFormat.csv else md_table(df) + "\n", nl=False)


def demo_command(
    out: Path = typer.Option(Path("m3vos-demo"), "--out", "-o", help="Folder for data, predictions and report."),
    videos: int = typer.Option(6, "--videos", help="Number of synthetic videos."),
    frames: int = typer.Option(24, "--frames", help="Frames per synthetic video."),
    seed: int = typer.Option(0, "--seed", help="Seed of the synthetic dataset."),
) -> None:
    """See m3vos end to end in under a minute: no download, no GPU.

    Synthesises a small M3-VOS-like dataset, runs the `static` and `flow` baselines (and a
    model tracker whose weights are present), scores them, prints the leaderboard and writes a
    report into ./m3vos-demo/.

    Example: m3vos demo
    """
    from m3vos.demo import run_demo

    run_demo(out, videos=videos, frames=frames, seed=seed, console=console)


def register(app: typer.Typer) -> None:
    """Add `run`, `demo` and the `trackers` group to the root app."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)
    app.add_typer(trackers_app, name="trackers")
