"""`m3vos data verify`: every problem class, found through the CLI and named by file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from m3vos.data.masks import write_mask
from m3vos.data.synth import make_synthetic_dataset
from m3vos.data.verify import PROBLEM_CODES


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("v") / "ds", videos=12, frames=4, seed=5)


def _videos(root: Path) -> list[str]:
    return (root / "data/ImageSets/val.txt").read_text().split()


def test_clean_dataset_passes(pristine: Path, cli) -> None:
    proc = cli("data", "verify", pristine, "--json", check=0)
    report = json.loads(proc.stdout)
    assert report["ok"] and report["problems"] == [] and set(report["counts"]) == set(PROBLEM_CODES)
    assert report["stats"]["frames"] == 48 and report["stats"]["manifest_files"] > 96


def test_every_problem_class_is_reported_with_its_file(pristine: Path, tmp_path: Path, cli) -> None:
    root = tmp_path / "broken"
    shutil.copytree(pristine, root)
    v = _videos(root)
    ann, img = root / "data/Annotations", root / "data/JPEGImages"
    split = root / "data/ImageSets/val.txt"
    expect: dict[str, Path] = {}

    split.write_text(split.read_text() + "9999_ghost_1\n" + v[11] + "\n")          # missing video + duplicate
    expect["missing_video"] = ann / "9999_ghost_1"
    expect["split"] = split
    shutil.rmtree(img / v[1])
    expect["missing_frames"] = img / v[1]
    for p in (ann / v[2]).glob("*.png"):
        p.unlink()
    expect["missing_masks"] = ann / v[2]
    (ann / v[3] / "0000002.png").rename(ann / v[3] / "0000009.png")
    expect["unpaired"] = ann / v[3] / "0000009.png"
    rgb = ann / v[4] / "0000001.png"
    Image.new("RGB", (160, 120), (200, 0, 0)).save(rgb)
    expect["mask_mode"] = rgb
    jpg = img / v[5] / "0000001.jpg"
    jpg.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    garbage = ann / v[6] / "0000003.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    expect["unreadable"] = jpg
    small = ann / v[7] / "0000001.png"
    write_mask(small, np.ones((60, 80), dtype=np.uint8))
    expect["size_mismatch"] = small
    first = ann / v[8] / "0000000.png"
    write_mask(first, np.zeros((120, 160), dtype=np.uint8))
    expect["first_frame"] = first
    wrong = ann / v[9] / "0000002.png"
    ids = np.asarray(Image.open(wrong)).copy()
    ids[:5, :5] = 7
    write_mask(wrong, ids)
    expect["ids_mismatch"] = ann / v[9]
    flip = img / v[10] / "0000002.jpg"
    data = bytearray(flip.read_bytes())
    data[len(data) // 2] ^= 0xFF                       # same size, still a JPEG: only the digest knows
    flip.write_bytes(bytes(data))
    expect["checksum"] = flip
    for stem in ("0000002", "0000003"):                 # 2 annotated frames: nothing to score
        (ann / v[11] / f"{stem}.png").unlink()
        (img / v[11] / f"{stem}.jpg").unlink()
    expect["short_video"] = ann / v[11]

    proc = cli("data", "verify", root, "--json", check=1)
    report = json.loads(proc.stdout)
    found: dict[str, set[str]] = {}
    for p in report["problems"]:
        found.setdefault(p["code"], set()).add(p["path"])
        assert p["message"] and p["fix"]
    assert set(found) == set(PROBLEM_CODES) - {"layout"}
    for code, path in expect.items():
        assert str(path) in found[code], (code, found[code])
    assert str(garbage) in found["unreadable"]
    assert report["counts"]["missing_video"] == 1 and not report["ok"]
    # --allow turns a code into warnings; the rest still fails.
    from m3vos.data.verify import verify_dataset

    allowed = verify_dataset(root, allow=("ids_mismatch", "checksum"))
    assert not allowed.ok and {p.code for p in allowed.problems}.isdisjoint({"ids_mismatch", "checksum"})
    assert any(w.code == "ids_mismatch" for w in allowed.warnings)
    with pytest.raises(Exception, match="unknown problem code"):
        verify_dataset(root, allow=("nonsense",))

    # Human output: one line per problem naming the file and the fix, then the table.
    text = cli("data", "verify", root, check=1).stdout
    lines = [l for l in text.splitlines() if l.startswith("problem ")]
    assert len(lines) == len(report["problems"])
    assert any(str(rgb) in l and "(fix: " in l and "mask_mode" in l for l in lines)
    assert "problem(s)" in text


def test_layout_problem_and_quick_mode(pristine: Path, tmp_path: Path, cli) -> None:
    (tmp_path / "empty").mkdir()
    proc = cli("data", "verify", tmp_path / "empty", "--json", check=1)
    report = json.loads(proc.stdout)
    assert [p["code"] for p in report["problems"]] == ["layout"]
    assert "expected" in report["problems"][0]["message"]
    root = tmp_path / "q"
    shutil.copytree(pristine, root)
    (root / "m3vos_manifest.json").unlink()
    from m3vos.data.verify import verify_dataset

    report = verify_dataset(root, quick=True)
    assert report.ok and report.stats["quick"] and any(w.code == "no_manifest" for w in report.warnings)
    cli("data", "verify", root, "--write-manifest", check=0)
    assert (root / "m3vos_manifest.json").is_file()
    target = root / "data/Annotations" / _videos(root)[0] / "0000001.png"
    target.write_bytes(target.read_bytes() + b"\0")
    report = verify_dataset(root, quick=True)
    assert [(p.code, p.path) for p in report.problems] == [("checksum", str(target))]   # size differs


def test_sparse_annotation_is_fine_only_in_davis_roots(pristine: Path, tmp_path: Path) -> None:
    from m3vos.data.verify import verify_dataset

    davis = tmp_path / "davis"
    shutil.copytree(pristine / "data/Annotations", davis / "Annotations/480p")
    shutil.copytree(pristine / "data/JPEGImages", davis / "JPEGImages/480p")
    (davis / "ImageSets/2017").mkdir(parents=True)
    shutil.copy(pristine / "data/ImageSets/val.txt", davis / "ImageSets/2017/val.txt")
    for p in (davis / "Annotations/480p").glob("*/000000[1-3].png"):
        p.unlink()
    rep = verify_dataset(davis)
    assert rep.ok and sum(w.code == "sparse" for w in rep.warnings) == 12
    release = tmp_path / "release"
    shutil.copytree(pristine, release)
    (release / "m3vos_manifest.json").unlink()
    gone = release / "data/Annotations" / _videos(release)[0] / "0000003.png"
    gone.unlink()
    rep = verify_dataset(release)
    assert [p.code for p in rep.problems] == ["unpaired"] and "0000003" in rep.problems[0].message
