"""CLI commands: `m3vos weights list | download | check` (model checkpoints)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from m3vos_cli.common import ALIASES, OutputFormat, console, err_console

weights_app = typer.Typer(
    name="weights",
    help="Model checkpoints: list the known ones, download them into the cache, check a file.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _size(n: int | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


class DocFormat(str, Enum):
    """Output of a command whose result is a document, not a table."""

    table = "table"
    json = "json"


#: `--json`, the old spelling of `--format json` (hidden; kept for one release).


@weights_app.command("list")
def list_cmd(
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                     help="table (for people), json, csv or md."),
) -> None:
    """List the known checkpoints and whether they are in the cache.

    One row per checkpoint: name, the model that loads it, file name, present (or partial, for an
    interrupted download), size. The cache is `$M3VOS_CACHE/weights` (else the user cache folder).

    Example:

      m3vos weights list
    """
    from m3vos.trackers.weights import list_weights, weights_dir

    rows = list_weights()
    if fmt is OutputFormat.json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    if fmt in (OutputFormat.csv, OutputFormat.md):
        import pandas as pd

        from m3vos.analysis.export import render_table

        table_rows = [r.to_dict() for r in rows]
        typer.echo(render_table(pd.DataFrame(table_rows), fmt.value), nl=False)
        return
    from rich.table import Table

    table = Table(title=f"Known weights (cache: {weights_dir()})")
    for col in ("name", "model", "file", "present", "size"):
        table.add_column(col, justify="right" if col == "size" else "left")
    for r in rows:
        present = "yes" if r.present else (
            f"partial ({_size(r.partial)}; rerun download to resume)" if r.partial else "no")
        table.add_row(r.name, r.model, r.filename, present, _size(r.size))
    console.print(table)


@weights_app.command("download")
def download_cmd(
    name: str = typer.Argument(..., help="A known name (see `m3vos weights list`), e.g. "
                                         "cutie-base-mega or revos."),
    url: Optional[str] = typer.Option(None, "--url",
                                      help="Fetch from this URL instead (a mirror)."),
    no_check: bool = typer.Option(False, "--no-check",
                                  help="Skip the strict-load check after downloading."),
) -> None:
    r"""Download a checkpoint into the cache and check that it loads.

    The download resumes after an interruption and verifies the known digests; the file is then
    loaded strictly into its model (skip with --no-check). Cutie files come from the v1.0 GitHub
    release; `revos` is a Google Drive file and needs `pip install 'm3vos\[gdrive]'`; `sam2.1-*` /
    `sam2-*` are Meta's release files (checked with `pip install 'm3vos\[sam2]'`).
    `M3VOS_WEIGHTS_URL=<base>` fetches `<base>/<file name>` instead (a mirror).

    Example:

      m3vos weights download cutie-base-mega
    """
    from m3vos.trackers.weights import download_checked

    got = download_checked(name, url=url, check=not no_check)
    err_console.print(f"downloaded {got.name} -> {got.path} ({_size(got.size)})")
    if got.report is not None:
        err_console.print(f"loads strictly into {got.model} ({got.report.num_tensors} tensors)")
    typer.echo(str(got.path))


@weights_app.command("check")
def check_cmd(
    name: str = typer.Argument(..., help="The model to load into (cutie-small, cutie-base, "
                                         "revos, sam2.1-tiny ... sam2-large) or a known weights name."),
    path: Path = typer.Argument(..., help="The checkpoint file to check."),
    against: Optional[Path] = typer.Option(
        None, "--against", help="Another checkpoint: report which tensors differ and by how much."),
    fmt: DocFormat = typer.Option(DocFormat.table, "--format", "-f",
                                  help="table (for people) or json (the report, on stdout)."),
) -> None:
    """Check that a checkpoint loads strictly into a model; compare two checkpoints.

    Reports missing and unexpected keys and wrong shapes (exit 2 when PATH does not load). With
    --against, compares the two files tensor by tensor; for `revos` against a Cutie-base file, says
    whether every non-fuser tensor equals it (the authors trained only the readout fuser).

    Files are read with `torch.load(weights_only=True)`: pickled code is refused.

    Examples:

      m3vos weights check cutie-base ~/Downloads/cutie-base-mega.pth

      m3vos weights check revos revos.pth --against cutie-base-mega.pth
    """
    from m3vos.trackers.models import load_error
    from m3vos.trackers.weights import check_weights

    report = check_weights(name, path, against=against)
    if fmt is DocFormat.json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _render_check(report)
    if not report.ok:
        raise load_error(report)


def _render_check(report) -> None:  # type: ignore[no-untyped-def]
    load = report.load
    status = "OK: loads strictly" if load.ok else "FAILS strict loading"
    console.print(f"{report.path}: {report.num_tensors} tensors; into {report.model}: {status}")
    for label, keys in (("missing", load.missing), ("unexpected", load.unexpected)):
        if keys:
            console.print(f"  {len(keys)} {label} key(s):")
            for k in keys:
                console.print(f"    {k}")
    if load.shape_mismatch:
        console.print(f"  {len(load.shape_mismatch)} shape mismatch(es):")
        for k, exp, got in load.shape_mismatch:
            console.print(f"    {k}: expected {list(exp)}, found {list(got)}")
    if report.diff is not None:
        d = report.diff
        console.print(f"against {report.against}: {d.compared} tensors compared, "
                      f"{len(d.differing)} differ, {len(d.shape_differs)} differ in shape, "
                      f"{len(d.only_in_first)} only in PATH, {len(d.only_in_second)} only in "
                      f"the other file")
        if d.differing:
            from rich.table import Table

            table = Table()
            for col in ("tensor", "max |diff|", "mean |diff|"):
                table.add_column(col)
            for x in sorted(d.differing, key=lambda x: -x.max_abs):
                table.add_row(x.key, f"{x.max_abs:.3g}", f"{x.mean_abs:.3g}")
            console.print(table)
        if report.non_fuser_equal is not None:
            verdict = ("yes: every non-fuser tensor equals the other file"
                       if report.non_fuser_equal else
                       "NO: some non-fuser tensors differ from (or are missing in) the other file")
            console.print(f"frozen Cutie part unchanged: {verdict}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(weights_app, name="weights")
    for command in ("list", "check"):
        ALIASES.setdefault(("weights", command), {}).update({"--json": "--format=json"})
