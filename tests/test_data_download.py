"""Downloads against real HTTP servers on 127.0.0.1: resume, digests, archives, the Hub API."""

from __future__ import annotations

import importlib.util

import errno
import hashlib
import io
import json
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from m3vos.data.archive import safe_extract
from m3vos.utils.download import DownloadError, download_file
from m3vos.data.synth import make_synthetic_dataset
from m3vos.errors import BadInputError, M3vosError

from helpers_data import FileServerState, hub_handler, serve_files, tree_files

HF_REPO = "Lijiaxin0111/M3_VOS"


@pytest.fixture(scope="module")
def small_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("rel") / "M3-VOS", videos=2, frames=5, seed=1)


@pytest.fixture(scope="module")
def release_tgz(small_release: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(small_release, arcname="M3-VOS")       # one top folder, as archives usually have
    return buf.getvalue()


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# --- download_file ---------------------------------------------------------------------------

def test_resume_after_cut_within_one_call(tmp_path: Path) -> None:
    body = os.urandom(600_000)
    state = FileServerState(files={"/f.bin": body}, cut_after={"/f.bin": 200_000}, cuts_left={"/f.bin": 2})
    with serve_files(state) as (url, st):
        out = download_file(f"{url}/f.bin", tmp_path / "f.bin", sha256=_sha(body), progress=False)
    assert out.read_bytes() == body
    assert [e["range"] for e in st.log] == [None, "bytes=200000-", "bytes=400000-"]
    assert not list(tmp_path.glob("*.part*"))


def test_resume_across_calls_and_server_without_range(tmp_path: Path) -> None:
    body = os.urandom(300_000)
    state = FileServerState(files={"/f.bin": body}, cut_after={"/f.bin": 100_000}, cuts_left={"/f.bin": 1})
    with serve_files(state) as (url, st):
        with pytest.raises(DownloadError, match="resumes"):
            download_file(f"{url}/f.bin", tmp_path / "f.bin", retries=0, progress=False)
        part = tmp_path / "f.bin.part"
        assert part.stat().st_size == 100_000 and not (tmp_path / "f.bin").exists()
        download_file(f"{url}/f.bin", tmp_path / "f.bin", sha256=_sha(body), retries=0, progress=False)
        assert st.log[-1]["range"] == "bytes=100000-" and st.log[-1]["if_range"]
        assert (tmp_path / "f.bin").read_bytes() == body
        # A server that ignores Range answers 200: the part is discarded, not appended to.
        st.ignore_range = True
        st.cuts_left["/f.bin"] = 1
        download_file(f"{url}/f.bin", tmp_path / "g.bin", sha256=_sha(body), progress=False)
        assert (tmp_path / "g.bin").read_bytes() == body
        assert st.log[-1]["range"] == "bytes=100000-"


def test_digest_mismatch_keeps_nothing(tmp_path: Path) -> None:
    body = b"x" * 5000
    with serve_files(FileServerState(files={"/f": body})) as (url, _):
        with pytest.raises(DownloadError, match="sha256 mismatch.*deleted"):
            download_file(f"{url}/f", tmp_path / "f", sha256="0" * 64, progress=False)
        with pytest.raises(DownloadError, match="md5 mismatch"):
            download_file(f"{url}/f", tmp_path / "f", md5="0" * 32, progress=False)
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(DownloadError, match="HTTP 404"):
            download_file(f"{url}/missing", tmp_path / "m", progress=False)
        # A complete file with the right digest is not fetched again.
        download_file(f"{url}/f", tmp_path / "f", md5=hashlib.md5(body).hexdigest(), progress=False)
        n = len(_.log)
        download_file(f"{url}/f", tmp_path / "f", md5=hashlib.md5(body).hexdigest(), progress=False)
        assert len(_.log) == n


def test_full_disk_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_open = builtins.open

    class FullDisk(io.RawIOBase):
        def __init__(self, f):
            self.f = f

        def write(self, b):  # noqa: D401
            raise OSError(errno.ENOSPC, "No space left on device")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

    def fake_open(file, mode="r", *a, **k):
        f = real_open(file, mode, *a, **k)
        return FullDisk(f) if str(file).endswith(".part") and "b" in mode and ("a" in mode or "w" in mode) else f

    with serve_files(FileServerState(files={"/f": b"y" * 10_000})) as (url, _):
        monkeypatch.setattr("m3vos.utils.download.open", fake_open, raising=False)
        with pytest.raises(M3vosError) as exc:
            download_file(f"{url}/f", tmp_path / "f", progress=False)
    assert "disk full" in exc.value.one_line() and "resumes" in exc.value.one_line()
    assert "\n" not in exc.value.one_line()


# --- archives --------------------------------------------------------------------------------

def _tar(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            payload = (data or {}).get(m.name)
            if payload is not None:
                m.size = len(payload)
            tf.addfile(m, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    m = tarfile.TarInfo(name)
    m.type = kind
    m.linkname = link
    return m


@pytest.mark.parametrize("case,why", [
    ("traversal", "goes up"),
    ("absolute", "absolute path"),
    ("symlink", "points outside"),
    ("hardlink", "outside"),
    ("device", "device file"),
    ("zip_traversal", "goes up"),
    ("zip_symlink", "symbolic link"),
])
def test_malicious_archives_are_refused(tmp_path: Path, case: str, why: str) -> None:
    ok = _member("ds/Annotations/v/0000000.png")
    if case == "traversal":
        blob = _tar([ok, _member("ds/../../evil.txt")], {"ds/Annotations/v/0000000.png": b"p", "ds/../../evil.txt": b"e"})
    elif case == "absolute":
        blob = _tar([_member("/tmp/evil.txt")], {"/tmp/evil.txt": b"e"})
    elif case == "symlink":
        blob = _tar([_member("ds/link", tarfile.SYMTYPE, "../../../etc"), _member("ds/link/passwd")],
                    {"ds/link/passwd": b"e"})
    elif case == "hardlink":
        blob = _tar([_member("ds/h", tarfile.LNKTYPE, "../../etc/passwd")])
    elif case == "device":
        blob = _tar([_member("ds/null", tarfile.CHRTYPE)])
    else:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            if case == "zip_traversal":
                zf.writestr("ds/../../evil.txt", b"e")
            else:
                info = zipfile.ZipInfo("ds/link")
                info.external_attr = (0o120777 << 16)
                zf.writestr(info, "/etc/passwd")
        blob = buf.getvalue()
    archive = tmp_path / "a.bin"
    archive.write_bytes(blob)
    dest = tmp_path / "out"
    dest.mkdir()
    with pytest.raises(BadInputError, match=why) as exc:
        safe_extract(archive, dest)
    assert "unsafe archive member" in exc.value.one_line()
    assert list(dest.iterdir()) == []                      # refused before anything was written
    assert not (tmp_path / "evil.txt").exists()


def test_cli_url_download_resumes_verifies_and_remembers(release_tgz: bytes, tmp_path: Path, cli) -> None:
    half = len(release_tgz) // 2
    state = FileServerState(files={"/M3-VOS.tar.gz": release_tgz}, cut_after={"/M3-VOS.tar.gz": half},
                            cuts_left={"/M3-VOS.tar.gz": 1})
    dest = tmp_path / "data" / "M3-VOS"
    with serve_files(state) as (url, st):
        proc = cli("data", "download", "--source", "url", "--url", f"{url}/M3-VOS.tar.gz",
                   "--sha256", _sha(release_tgz), "--dest", dest, "--json", check=0)
    assert [e["range"] for e in st.log] == [None, f"bytes={half}-"]
    result = json.loads(proc.stdout)
    assert result["dataset"]["layout"] == "hf" and result["dataset"]["n_videos"] == 2
    assert (dest / "m3vos_manifest.json").is_file() and not list(dest.parent.glob(".M3-VOS*"))
    # Remembered: verify and info need no root now.
    out = cli("data", "verify", check=0)
    assert "clean" in out.stdout and "problem " not in out.stdout
    info = json.loads(cli("data", "info", "--json", check=0).stdout)
    assert info["dataset"]["root"] == str(dest.resolve())
    # The destination is not overwritten without --force (checked before any byte is fetched).
    from m3vos.data.sources import download_from_url

    with pytest.raises(BadInputError, match="--force"):
        download_from_url("http://127.0.0.1:9/never", dest)


def test_cli_url_download_across_runs(release_tgz: bytes, tmp_path: Path, cli) -> None:
    half = len(release_tgz) // 2
    state = FileServerState(files={"/a.tar.gz": release_tgz}, cut_after={"/a.tar.gz": half},
                            cuts_left={"/a.tar.gz": 1})
    dest = tmp_path / "M3"
    with serve_files(state) as (url, st):
        proc = cli("data", "download", "--source", "url", "--url", f"{url}/a.tar.gz", "--dest", dest,
                   "--retries", "0", check=3)
        assert proc.stderr.count("\n") == 1 and "rerun" in proc.stderr and not dest.exists()
        cli("data", "download", "--source", "url", "--url", f"{url}/a.tar.gz", "--dest", dest,
            "--retries", "0", "--sha256", _sha(release_tgz), check=0)
    assert st.log[-1]["range"] == f"bytes={half}-"
    cli("data", "verify", dest, check=0)


def test_cli_checksum_mismatch_and_malicious_archive(release_tgz: bytes, tmp_path: Path, cli) -> None:
    evil = _tar([_member("M3-VOS/data/Annotations/v/0000000.png"), _member("M3-VOS/../../../pwned")],
                {"M3-VOS/data/Annotations/v/0000000.png": b"p", "M3-VOS/../../../pwned": b"x"})
    state = FileServerState(files={"/good.tar.gz": release_tgz, "/evil.tar": evil})
    with serve_files(state) as (url, _):
        bad = cli("data", "download", "--source", "url", "--url", f"{url}/good.tar.gz", "--sha256", "ab" * 32,
                  "--dest", tmp_path / "a", check=3)
        assert "sha256 mismatch" in bad.stderr and "Traceback" not in bad.stderr
        assert not (tmp_path / "a").exists()
        assert not list((Path(os.environ["M3VOS_CACHE"]) / "downloads").glob("*good.tar.gz*"))
        proc = cli("data", "download", "--source", "url", "--url", f"{url}/evil.tar", "--dest", tmp_path / "b",
                   check=2)
    assert "unsafe archive member" in proc.stderr and "pwned" in proc.stderr
    assert not (tmp_path / "b").exists() and not list(tmp_path.rglob("pwned"))
    assert not (Path(os.environ["M3VOS_CACHE"]) / "downloads" / "evil.tar").exists()


def test_cli_gdrive_without_gdown(tmp_path: Path, cli) -> None:
    # gdown is an optional extra; this checks the message when it is absent
    if importlib.util.find_spec("gdown") is not None:
        pytest.skip("gdown is installed")
    proc = cli("data", "download", "--source", "gdrive", "--dest", tmp_path / "g", check=2)
    assert "gdown" in proc.stderr and "pip install" in proc.stderr


# --- the Hugging Face path -------------------------------------------------------------------

def test_cli_hf_download_against_a_local_hub(small_release: Path, tmp_path: Path, cli) -> None:
    files = tree_files(small_release)
    files.pop("m3vos_manifest.json")
    commit = "c0ffee" + "0" * 34
    env_base = {"HF_HOME": str(tmp_path / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5"}
    with serve_files(handler_factory=hub_handler(HF_REPO, commit, files)) as (url, st):
        env = {**env_base, "HF_ENDPOINT": url}
        full = tmp_path / "full"
        proc = cli("data", "download", "--dest", full, "--revision", "main", "--json", env=env, check=0)
        assert json.loads(proc.stdout)["dataset"]["n_videos"] == 2
        paths = {e["path"] for e in st.log}
        assert f"/api/datasets/{HF_REPO}/revision/main" in paths
        assert any(p.startswith(f"/datasets/{HF_REPO}/resolve/{commit}/data/Annotations/") for p in paths)
        assert not (full / ".cache").exists()
        manifest = json.loads((full / "m3vos_manifest.json").read_text())
        assert manifest["source"]["revision"] == "main" and manifest["n_files"] == len(files)
        cli("data", "verify", full, check=0)
    # In-process from here (the same code, without paying for another interpreter start).
    from m3vos.data.sources import download_from_hf
    from m3vos.data.verify import verify_dataset

    with serve_files(handler_factory=hub_handler(HF_REPO, commit, files)) as (url, st):
        # One video only: the split lists just that one, verify stays clean.
        first = (small_release / "data/ImageSets/val.txt").read_text().split()[0]
        one = download_from_hf(tmp_path / "one", revision=commit, videos=[first], remember=False, endpoint=url)
        assert (one / "data/ImageSets/val.txt").read_text().split() == [first]
        assert sorted(p.name for p in (one / "data/Annotations").iterdir()) == [first]
        assert verify_dataset(one).ok
        assert not any(e["path"].startswith(f"/api/datasets/{HF_REPO}/revision/") for e in st.log)  # a sha: no lookup
        for rev in ("f" * 40, "no-such-branch"):
            with pytest.raises(BadInputError, match="not found"):
                download_from_hf(tmp_path / "x", revision=rev, remember=False, endpoint=url)
            assert not (tmp_path / "x").exists()
        with pytest.raises(BadInputError, match="unknown video"):
            download_from_hf(tmp_path / "y", revision=commit, videos=["nope_1"], remember=False, endpoint=url)
        assert not (tmp_path / "y").exists()


def test_corrupt_and_non_archives(release_tgz: bytes, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(release_tgz[: len(release_tgz) // 2])
    with pytest.raises(BadInputError, match="corrupt archive"):
        safe_extract(cut, tmp_path / "out")
    plain = tmp_path / "notes.txt"
    plain.write_text("hello")
    with pytest.raises(BadInputError, match="not a .tar"):
        safe_extract(plain, tmp_path / "out")
