"""Downloading known weights from a local HTTP server serving a seeded-weights file: the
cache, resume after a cut connection, checksums, the base-URL override, and Google Drive
files without gdown."""

from __future__ import annotations

import hashlib
from pathlib import Path
import importlib.util

import pytest

torch = pytest.importorskip("torch")

from helpers_cutie import own_weights  # noqa: E402
from helpers_data import FileServerState, serve_files  # noqa: E402

from m3vos.utils.download import DownloadError  # noqa: E402
from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers import weights as W  # noqa: E402


@pytest.fixture(scope="module")
def seeded_bytes(tmp_path_factory) -> bytes:
    return own_weights(tmp_path_factory, "cutie-small").read_bytes()


def test_table_and_cache_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("M3VOS_CACHE", str(tmp_path / "c"))
    assert W.weights_path("cutie-base") == tmp_path / "c" / "weights" / "cutie-base-mega.pth"
    assert W.weights_path("revos").name == "mega_v4_main_training_72800.pth"
    base = W.get_known("cutie-base-mega")
    assert base.url == "https://github.com/hkchengrex/Cutie/releases/download/v1.0/cutie-base-mega.pth"
    assert base.md5 == "a6071de6136982e396851903ab4c083a" and base.model == "cutie-base"
    assert {w.model for w in W.KNOWN_WEIGHTS.values() if not w.model.startswith("sam2")} == \
        {"cutie-small", "cutie-base", "revos"}
    assert not any(s.present for s in W.list_weights())
    with pytest.raises(BadInputError, match="unknown weights 'cutie-huge'"):
        W.weights_path("cutie-huge")
    with pytest.raises(BadInputError, match="not downloaded yet"):
        W.resolve_weights("cutie-small")
    with pytest.raises(BadInputError, match="m3vos weights download cutie-base-mega"):
        W.weights_for_model("cutie-base")
    given = tmp_path / "mine.pth"
    given.write_bytes(b"x")
    assert W.weights_for_model("revos", given) == given
    with pytest.raises(BadInputError, match="weights file not found"):
        W.weights_for_model("revos", tmp_path / "absent.pth")


def test_download_resumes_after_a_cut_and_lands_in_the_cache(seeded_bytes):
    name = "/cutie-small-mega.pth"        # the first transfer is cut after a third
    state = FileServerState(files={name: seeded_bytes}, cut_after={name: len(seeded_bytes) // 3},
                            cuts_left={name: 1})
    with serve_files(state) as (url, st):
        path = W.download_weights("cutie-small-mega", url=url + name, progress=False)
    assert path == W.weights_path("cutie-small-mega")
    assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(seeded_bytes).digest()
    ranges = [r["range"] for r in st.log]
    assert ranges[0] is None and ranges[1] == f"bytes={len(seeded_bytes) // 3}-"
    assert not path.with_name(path.name + ".part").exists()
    status = {s.name: s for s in W.list_weights()}["cutie-small-mega"]
    assert status.present and status.size == len(seeded_bytes)
    assert W.resolve_weights("cutie-small") == path
    assert W.weights_for_model("cutie-small") == path
    # the downloaded file loads strictly into its model
    from m3vos.trackers.models import check_checkpoint

    assert check_checkpoint("cutie-small", path).ok


def test_interrupted_download_is_listed_as_partial_and_resumes_next_call(seeded_bytes):
    name = "/w.pth"                       # every transfer is cut after 1 MiB until told
    state = FileServerState(files={name: seeded_bytes}, cut_after={name: 1 << 20},
                            cuts_left={name: 10})
    with serve_files(state) as (url, st):
        # retries count attempts in a row without progress: with 0, the first cut ends the call
        with pytest.raises(DownloadError, match="failed after 1 attempts"):
            W.download_weights("cutie-small-nomose", url=url + name, retries=0, progress=False)
        status = {s.name: s for s in W.list_weights()}["cutie-small-nomose"]
        assert not status.present and status.partial == 1 << 20   # one cut attempt
        with st.lock:
            st.cuts_left[name] = 0
        path = W.download_weights("cutie-small-nomose", url=url + name, progress=False)
    assert path.read_bytes() == seeded_bytes
    assert st.log[-1]["range"] == f"bytes={1 << 20}-"
    assert {s.name: s for s in W.list_weights()}["cutie-small-nomose"].partial is None


def test_checksum_mismatch_deletes_the_file(seeded_bytes, monkeypatch):
    # cutie-base-mega has a known md5: a file with other bytes must be rejected
    state = FileServerState(files={"/cutie-base-mega.pth": seeded_bytes[: 1 << 16]})
    with serve_files(state) as (url, st):
        monkeypatch.setenv("M3VOS_WEIGHTS_URL", url + "/")
        with pytest.raises(DownloadError, match="md5 mismatch"):
            W.download_weights("cutie-base-mega", progress=False)
    dest = W.weights_path("cutie-base-mega")
    assert not dest.exists() and not dest.with_name(dest.name + ".part").exists()
    assert st.log[0]["path"] == "/cutie-base-mega.pth"


def test_base_url_override_serves_google_drive_files_too(monkeypatch):
    payload = b"not really a checkpoint"
    state = FileServerState(files={"/mega_v4_main_training_72800.pth": payload})
    with serve_files(state) as (url, _):
        monkeypatch.setenv("M3VOS_WEIGHTS_URL", url)
        path = W.download_weights("revos", progress=False)
    assert path.read_bytes() == payload and path.name == "mega_v4_main_training_72800.pth"


@pytest.mark.skipif(importlib.util.find_spec("gdown") is not None, reason="gdown is installed")
def test_google_drive_without_gdown_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("M3VOS_WEIGHTS_URL", raising=False)
    with pytest.raises(BadInputError) as info:
        W.download_weights("revos")
    line = info.value.one_line()
    assert "needs the gdown package" in line and "m3vos[gdrive]" in line
    assert "1fItxsooXXO0VVODyxYKVFRdtZrp-HANR" in line


def test_missing_file_on_server_is_a_download_error(tmp_path):
    with serve_files() as (url, _):
        with pytest.raises(DownloadError, match="HTTP 404"):
            W.download_weights("cutie-small-wmose", url=f"{url}/nope.pth",
                               dest=tmp_path / "x.pth", progress=False)
    assert not (tmp_path / "x.pth").exists()


def test_google_drive_path_goes_through_gdown_atomically(monkeypatch):
    """`revos` is fetched by gdown's `download(id=..., output=...)`; stand in for the package
    (no network here) and check the file lands atomically, and a failure leaves nothing."""
    import sys
    import types

    monkeypatch.delenv("M3VOS_WEIGHTS_URL", raising=False)
    calls = []

    def fake_download(*, id, output, quiet):  # noqa: A002 - gdown's own argument name
        calls.append(id)
        if len(calls) == 1:
            raise RuntimeError("Too many users have viewed or downloaded this file recently")
        Path(output).write_bytes(b"drive bytes")
        return output

    monkeypatch.setitem(sys.modules, "gdown", types.SimpleNamespace(download=fake_download))
    dest = W.weights_path("revos")
    with pytest.raises(DownloadError, match="Too many users"):
        W.download_weights("revos")
    assert not dest.exists() and not list(dest.parent.glob(".tmp-*"))
    assert W.download_weights("revos") == dest and dest.read_bytes() == b"drive bytes"
    assert calls == ["1fItxsooXXO0VVODyxYKVFRdtZrp-HANR"] * 2
