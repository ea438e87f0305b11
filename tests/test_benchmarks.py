"""Other benchmarks behind the one dataset interface: DAVIS 2017, VOST, YouTube-VOS, MOSE.

Each layout is written by `m3vos data synth --layout`, then read, run, scored and
entropy-reported through the CLI; the DAVIS 2017 protocol is checked against davis2017-evaluation.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import run_cli
from helpers_score import dev_set, reference  # noqa: F401  (fixtures)
from m3vos.data.dataset import open_dataset
from m3vos.errors import BadInputError

SMALL = ("--videos", "3", "--frames", "8", "--height", "48", "--width", "64")
#: layout -> (--dataset name, split with full ground truth, protocol, first frame stem)
CASES = {
    "davis": ("davis2017", "val", "davis", "00000"),
    "vost": ("vost", "val", "m3vos", "00000"),
    "ytvos": ("ytvos", "train", "davis", "00000"),
    "mose": ("mose", "train", "davis", "00000"),
}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("bench")
    out = {}
    for layout in (*CASES, "hf"):
        run_cli("data", "synth", base / layout, "--layout", layout, *SMALL, check=0)
        out[layout] = base / layout
    return out


def test_layouts_on_disk_and_detection(roots: dict[str, Path]) -> None:
    assert (roots["davis"] / "Annotations" / "480p").is_dir() and (roots["davis"] / "ImageSets/2017/val.txt").is_file()
    assert (roots["vost"] / "ImageSets" / "val.txt").is_file() and not (roots["vost"] / "meta").exists()
    meta = json.loads((roots["ytvos"] / "valid" / "meta.json").read_text())
    for layout, (name, split, _, _) in CASES.items():
        ds = open_dataset(roots[layout], split=split, benchmark=name)
        assert ds.layout == layout and ds.benchmark.name == name and len(ds) == 3
        assert ds.identity()["benchmark"] == name
    # detection without --dataset: split folders are recognised, the others read as M3-VOS
    assert open_dataset(roots["ytvos"], split="train").benchmark.name == "ytvos"
    assert open_dataset(roots["mose"], split="train").benchmark.name == "mose"
    assert open_dataset(roots["davis"]).benchmark.name == "m3vos"
    # YouTube-VOS: stems are frame numbers (every 5th), valid holds only first-appearance masks
    tr = open_dataset(roots["ytvos"], split="train")
    va = open_dataset(roots["ytvos"], split="val")           # `val` finds valid/
    v = tr.video(tr.video_names[0])
    assert v.stems[:3] == ["00000", "00005", "00010"] and len(v.mask_paths) == 8
    for name in va.video_names:
        vv = va.video(name)
        assert len(vv.frame_paths) == 8
        assert len(vv.mask_paths) == len({f["frames"][0] for f in meta["videos"][name]["objects"].values()})
        assert vv.object_ids == sorted(int(k) for k in meta["videos"][name]["objects"])
    # a root given as the split folder itself
    assert open_dataset(roots["ytvos"] / "valid").layout == "ytvos"
    # MOSE valid: first frame only
    mv = open_dataset(roots["mose"], split="valid")
    assert all(len(mv.video(n).mask_paths) == 1 for n in mv.video_names)
    with pytest.raises(BadInputError, match="found train, valid"):
        open_dataset(roots["mose"], split="test")
    with pytest.raises(BadInputError, match="layout"):
        open_dataset(roots["vost"], benchmark="davis2017")


@pytest.mark.parametrize("layout", list(CASES))
def test_each_layout_runs_scores_and_reports(layout: str, roots: dict[str, Path], tmp_path: Path) -> None:
    name, split, protocol, first = CASES[layout]
    data = roots[layout]
    preds = tmp_path / "preds"
    run_cli("run", "--model", "flow", "--data", data, "--dataset", name, "--split", split, "--out", preds, check=0)
    ds = open_dataset(data, split=split)
    for v in ds:
        assert sorted(p.name for p in (preds / v.name).glob("*.png")) == [f"{s}.png" for s in
                                                                          [p.stem for p in v.frame_paths]]
    proc = run_cli("score", preds, "--data", data, "--dataset", name, "--split", split, "--format", "json",
                   "--workers", "1", check=0)
    doc = json.loads(proc.stdout)
    assert doc["protocol"] == protocol and doc["dataset"]["benchmark"] == name
    assert 0.0 < doc["global"]["J-Mean"] <= 1.0
    assert len(doc["per_object"]) == sum(len(v.object_ids) for v in ds)
    # breakdowns that need no labels work on the recorded dataset (its split and benchmark)
    bd = run_cli("breakdowns", preds, "--names", "size", "--format", "json", check=0)
    assert sum(r["n_objects"] for r in json.loads(bd.stdout)["size"]) == len(doc["per_object"])
    # verify accepts the layout, sparse annotations included
    from m3vos.data.verify import verify_dataset

    for sp in (split, "valid") if layout in ("ytvos", "mose") else (split,):
        rep = verify_dataset(data, split=sp, workers=1, progress=False)
        assert rep.ok, [p.line() for p in rep.problems]


def test_entropy_hypothesis_on_every_layout(roots: dict[str, Path], tmp_path: Path) -> None:
    from m3vos.analysis.entropy_hypothesis import entropy_hypothesis, write_hypothesis

    datasets = [open_dataset(roots[layout], split=CASES[layout][1], benchmark=CASES[layout][0]) for layout in CASES]
    h = entropy_hypothesis(datasets, max_frames=6, workers=1, progress=False)
    write_hypothesis(h, tmp_path)
    rows = list(csv.DictReader((tmp_path / "hypothesis.csv").open()))
    assert [(r["benchmark"], r["group"]) for r in rows] == [(CASES[k][0], "all") for k in CASES]
    for r in rows:
        assert int(r["n"]) == 3 and r["change"] != ""
    # the same pixels in every layout give the same entropy
    assert len({round(float(r["change"]), 9) for r in rows}) == 1


def test_ytvos_valid_gives_late_objects_and_refuses_scoring(roots: dict[str, Path], tmp_path: Path) -> None:
    data = roots["ytvos"]
    preds = tmp_path / "p"
    run_cli("run", "--model", "static", "--data", data, "--split", "valid", "--out", preds, check=0)
    assert json.loads((preds / "run.json").read_text())["identity"]["late_objects"] is True
    proc = run_cli("score", preds, "--data", data, "--split", "valid")
    assert proc.returncode == 2 and "withheld" in proc.stderr and "--split train" in proc.stderr
    proc = run_cli("run", "--model", "static", "--data", roots["davis"], "--dataset", "ytvos", "--out", tmp_path / "x")
    assert proc.returncode == 2 and "layout" in proc.stderr and not (tmp_path / "x").exists()


def test_davis2017_test_dev_first_frame_only_is_refused_for_scoring(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    from m3vos.data.masks import encode_mask

    root = tmp_path / "DAVIS"
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "test-dev.txt").write_text("v1\n")
    (root / "Annotations" / "480p" / "v1").mkdir(parents=True)
    (root / "JPEGImages" / "480p" / "v1").mkdir(parents=True)
    ids = np.zeros((40, 48), np.uint8)
    ids[10:20, 10:20] = 1
    (root / "Annotations" / "480p" / "v1" / "00000.png").write_bytes(encode_mask(ids))
    for t in range(4):
        Image.fromarray(np.full((40, 48, 3), 60 * t, np.uint8)).save(root / "JPEGImages" / "480p" / "v1" / f"{t:05d}.jpg")
    preds = tmp_path / "p"
    run_cli("run", "--model", "static", "--data", root, "--split", "test-dev", "--dataset", "davis2017",
            "--out", preds, check=0)
    assert len(list((preds / "v1").glob("*.png"))) == 4
    proc = run_cli("score", preds, "--data", root, "--split", "test-dev", "--dataset", "davis2017")
    assert proc.returncode == 2 and "withheld" in proc.stderr and "test-dev" in proc.stderr


def test_davis2017_protocol_on_davis_layout_equals_davis2017_evaluation(dev_set: Path, shared_dir: Path,
                                                                       tmp_path: Path) -> None:
    """`--dataset davis2017` picks the davis protocol by itself, and it matches the reference."""
    proc = run_cli("score", dev_set / "Predictions", "--data", dev_set, "--dataset", "davis2017",
                   "--out", tmp_path, "--format", "json", "--workers", "2", check=0)
    doc = json.loads(proc.stdout)
    assert doc["protocol"] == "davis"
    ref = reference(shared_dir, "davis_reference_dev.json")["davis2017_evaluation"]["per_object"]
    bad = []
    for key, r in ref.items():
        for m in ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"):
            if abs(doc["per_object"][key][m] - r[m]) > 1e-6:
                bad.append(f"{key} {m}")
    assert not bad, bad[:10]
