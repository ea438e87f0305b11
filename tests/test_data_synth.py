"""The synthetic dataset: deterministic, in the release layout, with phase changes that are real."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from m3vos.data import labels as lab
from m3vos.data import taxonomy
from m3vos.data.dataset import open_dataset
from m3vos.data.masks import read_mask
from m3vos.data.synth import PLANS, make_synthetic_dataset
from m3vos.errors import BadInputError

from helpers_data import tree_files


@pytest.fixture(scope="module")
def every_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("s") / "all", videos=len(PLANS), seed=0)


def test_deterministic_per_seed_and_per_video(tmp_path: Path) -> None:
    a = tree_files(make_synthetic_dataset(tmp_path / "a", videos=3, frames=6, seed=7))
    b = tree_files(make_synthetic_dataset(tmp_path / "b", videos=3, frames=6, seed=7))
    assert a == b
    c = tree_files(make_synthetic_dataset(tmp_path / "c", videos=3, frames=6, seed=8))
    assert a["data/ImageSets/val.txt"] != c["data/ImageSets/val.txt"] or a != c
    two = tree_files(make_synthetic_dataset(tmp_path / "d", videos=2, frames=6, seed=7))
    first_two = [n for n in a if n.startswith("data/") and n.split("/")[2] in
                 two["data/ImageSets/val.txt"].decode().split()]
    assert first_two and all(a[n] == two[n] for n in first_two)     # video i ignores how many are made


def test_layout_and_official_formats(every_plan: Path) -> None:
    ds = open_dataset(every_plan)
    assert ds.layout == "hf" and len(ds) == len(PLANS)
    meta = every_plan / "meta"
    phase = lab.read_phase_labels(meta / "all_phase_label.json")
    assert phase and all(p.transition in taxonomy.TRANSITIONS for p in phase.values())
    assert all(p.before in taxonomy.PHASE_LEAVES and p.after in taxonomy.PHASE_LEAVES for p in phase.values())
    hard, mid, easy, valid = (set(lab.read_key_list(meta / f)) for f in
                              ("all_hard_objs.txt", "all_mid_objs.txt", "all_easy_objs.txt", "all_valid_obj.txt"))
    assert hard and hard < mid < easy == valid == set(phase)
    core = lab.read_key_list(meta / "all_core_seqs.txt")
    assert core and set(core) < set(ds.video_names)
    targets = json.loads((meta / "target_object.json").read_text())
    assert set(targets) == set(ds.video_names)
    groups = {o.group for o in ds.objects()}
    assert groups == {"IS", "IL", "IG", "CP"}
    for v in ds:
        frame = np.asarray(Image.open(v.frame_paths[0]), dtype=np.float32)
        assert Image.open(v.mask_paths[0]).mode == "P"
        assert np.abs(np.diff(frame, axis=1)).mean() > 2.0          # texture for optical flow
        assert 1 <= len(targets[v.name]) <= 3


def test_objects_really_change(every_plan: Path) -> None:
    ds = open_dataset(every_plan)
    targets = json.loads((every_plan / "meta/target_object.json").read_text())
    seen = set()
    for v in ds:
        masks = [read_mask(p) for p in v.mask_paths]
        h, w = masks[0].shape
        for key, rec in targets[v.name].items():
            k = int(key.removeprefix("obj_"))
            area = [int((m == k).sum()) for m in masks]
            b = rec["behaviour"]
            seen.add(b)
            if b in ("grow", "deposit"):
                assert area[0] == 0 and area[-1] > 0 and k in v.object_ids    # late, and still scored
            else:
                assert area[0] > 0
            if b in ("dissolve", "vaporize"):
                assert area[-1] == 0                                        # gone before the end
            if b == "melt":
                assert area[-1] < area[0]
            if b == "break":
                assert ndimage.label(masks[-1] == k)[1] >= 3
            if b == "separate":
                assert ndimage.label(masks[-1] == k)[1] == 2
            if b == "exit":
                ys, xs = np.nonzero(masks[len(masks) // 2] == k)
                assert area[-1] == 0 and max(area) > 0
            if b == "dash":
                assert rec["mean_speed"] > 0.02
            if b == "diffuse":
                assert ndimage.label(masks[-1] == k)[1] > 5                # a cloud of specks
        assert v.object_ids == list(range(1, len(targets[v.name]) + 1))
    assert seen == {b for plan in PLANS for b in plan}


def test_cli_synth_then_verify_and_info(tmp_path: Path, cli) -> None:
    out = tmp_path / "s"
    proc = cli("data", "synth", out, "--videos", "3", "--seed", "2", "--frames", "5", check=0)
    assert "3 synthetic videos" in proc.stdout
    cli("data", "verify", out, check=0)
    info = json.loads(cli("data", "info", out, "--json", check=0).stdout)
    assert info["n_videos"] == 3 and info["n_frames"] == 15 and info["resolutions"] == {"120x160": 3}
    assert sum(info["group"].values()) == info["n_objects"] == info["labels"]["n_labelled"]
    again = cli("data", "synth", out, check=2)
    assert "not empty" in again.stderr
    with pytest.raises(BadInputError):
        make_synthetic_dataset(tmp_path / "t", frames=2)
