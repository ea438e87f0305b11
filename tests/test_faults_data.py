"""Issue 13, data side: archives, manifests, verify and downloads, as an attacker would use them.

Each test reproduces one numbered fault on real files, a real HTTP server on 127.0.0.1 and
real subprocesses.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from helpers_data import FileServerState, serve_files
from helpers_faults import read_only, slow_handler
from helpers_cli import one_line_error


def _synth(root: Path, videos: int = 1, frames: int = 4) -> Path:
    from m3vos.data.synth import make_synthetic_dataset

    return make_synthetic_dataset(root, videos=videos, frames=frames, height=32, width=32)


def _tgz(root: Path, top: str = "M3-VOS", extra: list[tarfile.TarInfo] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for p in sorted(root.rglob("*")):
            if p.name == "m3vos_manifest.json":
                continue
            tf.add(p, arcname=f"{top}/{p.relative_to(root).as_posix()}", recursive=False)
        for info in extra or []:
            tf.addfile(info)
    return buf.getvalue()


def test_fault04_a_link_that_escapes_after_the_top_folder_is_lifted_is_refused(cli, tmp_path):
    src = _synth(tmp_path / "src")
    link = tarfile.TarInfo("M3-VOS/data/leak")       # inside while under M3-VOS/, outside once lifted
    link.type, link.linkname = tarfile.SYMTYPE, "../../secret.txt"
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "secret.txt").write_text("not part of any dataset")
    dest = tmp_path / "dl" / "ds"
    with serve_files(FileServerState(files={"/ds.tar.gz": _tgz(src, extra=[link])})) as (url, _):
        proc = cli("data", "download", "--source", "url", "--url", f"{url}/ds.tar.gz", "--dest", dest,
                   "--no-remember", check=2)
    assert "points outside the dataset" in one_line_error(proc) and "leak" in proc.stderr
    assert not dest.exists() and not list((tmp_path / "dl").glob(".ds*"))


def test_fault05_manifest_entries_outside_the_root_or_malformed_and_odd_files(cli, tmp_path):
    from m3vos.data.manifest import write_manifest

    root = _synth(tmp_path / "ds")
    os.mkfifo(root / "data" / "pipe")                        # reading it would block forever
    (root / "data" / "dangling").symlink_to(root / "nowhere")
    (root / "data" / "out_link").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text("outside")
    write_manifest(root, progress=False)
    doc = json.loads((root / "m3vos_manifest.json").read_text())
    paths = [f["path"] for f in doc["files"]]
    assert not {"data/pipe", "data/dangling", "data/out_link"} & set(paths) and "data/ImageSets/val.txt" in paths

    cli("data", "verify", root, "--write-manifest", timeout=60, check=0)   # the FIFO: no hang

    outside = hashlib.sha256((tmp_path / "outside.txt").read_bytes()).hexdigest()
    doc = json.loads((root / "m3vos_manifest.json").read_text())
    doc["files"] += [{"path": "../outside.txt", "size": 7, "sha256": outside},
                     {"path": "/etc/hostname", "size": 1, "sha256": "0" * 64},
                     "data/ImageSets/val.txt",
                     {"path": "data/ImageSets/val.txt"}]
    (root / "m3vos_manifest.json").write_text(json.dumps(doc))
    proc = cli("data", "verify", root, "--json", timeout=60, check=1)
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    messages = [p["message"] for p in report["problems"] if p["code"] == "checksum"]
    assert sum("outside the dataset" in m or "goes up" in m or "absolute" in m for m in messages) == 2
    assert any("not an object" in m for m in messages) and any("no valid size" in m for m in messages)


def test_fault08_parallel_downloads_of_one_target_share_one_transfer(tmp_path):
    body = os.urandom(1 << 20)
    dest = tmp_path / "weights" / "model.pth"
    code = ("import sys; from m3vos.utils.download import download_file; "
            "download_file(sys.argv[1], sys.argv[2], progress=False)")
    with serve_files(FileServerState(files={"/model.pth": body}),
                     handler_factory=slow_handler(0.02, 32 << 10)) as (url, st):
        procs = [subprocess.Popen([sys.executable, "-c", code, f"{url}/model.pth", str(dest)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert [rc for rc, _ in results] == [0] * 4, results
    assert dest.read_bytes() == body
    assert len(st.log) == 1                # one downloaded, the others waited and reused its file
    assert [p.name for p in dest.parent.iterdir()] == ["model.pth"]     # no .part, no lock file left


def test_fault10_archive_cache_is_keyed_by_the_whole_url(cli, tmp_path):
    one, two = _synth(tmp_path / "one", videos=1, frames=3), _synth(tmp_path / "two", videos=2, frames=3)
    files = {"/ds.tar.gz": _tgz(one), "/alt/ds.tar.gz": _tgz(two)}
    with serve_files(FileServerState(files=files)) as (url, st):
        for path, dest in (("/ds.tar.gz", "a"), ("/alt/ds.tar.gz", "b")):
            cli("data", "download", "--source", "url", "--url", url + path, "--dest", tmp_path / dest,
                "--keep-archive", "--no-remember", check=0)
    assert [e["path"] for e in st.log] == ["/ds.tar.gz", "/alt/ds.tar.gz"]
    info = json.loads(cli("data", "info", tmp_path / "b", "--json", check=0).stdout)
    assert info["n_videos"] == 2


def test_fault14_write_manifest_on_a_read_only_dataset_is_an_environment_error(cli, tmp_path):
    root = _synth(tmp_path / "ds")
    with read_only(root):
        proc = cli("data", "verify", root, "--write-manifest", check=3)
    assert "cannot write the manifest" in one_line_error(proc)


def test_fault15_url_and_digest_mistakes_fail_before_any_transfer(cli, tmp_path):
    with serve_files(FileServerState(files={"/ds.tar.gz": b"x" * 1000})) as (url, st):
        line = one_line_error(cli("data", "download", "--source", "url", "--url", f"{url}/ds.tar.gz", "--sha256", "abc",
                             "--dest", tmp_path / "a", check=2))
        assert "not a sha256 digest" in line and st.log == []
    local = tmp_path / "local.tar.gz"
    local.write_bytes(b"x")
    assert "not an http(s) URL" in one_line_error(cli("data", "download", "--source", "url", "--url", local,
                                                 "--dest", tmp_path / "b", check=2))
    t0 = time.monotonic()
    assert "not an http(s) URL" in one_line_error(cli("data", "download", "--source", "url", "--url",
                                                 "htp://example.org/ds.tar.gz", "--dest", tmp_path / "c", check=2))
    assert time.monotonic() - t0 < 20          # no backoff-and-retry of a typo


def test_fault15_retries_count_attempts_without_progress(tmp_path):
    from m3vos.utils.download import download_file

    body = os.urandom(300_000)
    state = FileServerState(files={"/f": body}, cut_after={"/f": 50_000}, cuts_left={"/f": 4})
    with serve_files(state) as (url, st):
        download_file(f"{url}/f", tmp_path / "f", retries=1, progress=False)   # every cut made progress
    assert (tmp_path / "f").read_bytes() == body and len(st.log) == 5


def test_fault15_a_trickling_server_fails_in_bounded_time(tmp_path):
    from m3vos.utils.download import DownloadError, download_file

    with serve_files(FileServerState(files={"/f": b"y" * 100}), handler_factory=slow_handler(2.0)) as (url, _):
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match="stalled"):
            download_file(f"{url}/f", tmp_path / "f", retries=1, progress=False, stall_timeout=1.0)
        assert time.monotonic() - t0 < 15


def test_fault19_verify_flags_short_videos_and_case_twins(cli, tmp_path):
    root = _synth(tmp_path / "ds", videos=2, frames=4)
    videos = sorted(p for p in (root / "data" / "Annotations").iterdir())
    short, twin = videos
    for p in sorted(short.glob("*.png"))[2:]:
        p.unlink()
        (root / "data" / "JPEGImages" / short.name / f"{p.stem}.jpg").unlink()
    first = sorted(twin.glob("*.png"))[1]
    (twin / f"{first.stem}.PNG").write_bytes(first.read_bytes())
    report = json.loads(cli("data", "verify", root, "--json", check=1).stdout)
    by_code = {p["code"]: p for p in report["problems"]}
    assert short.name in by_code["short_video"]["message"] and "refuses" in by_code["short_video"]["message"]
    assert any("two masks for frame" in p["message"] for p in report["problems"])


def test_fault18_data_hints_name_real_options(cli, tmp_path):
    root = _synth(tmp_path / "ds")
    (root / "m3vos_manifest.json").write_text("{not json")
    report = json.loads(cli("data", "verify", root, "--json", check=1).stdout)
    fixes = " ".join(p["fix"] for p in report["problems"])
    assert "--write-manifest" in fixes and "--rebuild-manifest" not in fixes
    line = one_line_error(cli("data", "verify", check=2))
    assert "ROOT" in line


def test_fault14_environment_errors_anywhere_are_exit_3_not_a_traceback(cli, tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    with read_only(ro):
        proc = cli("data", "synth", ro / "ds", "--videos", "1", "--frames", "3", check=3)
    line = one_line_error(proc)
    assert "Read-only file system" in line or "Permission denied" in line
    full = tmp_path / "full"
    full.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "none", str(full)],
                                           capture_output=True).returncode != 0:
        pytest.skip("needs root and tmpfs mounts to fill a disk")
    try:
        proc = cli("data", "synth", full / "ds", "--videos", "2", "--frames", "40", check=3)
        assert "No space left on device" in one_line_error(proc)
    finally:
        subprocess.run(["umount", str(full)], capture_output=True)
