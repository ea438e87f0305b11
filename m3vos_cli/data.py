"""CLI commands: `m3vos data download | verify | info | synth | labels` (thin: parse, call
`m3vos.data`, render)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer

from m3vos_cli.common import ALIASES, OutputFormat, console, err_console, shared

data_app = typer.Typer(
    name="data",
    help=(
        "Get, check and describe the M3-VOS dataset.\n\n"
        "Start with `m3vos data download` (the Hugging Face release) or `m3vos data synth DIR` "
        "(a small synthetic set), then `m3vos data verify` and `m3vos data info`. "
        "The downloaded root is remembered, so `--data` is optional elsewhere."
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Source(str, Enum):
    hf = "hf"
    gdrive = "gdrive"
    url = "url"


class DocFormat(str, Enum):
    """Output of a command whose result is a document, not a table."""

    table = "table"
    json = "json"


#: `--json`, the old spelling of `--format json` (hidden; kept for one release).


def _print_json(obj: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON.
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _print_rows(rows: list[dict[str, Any]], columns: list[str], fmt: OutputFormat) -> None:
    """csv or md of a list of rows (a header even when there are none)."""
    import pandas as pd

    from m3vos.analysis.export import render_table

    typer.echo(render_table(pd.DataFrame(rows, columns=columns), fmt.value), nl=False)


@data_app.command("download")
def download(
    source: Source = typer.Option(Source.hf, "--source", help="hf: the Hugging Face release (default); "
                                  "gdrive: the original Google Drive folder (needs gdown); url: an archive "
                                  "(.tar, .tar.gz, .zip) on any HTTP(S) mirror."),
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder to create (default: M3-VOS under the "
                                        "user data folder, or $M3VOS_HOME/M3-VOS)."),
    revision: Optional[str] = typer.Option(None, "--revision", help="hf: dataset revision (default: the "
                                           "pinned commit; `main` for the newest)."),
    url: Optional[str] = typer.Option(None, "--url", help="url: the archive's address."),
    sha256: Optional[str] = typer.Option(None, "--sha256", help="url: expected sha256 of the archive; a "
                                         "mismatch is refused and nothing is kept."),
    videos: Optional[List[str]] = typer.Option(None, "--videos", help="hf: fetch only these videos "
                                               "(repeat, or comma-separate)."),
    retries: int = typer.Option(5, "--retries", min=0, max=100, help="url: attempts without progress "
                                "before giving up (a rerun resumes anyway)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --dest once the new copy is complete."),
    keep_archive: bool = typer.Option(False, "--keep-archive", help="url: keep the archive in the cache."),
    remember: bool = typer.Option(True, "--remember/--no-remember", help="Record the folder as the default "
                                  "dataset in the user config."),
    with_labels: bool = typer.Option(False, "--with-labels", help="Also fetch the official label files "
                                     "(same as `m3vos data labels`)."),
    fmt: DocFormat = typer.Option(DocFormat.table, "--format", "-f",
                                  help="table (a summary for people) or json (the result, on stdout)."),
) -> None:
    """Download M3-VOS, check it and remember where it is.

    Interrupted downloads resume: rerun the same command. The data appears under --dest only when
    complete (with a manifest for `m3vos data verify`).

    Examples:

      m3vos data download

      m3vos data download --dest ~/data/M3-VOS --videos 0233_generate_iodine_1

      m3vos data download --source url --url https://host/M3-VOS.tgz --sha256 HEX
    """
    from m3vos.data.sources import download_dataset

    names = [v.strip() for item in (videos or []) for v in item.split(",") if v.strip()]
    result = download_dataset(source.value, dest, revision=revision, url=url, sha256=sha256,
                              videos=names or None, retries=retries, force=force,
                              keep_archive=keep_archive, remember=remember, with_labels=with_labels)
    if fmt is DocFormat.json:
        _print_json(result.to_dict())
        return
    console.print(f"downloaded {result.videos} videos ({result.layout} layout) to {result.root}")
    if result.labels is not None:
        console.print(f"official label files in {result.labels}")
    if remember:
        console.print("remembered as the default dataset; next: `m3vos data verify`")


@data_app.command("verify")
def verify(
    root: Optional[Path] = typer.Argument(None, help="Dataset root (default: the configured dataset)."),
    split: str = typer.Option("val", "--split", help="Split file to check (ImageSets/<split>.txt)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Folder of official label files "
                                          "(default: the dataset's meta/ and the label cache)."),
    quick: bool = typer.Option(False, "--quick", help="Headers and sizes only: decode the first mask of "
                               "each video and skip sha256 (much faster, misses corrupt content)."),
    write_manifest: bool = typer.Option(False, "--write-manifest", help="When clean, (re)write the manifest "
                                        "so later runs check checksums."),
    allow: Optional[List[str]] = typer.Option(None, "--allow", help="Report this problem code as a warning "
                                              "(repeatable), e.g. --allow ids_mismatch."),
    workers: Optional[int] = shared("workers", "Threads reading files (default: the CPUs this process may use)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                     help="table (for people), json (the full report), csv or md (one row "
                                          "per problem and warning)."),
) -> None:
    """Check that a dataset is whole and usable; exit 1 when it is not.

    Checks the layout, that frames and masks pair up, palette (not RGB) masks, one size per video,
    first-frame annotations, object ids versus meta/target_object.json, readable files and (when a
    manifest exists) sizes and sha256 checksums. Each problem is printed on one line naming the file
    and the fix; exit code 1 when there are problems, 0 when clean.

    Examples:

      m3vos data verify

      m3vos data verify ~/data/M3-VOS --format json > verify.json
    """
    from m3vos.data.verify import PROBLEM_CODES, verify_dataset

    allowed = tuple(c.strip() for item in (allow or []) for c in item.split(",") if c.strip())
    report = verify_dataset(root, split=split, labels_dir=labels, quick=quick, allow=allowed,
                            workers=workers, write_manifest=write_manifest)
    if fmt is OutputFormat.json:
        _print_json(report.to_dict())
    elif fmt in (OutputFormat.csv, OutputFormat.md):
        rows = [{"severity": severity, "code": p.code, "path": p.path, "message": p.message, "fix":
        p.fix}
                for severity, found in (("problem", report.problems), ("warning", report.warnings))
                for p in found]
        _print_rows(rows, ["severity", "code", "path", "message", "fix"], fmt)
    else:
        for p in report.problems:
            typer.echo(f"problem {p.line()}")
        for w in report.warnings:
            typer.echo(f"warning {w.line()}")
        from rich.table import Table

        table = Table(title=f"verify {report.root} ({report.layout or '?'} layout, split {report.split or '?'})")
        table.add_column("check")
        table.add_column("problems", justify="right")
        table.add_column("what it means")
        for code, n in report.counts().items():
            table.add_row(code, str(n), PROBLEM_CODES[code], style="red" if n else None)
        console.print(table)
        s = report.stats
        console.print(f"{s.get('videos', 0)} videos, {s.get('frames', 0)} frames, {s.get('masks', 0)} masks "
                      f"checked in {s.get('seconds', 0):.2f} s: "
                      + ("[green]clean[/green]" if report.ok else f"[red]{len(report.problems)} problem(s)[/red]"))
    if not report.ok:
        raise typer.Exit(1)


#: (summary key, title) of the object counts `data info` prints.
_INFO_COUNTS = [("group", "group"), ("transition", "transition"), ("intra_cross", "intra / cross"),
                ("core", "core"), ("difficulty", "difficulty"), ("challenges", "challenge")]


@data_app.command("info")
def info(
    root: Optional[Path] = typer.Argument(None, help="Dataset root (default: the configured dataset)."),
    split: str = typer.Option("val", "--split", help="Split (ImageSets/<split>.txt)."),
    labels: Optional[Path] = typer.Option(None, "--labels", help="Folder of official label files."),
    workers: Optional[int] = shared("workers", "Threads reading files (default: the CPUs this process may use)."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", "-f",
                                     help="table (for people), json (everything), csv or md (one row per "
                                          "count: section, key, value)."),
) -> None:
    """Describe a dataset: videos, frames, objects, resolutions and label counts.

    Object counts are given per transition, group (IS/IL/IG/CP), intra/cross, core and difficulty.

    Examples:

      m3vos data info

      m3vos data info ~/data/M3-VOS --labels ~/m3vos-labels --format json
    """
    from m3vos.data.info import dataset_info

    summary = dataset_info(root, split=split, labels_dir=labels, workers=workers)
    if fmt is OutputFormat.json:
        _print_json(summary)
        return
    ident = summary["dataset"]
    fpv = summary["frames_per_video"]
    head = [("videos", summary["n_videos"]), ("frames", summary["n_frames"]),
            ("masks", summary["n_masks"]), ("objects", summary["n_objects"]),
            ("frames per video", f"{fpv['min']}-{fpv['max']} (mean {fpv['mean']})"),
            ("resolutions", ", ".join(f"{k} ({v})" for k, v in summary["resolutions"].items())),
            ("labelled objects", summary["labels"]["n_labelled"]),
            ("split from", ident["split_source"])]
    if fmt in (OutputFormat.csv, OutputFormat.md):
        rows = [{"section": "dataset", "key": k, "value": str(v)} for k, v in head]
        rows += [{"section": key, "key": k, "value": str(v)} for key, _ in _INFO_COUNTS
                 for k, v in summary[key].items()]
        _print_rows(rows, ["section", "key", "value"], fmt)
    else:
        from rich.table import Table

        table = Table(title=f"{ident['root']} ({ident['layout']} layout, split {ident['split']})",
                      show_header=False)
        table.add_column("what")
        table.add_column("value", justify="right")
        for name, value in head:
            table.add_row(name, str(value))
        console.print(table)
        for key, title in _INFO_COUNTS:
            counts = summary[key]
            if not counts:
                continue
            t = Table(title=f"objects per {title}")
            t.add_column(title)
            t.add_column("objects", justify="right")
            for k, v in counts.items():
                t.add_row(k, str(v))
            console.print(t)
    if summary["labels"]["unlabelled"]:
        err_console.print(f"note: {len(summary['labels']['unlabelled'])} object(s) have no label "
                          "(fetch them with `m3vos data labels` or pass --labels)")
    for e in summary["errors"]:
        err_console.print(f"warning: {e}")


@data_app.command("synth")
def synth(
    out: Path = typer.Argument(..., help="Folder to create (must be new or empty)."),
    videos: int = typer.Option(6, "--videos", min=1, max=500, help="Number of videos."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    frames: int = typer.Option(24, "--frames", min=3, max=2000, help="Frames per video."),
    height: int = typer.Option(120, "--height", min=32, max=2160, help="Frame height in pixels."),
    width: int = typer.Option(160, "--width", min=32, max=3840, help="Frame width in pixels."),
    remember: bool = typer.Option(False, "--remember", help="Also make it the default dataset."),
    layout: str = typer.Option("hf", "--layout",
                               help="hf (the M3-VOS release, with labels), vost, davis (DAVIS 2017: "
                                    "Annotations/480p, ImageSets/2017), ytvos (YouTube-VOS 2019: train/ + "
                                    "valid/ with meta.json and first-appearance masks) or mose."),
) -> None:
    """Make a small synthetic dataset in the Hugging Face release layout (or another benchmark's).

    Label files come in the official formats; objects melt, break, dissolve, grow from nothing after
    frame 0, dash and leave the frame. Same seed, same bytes.

    Examples:

      m3vos data synth /tmp/m3vos-synth

      m3vos data synth /tmp/big --videos 30 --frames 60 --seed 3

      m3vos data synth /tmp/yt --layout ytvos   # for: m3vos run --dataset ytvos
    """
    import time

    from m3vos.data.synth import make_synthetic_dataset

    t0 = time.perf_counter()
    root = make_synthetic_dataset(out, videos=videos, seed=seed, frames=frames, height=height,
    width=width,
                                  layout=layout, remember=remember)
    console.print(f"wrote {videos} synthetic videos x {frames} frames ({height}x{width}, {layout} layout) to {root} "
                  f"in {time.perf_counter() - t0:.2f} s")


@data_app.command("labels")
def labels(
    dest: Optional[Path] = typer.Option(None, "--dest", help="Folder for the files (default: the label cache)."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="Mirror of raw.githubusercontent.com "
                                           "(files are fetched from BASE/<repo>/<commit>/<path>)."),
    check: Optional[Path] = typer.Option(None, "--check", help="Only check a folder of label files "
                                         "against the pinned sha256 digests."),
) -> None:
    """Fetch the official label files (transitions, difficulty, ratings), sha256-checked.

    They come from the official repository at a pinned commit and go to the label cache, where
    `m3vos data info`, `verify` and the breakdowns of `m3vos score` find them.

    Examples:

      m3vos data labels

      m3vos data labels --check ~/m3vos-labels
    """
    from m3vos.data import labels as lab

    if check is not None:
        problems = lab.check_labels_dir(check)
        for p in problems:
            typer.echo(f"problem {p}")
        console.print(f"{len(lab.OFFICIAL_FILES) - len(problems)}/{len(lab.OFFICIAL_FILES)} label files match "
                      f"commit {lab.OFFICIAL_COMMIT[:7]}")
        if problems:
            raise typer.Exit(1)
        return
    folder = lab.fetch_official_labels(dest, base_url=base_url)
    console.print(f"{len(lab.OFFICIAL_FILES)} official label files (commit {lab.OFFICIAL_COMMIT[:7]}) in {folder}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(data_app, name="data")
    for command in ("download", "verify", "info"):
        ALIASES.setdefault(("data", command), {}).update({"--json": "--format=json"})
