"""CLI commands: `m3vos weights list | download | check` (model checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from m3vos_cli.common import console, err_console

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


@weights_app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list instead of a table."),
) -> None:
    """List the known checkpoints and whether they are in the cache.

    One row per checkpoint: name, the model that loads it, file name, present (or partial, for
    an interrupted download), size. The cache is `$M3VOS_CACHE/weights` (else the user cache folder).

    Example:

        m3vos weights list
    """
    from m3vos.trackers.weights import KNOWN_WEIGHTS, list_weights, weights_dir

    rows = list_weights()
    if as_json:
        out = []
        for r in rows:
            d = r.to_dict()
            d["source_url"] = KNOWN_WEIGHTS[r.name].source_url()
            d["hub_id"] = KNOWN_WEIGHTS[r.name].hub_id
            out.append(d)
        typer.echo(json.dumps(out, indent=2))
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

    The download resumes after an interruption and verifies the known digests; the file is
    then loaded strictly into its model (skip with --no-check). Cutie files come from the v1.0
    GitHub release; `revos` is a Google Drive file and needs `pip install 'm3vos\[gdrive]'`;
    `sam2.1-*` / `sam2-*` are Meta's release files (checked with `pip install 'm3vos\[sam2]'`).
    `M3VOS_WEIGHTS_URL=<base>` fetches `<base>/<file name>` instead (a mirror).

    Example:

        m3vos weights download cutie-base-mega
    """
    from m3vos.trackers.weights import download_checked, get_known

    w = get_known(name)
    path, report = download_checked(w.name, url=url, check=not no_check)
    err_console.print(f"downloaded {w.name} -> {path} ({_size(path.stat().st_size)})")
    if report is not None:
        err_console.print(f"loads strictly into {w.model} ({report.num_tensors} tensors)")
    typer.echo(str(path))


@weights_app.command("check")
def check_cmd(
    name: str = typer.Argument(..., help="The model to load into (cutie-small, cutie-base, "
                                         "revos, sam2.1-tiny ... sam2-large) or a known weights name."),
    path: Path = typer.Argument(..., help="The checkpoint file to check."),
    against: Optional[Path] = typer.Option(
        None, "--against", help="Another checkpoint: report which tensors differ and by how much."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check that a checkpoint loads strictly into a model; compare two checkpoints.

    Reports missing and unexpected keys and wrong shapes (exit 2 when PATH does not load).
    With --against, compares the two files tensor by tensor; for `revos` against a Cutie-base
    file, says whether every non-fuser tensor equals it (the authors trained only the readout
    fuser).

    Files are read with `torch.load(weights_only=True)`: pickled code is refused.

    Examples:

        m3vos weights check cutie-base ~/Downloads/cutie-base-mega.pth
        m3vos weights check revos mega_v4_main_training_72800.pth --against cutie-base-mega.pth
    """
    from m3vos.trackers.models import MODEL_KINDS, load_error
    from m3vos.trackers.sam2.variants import VARIANTS

    kind = name
    if kind not in MODEL_KINDS and kind not in VARIANTS:
        from m3vos.trackers.weights import get_known

        kind = get_known(name).model
    report = _check(kind, path, against=against)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        _render_check(report)
    if not report.ok:
        raise load_error(report)


def _check(kind: str, path: Path, against: Optional[Path] = None):  # type: ignore[no-untyped-def]
    from m3vos.trackers.weights import check_weights_file

    return check_weights_file(kind, path, against=against)


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
