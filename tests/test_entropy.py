"""LBP entropy: the official h_LBP equals the literal procedure; m3vos's lbp definition; the CLI."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_analysis import disc, make_dataset, scored_synth


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return scored_synth(tmp_path_factory.mktemp("synth_entropy"), videos=3, frames=8, runs=("static",))


def _literal_official(annotations: Path) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """The paper's procedure written out plainly, independent of m3vos.analysis."""
    from skimage.feature import local_binary_pattern
    from skimage.measure import shannon_entropy

    per_video = {}
    for folder in sorted(p for p in annotations.iterdir() if p.is_dir()):
        by_num = {}
        for f in sorted(folder.iterdir()):
            if not f.name.endswith(".png"):
                continue
            img = np.array(Image.open(f).convert("L"))
            ents = []
            for g in np.unique(img):
                if g:
                    lbp = local_binary_pattern((img == g).astype(np.uint8), P=32, R=4, method="uniform")
                    hist, _ = np.histogram(lbp.ravel(), bins=35, density=True)
                    ents.append(shannon_entropy(hist))
            if ents:
                by_num[int(re.search(r"\d+", f.name).group())] = np.mean(ents)
        nums = sorted(by_num)
        mid = len(nums) // 2
        per_video[folder.name] = (np.mean([by_num[n] for n in nums[:mid]]),
                                  np.mean([by_num[n] for n in nums[mid:]]))
    firsts = [a for a, _ in per_video.values() if not math.isnan(a)]
    seconds = [b for _, b in per_video.values() if not math.isnan(b)]
    return float(np.mean(firsts)), float(np.mean(seconds)), per_video


def _official_fixture(root: Path) -> Path:
    """Real palette PNGs: two objects, void, an empty frame, a frame where a shape breaks up."""
    h, w = 64, 80
    rng = np.random.default_rng(1)
    videos = {}
    for v in range(2):
        frames = []
        for t in range(7):
            ids = disc(h, w, 30, 20 + 3 * t, 10 - t, 1)
            pieces = rng.integers(5, 75, size=(t, 2))
            for y, x in pieces:
                ids = np.where(disc(h, w, y % h, x, 3, 2) > 0, 2, ids)
            if t == 3:
                ids[:4, :10] = 255                   # void counts as an object officially
            if v == 1 and t == 5:
                ids[:] = 0                           # no object: NaN frame, skipped
            frames.append(ids.astype(np.uint8))
        videos[f"vid{v}"] = frames
    return make_dataset(root, videos)


def test_official_entropy_equals_the_literal_procedure(tmp_path):
    from m3vos.analysis.entropy_report import compute_entropy
    from m3vos.data.dataset import open_dataset

    root = _official_fixture(tmp_path / "ds")
    first, second, per_video = _literal_official(root / "Annotations")
    rep = compute_entropy(open_dataset(root), definition="official", progress=False, workers=2)
    assert rep.summary["first_half"] == pytest.approx(first, abs=1e-12)
    assert rep.summary["second_half"] == pytest.approx(second, abs=1e-12)
    for _, row in rep.per_video.iterrows():
        assert (row["first_half"], row["second_half"]) == pytest.approx(per_video[row["video"]], abs=1e-12)
    # the frame without objects was dropped before splitting (6 kept frames -> 3 + 3)
    assert rep.per_video.set_index("video").at["vid1", "frames_used"] == 6
    # the process pool changes nothing
    serial = compute_entropy(open_dataset(root), definition="official", progress=False, workers=1)
    assert serial.per_video.equals(rep.per_video) and serial.per_object.equals(rep.per_object)


def test_official_statistic_is_not_monotone_but_lbp_follows_fragmentation():
    from m3vos.analysis.entropy import object_lbp_entropy, official_grey_entropies

    h, w = 160, 200
    noise = (np.random.default_rng(0).random((h, w)) < 0.5).astype(np.uint8)
    one = disc(h, w, 80, 100, 40)
    # the documented oddity (one object: the frame's value is that grey level's)
    assert official_grey_entropies(noise)[1] < official_grey_entropies(one)[1]
    values = []
    for n in (1, 4, 16):                     # the same total area, broken into more pieces
        r = 40 / math.sqrt(n)
        k = int(math.sqrt(n))
        ids = np.zeros((h, w), np.uint8)
        for i in range(n):
            ids |= disc(h, w, (i // k + 0.5) * h / k, (i % k + 0.5) * w / k, r)
        values.append(object_lbp_entropy(ids, 1))
    assert values[0] < values[1] < values[2]
    assert math.isnan(object_lbp_entropy(one, 2))


def test_lbp_crop_equals_full_frame_and_void_is_excluded():
    from skimage.feature import local_binary_pattern

    from m3vos.analysis.entropy import object_lbp_entropy

    h, w = 60, 90
    ids = disc(h, w, 3, 5, 9, 1) | disc(h, w, 40, 60, 12, 2)    # object 1 touches the border
    for k in (1, 2):
        codes = local_binary_pattern((ids == k).astype(np.uint8), 32, 4, "uniform")[ids == k]
        c = np.bincount(codes.astype(int), minlength=34)
        p = c[c > 0] / c.sum()
        assert object_lbp_entropy(ids, k) == pytest.approx(float(-(p * np.log2(p)).sum()), abs=1e-12)
    with_void = ids.copy()
    with_void[40:44, 40:47] = 255                            # void touching object 2's edge
    assert object_lbp_entropy(with_void, 2) != pytest.approx(object_lbp_entropy(ids, 2))
    assert object_lbp_entropy(with_void, 1) == pytest.approx(object_lbp_entropy(ids, 1))


def test_entropy_report_cli_both_definitions_with_correlation(synth, cli, tmp_path):
    data, runs = synth
    out = tmp_path / "ent"
    from m3vos.data.dataset import open_dataset

    two = ",".join(open_dataset(data).video_names[:2])
    proc = cli("entropy-report", data, "--definition", "official", "--preds", runs["static"], "--out", out,
               "--videos", two, "--workers", "1", check=0)
    assert "official h_LBP" in proc.stdout and "Spearman" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["official"] is True and summary["summary"]["n_videos"] == 2
    c = summary["correlation"]
    assert c["n_objects"] > 0 and (c["rho"] is None or -1 <= c["rho"] <= 1)
    png = out / "entropy_over_time.png"
    with Image.open(png) as im:
        assert im.size[0] > 200 and np.asarray(im.convert("L")).std() > 5
    per_object = (out / "per_object.csv").read_text().splitlines()
    assert per_object[0].startswith("key,video,object_id") and len(per_object) > 1
    proc = cli("entropy-report", data, "--out", tmp_path / "lbp", "--format", "json", "--max-frames", "4",
               "--workers", "1", check=0)
    doc = json.loads(proc.stdout)
    assert doc["summary"]["definition"] == "lbp" and "NON-OFFICIAL" in doc["summary"]["label"]
    assert doc["summary"]["max_frames"] == 4


def test_entropy_report_bad_input_is_one_line(cli, tmp_path):
    proc = cli("entropy-report", tmp_path / "missing", check=2)
    assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1
    proc = cli("entropy-report", tmp_path, "--definition", "shannon", check=2)
    assert "shannon" in proc.stderr or "definition" in proc.stderr
