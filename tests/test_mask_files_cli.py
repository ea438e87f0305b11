"""Mask files that are not what their name says, through the CLI (issue 13, faults 12 and 13):
a JPEG, GIF, BMP or TIFF named `.png` is refused by `score` and flagged by `verify`; a
20000 x 20000 PNG is a one-line error naming the file, not a traceback."""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from m3vos.data.synth import make_synthetic_dataset

FORMATS = {"JPEG": "JPEG", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF"}


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("mf") / "ds", videos=2, frames=5, seed=3)


def _videos(root: Path) -> list[str]:
    return (root / "data/ImageSets/val.txt").read_text().split()


def _save_as(fmt: str, ids: np.ndarray, path: Path) -> None:
    """Save the id map in `fmt` under a .png name; each reads back as ids a PIL-based reader accepts
    (gray JPEG: mode L; GIF, BMP, TIFF: palette)."""
    im = Image.fromarray(ids, mode="L")
    if fmt != "JPEG":
        im = Image.fromarray(ids, mode="P")
        im.putpalette(bytes(range(256)) * 3)
    im.save(path, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    assert path.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n"


def _one_line(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err and err.startswith("error: ") and "\n" not in err, err
    return err


def _huge_png(path: Path, size: int = 20000) -> None:
    """A valid 8-bit grayscale PNG of size x size zeros (a few MB, written in well under a second)."""
    try:
        from zlib_ng import zlib_ng as z
    except ImportError:  # pragma: no cover
        z = zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    comp = z.compressobj(1)
    block = bytes(size + 1) * 500
    idat = b"".join(comp.compress(block) for _ in range(size // 500)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_score_refuses_a_non_png_named_png(synth: Path, tmp_path: Path, cli, fmt: str) -> None:
    name = _videos(synth)[0]
    preds = tmp_path / "preds"
    shutil.copytree(synth / "data/Annotations", preds)
    bad = preds / name / "0000002.png"
    ids = np.asarray(Image.open(bad)).copy()
    _save_as(fmt, ids, bad)
    proc = cli("score", preds, "--data", synth, "--out", tmp_path / "out", "--workers", "1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = _one_line(proc)
    assert str(bad) in err and f"a {FORMATS[fmt]} file named .png" in err and "(fix: " in err
    assert not (tmp_path / "out" / "results.json").exists()


def test_verify_flags_non_png_masks_named_png(synth: Path, tmp_path: Path, cli) -> None:
    root = tmp_path / "ds"
    shutil.copytree(synth, root)
    ann = root / "data/Annotations" / _videos(root)[0]
    bad = {}
    for t, fmt in enumerate(sorted(FORMATS), start=1):
        p = ann / f"{t:07d}.png"
        _save_as(fmt, np.asarray(Image.open(p)).copy(), p)
        bad[fmt] = p
    for quick in ((), ("--quick",)):
        proc = cli("data", "verify", root, "--json", *quick, check=1)
        problems = [p for p in json.loads(proc.stdout)["problems"] if p["code"] == "mask_mode"]
        for fmt, p in bad.items():
            hit = [q for q in problems if q["path"] == str(p)]
            assert hit and f"{FORMATS[fmt]} file" in hit[0]["message"], (fmt, problems)


def test_huge_png_is_a_one_line_error_in_score_and_verify(synth: Path, tmp_path: Path, cli) -> None:
    name = _videos(synth)[0]
    huge = tmp_path / "huge.png"
    _huge_png(huge)
    # score: as a prediction
    preds = tmp_path / "preds"
    shutil.copytree(synth / "data/Annotations", preds)
    target = preds / name / "0000002.png"
    shutil.copy(huge, target)
    proc = cli("score", preds, "--data", synth, "--out", tmp_path / "out", "--workers", "1")
    assert proc.returncode == 2, proc.stderr
    err = _one_line(proc)
    assert str(target) in err and "20000x20000" in err
    # verify: as a ground-truth mask (fully decoded, then header-only with --quick)
    root = tmp_path / "ds"
    shutil.copytree(synth, root)
    gt = root / "data/Annotations" / name / "0000002.png"
    shutil.copy(huge, gt)
    for quick in ((), ("--quick",)):
        proc = cli("data", "verify", root, "--json", *quick, check=1)
        assert "Traceback" not in proc.stderr
        report = json.loads(proc.stdout)
        assert any(p["path"] == str(gt) and p["code"] == "unreadable" for p in report["problems"]), report
