"""Atomic writes: the final name holds the whole content or nothing, with normal permissions."""

import os

import pytest

from m3vos.utils.atomic import atomic_dir, atomic_path, atomic_write_json, sha256_file


def test_failed_write_leaves_nothing(tmp_path):
    dest = tmp_path / "results.json"
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed mid-write")
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_old_file_survives_a_failed_rewrite(tmp_path):
    dest = tmp_path / "results.json"
    atomic_write_json(dest, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_text("{broken")
            raise RuntimeError
    assert dest.read_text().strip().startswith("{")
    assert '"a": 1' in dest.read_text()


def test_permissions_follow_umask(tmp_path):
    dest = tmp_path / "out.json"
    atomic_write_json(dest, [1, 2])
    mode = dest.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask


def test_atomic_dir_replaces_only_when_complete(tmp_path):
    dest = tmp_path / "video"
    with atomic_dir(dest) as tmp:
        (tmp / "0.png").write_bytes(b"x")
    assert (dest / "0.png").read_bytes() == b"x"
    with pytest.raises(ValueError):
        with atomic_dir(dest) as tmp:
            (tmp / "1.png").write_bytes(b"y")
            raise ValueError
    assert sorted(p.name for p in dest.iterdir()) == ["0.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["video"]
    assert len(sha256_file(dest / "0.png")) == 64
