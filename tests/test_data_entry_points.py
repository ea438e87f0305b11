"""Issue 15 phase 2, the data half: the library entry points the thin `m3vos data` commands call
(`download_dataset`, `verify_dataset(write_manifest=)`), their `--format` / `--workers` flags, the
hidden `--json` alias, and help texts that read well at any terminal width."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from m3vos.data.sources import DownloadResult, download_dataset
from m3vos.data.synth import make_synthetic_dataset
from m3vos.data.verify import verify_dataset
from m3vos.errors import BadInputError

from helpers_data import FileServerState, serve_files


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("ep") / "M3-VOS", videos=3, frames=4, seed=2)


# --- download_dataset: the dispatcher behind `m3vos data download` ---------------------------

def test_download_dataset_fetches_an_archive_and_describes_it(small: Path, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(small, arcname="M3-VOS")
    blob = buf.getvalue()
    dest = tmp_path / "got" / "M3-VOS"
    with serve_files(FileServerState(files={"/ds.tar.gz": blob})) as (url, st):
        result = download_dataset("url", dest, url=f"{url}/ds.tar.gz", sha256=hashlib.sha256(blob).hexdigest(),
                                  remember=False, progress=False)
    assert isinstance(result, DownloadResult) and len(st.log) == 1
    assert result.root == dest and result.videos == 3 and result.layout == "hf" and result.labels is None
    doc = result.to_dict()
    assert doc["source"] == "url" and doc["root"] == str(dest) and doc["remembered"] is False
    assert doc["dataset"]["n_videos"] == 3 and "labels" not in doc
    assert (dest / "m3vos_manifest.json").is_file()
    from m3vos.data.config import get_data_root

    assert get_data_root() is None              # remember=False leaves the user config alone


@pytest.mark.parametrize("source, options, message", [
    ("url", {}, "--source url needs --url"),
    ("hf", {"url": "http://127.0.0.1:9/x.tgz"}, "--url/--sha256 belong to --source url"),
    ("hf", {"sha256": "0" * 64}, "--url/--sha256 belong to --source url"),
    ("url", {"url": "http://127.0.0.1:9/x.tgz", "videos": ["a"]}, "--videos and --revision belong to --source hf"),
    ("gdrive", {"revision": "main"}, "--videos and --revision belong to --source hf"),
    ("ftp", {}, "unknown download source 'ftp'"),
])
def test_download_dataset_refuses_what_belongs_to_another_source(tmp_path: Path, source: str, options: dict,
                                                                 message: str) -> None:
    dest = tmp_path / "never"
    with pytest.raises(BadInputError, match=message):
        download_dataset(source, dest, **options)
    assert not dest.exists() and not list(tmp_path.iterdir())     # refused before anything was made


def test_cli_download_error_is_one_line_exit_2(tmp_path: Path, cli) -> None:
    proc = cli("data", "download", "--source", "url", "--dest", tmp_path / "d", check=2)
    assert proc.stderr.strip().splitlines() == ["error: --source url needs --url "
                                                "(fix: m3vos data download --source url --url URL)"]


def test_synth_remembers_only_when_asked(tmp_path: Path, cli) -> None:
    from m3vos.data.config import get_data_root

    make_synthetic_dataset(tmp_path / "a", videos=1, frames=3, height=32, width=32)
    assert get_data_root() is None
    cli("data", "synth", tmp_path / "b", "--videos", "1", "--frames", "3", "--height", "32", "--width", "32",
        "--remember", check=0)
    assert get_data_root() == (tmp_path / "b").resolve()


# --- verify: write_manifest in the library, formats and workers on the command line -------------

def test_verify_writes_the_manifest_only_when_clean(small: Path, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(small, root)
    (root / "m3vos_manifest.json").unlink(missing_ok=True)
    broken = next((root / "data" / "Annotations").iterdir())
    next(broken.iterdir()).write_bytes(b"not a png")
    report = verify_dataset(root, write_manifest=True, workers=1)
    assert not report.ok and not (root / "m3vos_manifest.json").exists()
    assert "manifest_written" not in report.stats
    shutil.rmtree(root)
    shutil.copytree(small, root)
    (root / "m3vos_manifest.json").unlink(missing_ok=True)
    report = verify_dataset(root, write_manifest=True, workers=1)
    assert report.ok and report.stats["manifest_written"] is True
    assert (root / "m3vos_manifest.json").is_file()
    assert verify_dataset(root).stats["manifest_files"] > 0          # the next run checks checksums


def test_verify_formats_and_the_json_alias(small: Path, tmp_path: Path, cli) -> None:
    import shutil

    root = tmp_path / "b"
    shutil.copytree(small, root)
    first = sorted((root / "data" / "Annotations").iterdir())[0]
    sorted(first.iterdir())[-1].write_bytes(b"garbage")
    as_json = cli("data", "verify", root, "--format", "json", "-j", "1", check=1)
    alias = cli("data", "verify", root, "--json", check=1)
    a, b = json.loads(as_json.stdout), json.loads(alias.stdout)
    for doc in (a, b):
        doc["stats"].pop("seconds", None)
    assert a == b and not a["ok"]
    rows = list(csv.DictReader(io.StringIO(cli("data", "verify", root, "-f", "csv", check=1).stdout)))
    assert rows and {r["severity"] for r in rows} <= {"problem", "warning"}
    assert {r["code"] for r in rows if r["severity"] == "problem"} == {p["code"] for p in a["problems"]}
    assert all(r["path"] and r["fix"] for r in rows)
    md = cli("data", "verify", root, "-f", "md", check=1).stdout.splitlines()
    assert md[0] == "| severity | code | path | message | fix |" and len(md) == 2 + len(rows)
    clean = cli("data", "verify", small, "-f", "csv", check=0).stdout
    assert clean.splitlines() == ["severity,code,path,message,fix"]   # a header, nothing else
    bad = cli("data", "verify", small, "--workers", "0", check=2)
    assert "--workers" in bad.stderr


def test_info_formats_and_the_json_alias(small: Path, cli) -> None:
    a = json.loads(cli("data", "info", small, "-f", "json", "--workers", "1", check=0).stdout)
    b = json.loads(cli("data", "info", small, "--json", check=0).stdout)
    assert a == b and a["n_videos"] == 3
    rows = list(csv.DictReader(io.StringIO(cli("data", "info", small, "--format", "csv", check=0).stdout)))
    got = {(r["section"], r["key"]): r["value"] for r in rows}
    assert got[("dataset", "videos")] == "3" and got[("dataset", "frames")] == str(a["n_frames"])
    assert {(k, str(v)) for k, v in a["group"].items()} == {(k, v) for (s, k), v in got.items() if s == "group"}
    md = cli("data", "info", small, "-f", "md", check=0).stdout.splitlines()
    assert md[0] == "| section | key | value |" and len(md) == 2 + len(rows)


# --- help texts: paragraphs wrapped by the terminal, not by the docstring ----------------------

COMMANDS = [("data",), ("data", "download"), ("data", "verify"), ("data", "info"), ("data", "synth"),
            ("data", "labels"), ("weights",), ("weights", "list"), ("weights", "download"),
            ("weights", "check")]


def help_paragraphs(text: str) -> list[list[str]]:
    """The paragraphs of the description (between `Usage:` and the first option box)."""
    lines = [line.rstrip() for line in text.split("╭")[0].splitlines()]
    lines = [line for line in lines if not line.lstrip().startswith("Usage:")]
    out: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            out[-1].append(line)
        elif out[-1]:
            out.append([])
    return [p for p in out if p]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("columns", [80, 200])
def test_help_reads_well_at_any_width(cli, command: tuple[str, ...], columns: int) -> None:
    text = cli(*command, "--help", env={"COLUMNS": str(columns)}, check=0).stdout
    paragraphs = help_paragraphs(text)
    assert len(paragraphs) >= 1
    for para in paragraphs:
        if para[0].startswith("   "):      # an example: one command, one line
            assert len(para) == 1, f"example wrapped at {columns} columns: {para}"
            continue
        for line in para[:-1]:             # every line but the last fills the width
            assert len(line) >= columns - 25, f"ragged at {columns} columns: {para}"
