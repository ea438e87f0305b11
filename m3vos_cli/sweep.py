"""CLI command: `m3vos sweep` (thin over `m3vos.sweep`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from m3vos_cli.common import OutputFormat, console, err_console, shared, split_list

SWEEP_HELP = """Run a tracker over a grid (or list) of configs and tabulate speed against accuracy.

Each point is an ordinary run folder, <out>/points/<point>/ (predictions, run.json,
results.json), made by the same runner as `m3vos run` (resumable; --workers, --gpus,
--executor ray) and scored under one protocol. Rerunning a finished sweep does no work;
adding a grid value runs only the new points; a killed sweep resumes where it stopped.

Writes sweep.md, sweep.csv, sweep.json, sweep.tex (every point: its values, METRIC with a
95% video-bootstrap CI, the paired difference to the reference point with its CI and p-value,
frames/s, peak memory, Pareto flag) and speed_accuracy.png (Pareto front marked) into --out.

--grid KEY=V1,V2 is one axis (axes multiply); --grid K1,K2=V1,V2 ties keys (K1=K2=V1, ...).
A YAML --file may give model, config (base), grid, points (a list) and reference.

Examples:

  m3vos sweep --model revos --grid alpha=1,2,3 --grid T=10,30 --out sw/revos

  m3vos sweep -m revos:flow -g T,L=5,10,30 --reference T=30,L=30 -o rf

  m3vos sweep --model flow --grid preset=fast,medium --dataset davis2017 -o fl

  m3vos sweep --file sweep.yaml --gpus 0,1 --out sweeps/big
"""


def sweep_command(
    out: Path = typer.Option(..., "--out", "-o", help="Sweep folder: points/<point>/, tables, plot."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Tracker to sweep (see `m3vos trackers list`)."),
    grid: Optional[List[str]] = typer.Option(None, "--grid", "-g",
                                             help="KEY=V1,V2 axis (repeatable; K1,K2=... ties keys)."),
    file: Optional[Path] = typer.Option(None, "--file", help="Sweep description (YAML): model, config, grid, "
                                                              "points, reference."),
    config: Optional[List[str]] = shared("config", "Base tracker option KEY=VALUE shared by every point."),
    reference: Optional[str] = typer.Option(None, "--reference", "-r",
                                            help="Point the others are compared with, as KEY=VALUE[,...] "
                                                 "(default: the first point)."),
    metric: str = shared("metric", "Accuracy metric of the table and plot."),
    data: Optional[Path] = shared("data"),
    dataset_kind: Optional[str] = shared("benchmark"),
    split: str = shared("split"),
    videos: Optional[str] = shared("videos"),
    protocol: Optional[str] = typer.Option(None, "--protocol", "-p",
                                           help="m3vos or davis (default: the benchmark's own)."),
    device: str = shared("device"),
    workers: Optional[int] = shared("workers", "Worker processes per point, for the runner and the scorer (default: "
                                               "each one's own; see docs/cli.md)."),
    gpus: Optional[str] = typer.Option(None, "--gpus", help="One worker per GPU, e.g. 0,1."),
    executor: str = typer.Option("local", "--executor", help="local | ray."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address."),
    fmt: OutputFormat = shared("format", help="What to print: table, json, csv or md (files are always written)."),
) -> None:
    from m3vos.runner.options import parse_config
    from m3vos.sweep import run_sweep
    from m3vos.sweep.plan import load_spec

    spec = load_spec(file, model=model, grid=grid, base=parse_config(config), reference=reference)
    quiet = fmt != OutputFormat.table
    res = run_sweep(spec, out, data=data, split=split,
                    videos=split_list(videos),
                    benchmark=dataset_kind, protocol=protocol, metric=metric, device=device, workers=workers,
                    gpus=gpus, executor=executor, address=address, progress=False if quiet else None,
                    log=None if quiet else (lambda s: err_console.print(s, highlight=False, markup=False)))
    if fmt == OutputFormat.json:
        typer.echo(json.dumps(res.to_dict(), indent=1, ensure_ascii=False))
    elif fmt == OutputFormat.csv:
        typer.echo(res.table.to_csv(index=False), nl=False)
    elif fmt == OutputFormat.md:
        from m3vos.sweep.table import to_markdown

        typer.echo(to_markdown(res.table), nl=False)
    else:
        _render(res)


def _render(res) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from m3vos.sweep.table import display_rows

    columns, rows = display_rows(res.table, metric=res.metric, reference=res.reference)
    table = Table(title=f"m3vos sweep -> {res.out}")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    console.print(f"{len(res.ran)} point(s) run, {len(res.skipped)} already done, in {res.wall_seconds:.1f} s. "
                  f"Written into {res.out}: {', '.join(f.name for f in res.files)}")


def register(app: typer.Typer) -> None:
    """Add `sweep` to the root app."""
    app.command("sweep", help=SWEEP_HELP, no_args_is_help=True)(sweep_command)
