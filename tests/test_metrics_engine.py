"""The engine on small hand-made sets: the protocol rules that the synthetic dev set does not pin
down (void, long videos, object enumeration, missing data), with exact expected numbers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from m3vos.data.dataset import open_dataset
from m3vos.data.masks import write_mask
from m3vos.errors import BadInputError
from m3vos.metrics import score_predictions


def make_set(root: Path, videos: dict[str, tuple[list[np.ndarray], list[np.ndarray]]]) -> tuple[Path, Path]:
    data, preds = root / "data", root / "preds"
    for name, (gts, prs) in videos.items():
        for t, (g, p) in enumerate(zip(gts, prs)):
            write_mask(data / "Annotations" / name / f"{t:05d}.png", g)
            write_mask(preds / name / f"{t:05d}.png", p)
    (data / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
    (data / "ImageSets" / "2017" / "val.txt").write_text("\n".join(videos) + "\n")
    return data, preds


def square(h: int, w: int, y: int, x: int, s: int, k: int = 1, base: np.ndarray | None = None) -> np.ndarray:
    m = np.zeros((h, w), np.uint8) if base is None else base.copy()
    m[y:y + s, x:x + s] = k
    return m


def test_void_is_background_unless_void_aware(tmp_path: Path) -> None:
    g = square(30, 40, 5, 5, 10)
    g[5:15, 15:20] = 255                      # void band beside the object
    p = square(30, 40, 5, 5, 10)
    p[5:15, 15:20] = 1                        # prediction spills onto the void
    data, preds = make_set(tmp_path, {"v": ([g] * 4, [p] * 4)})
    ds = open_dataset(data)
    plain = score_predictions(preds, ds, workers=1).per_object["v_1"]
    aware = score_predictions(preds, ds, workers=1, void_aware=True).per_object["v_1"]
    assert plain["J-Mean"] == pytest.approx(100 / 150)
    assert aware["J-Mean"] == 1.0 and aware["F-Mean"] == 1.0 and aware["J_cc-Mean"] == pytest.approx(1.0)


def test_objects_come_from_the_first_frame(tmp_path: Path) -> None:
    # ids {1, 3} in frame 0 -> objects 1, 2 (empty track), 3; id 4 appears later and is ignored.
    g0 = square(20, 30, 2, 2, 4, 1, square(20, 30, 10, 10, 4, 3))
    g1 = square(20, 30, 2, 20, 4, 4, g0)
    gts = [g0, g1, g1, g0]
    prs = [g0, g0, g0, g0]
    data, preds = make_set(tmp_path, {"v": (gts, prs)})
    res = score_predictions(preds, open_dataset(data), workers=1)
    assert list(res.per_object) == ["v_1", "v_2", "v_3"]
    gap = res.per_object["v_2"]
    assert gap["J-Mean"] == 1.0 and gap["F-Mean"] == 1.0 and gap["J_cc-Mean"] == 0.0
    assert res.per_object["v_1"]["J-Mean"] == 1.0   # id 4 in the GT is not object 1's business
    assert res.per_object["v_1"]["n_frames"] == 2


def test_decay_is_correct_past_256_frames_and_compat_reproduces_the_wrap(tmp_path: Path) -> None:
    n = 300
    g = square(8, 8, 2, 2, 4)
    prs = [square(8, 8, 2, 2, 4) if t < n // 2 else np.zeros((8, 8), np.uint8) for t in range(n)]
    data, preds = make_set(tmp_path, {"long": ([g] * n, prs)})
    ds = open_dataset(data)
    fixed = score_predictions(preds, ds, workers=1).per_object["long_1"]
    compat = score_predictions(preds, ds, workers=1, compat_decay=True).per_object["long_1"]
    assert fixed["J-Decay"] == 1.0 and fixed["n_frames"] == n - 2
    assert math.isnan(compat["J-Decay"])          # what the official tools print for N = 298
    assert compat["J-Mean"] == fixed["J-Mean"]
    assert fixed["J_last-Mean"] == 0.0 and fixed["J-Recall"] == pytest.approx(149 / 298)  # frames 1..149 of 1..298


def test_too_short_video_is_an_error(tmp_path: Path) -> None:
    g = square(8, 8, 2, 2, 4)
    data, preds = make_set(tmp_path, {"short": ([g, g], [g, g])})
    with pytest.raises(BadInputError, match="2 annotated frame"):
        score_predictions(preds, open_dataset(data), workers=1)


def test_workers_give_identical_documents(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    videos = {}
    for i in range(4):
        gts = [(rng.random((24, 32)) < 0.3).astype(np.uint8) * rng.integers(1, 3) for _ in range(6)]
        prs = [(rng.random((24, 32)) < 0.3).astype(np.uint8) * rng.integers(1, 4) for _ in range(6)]
        gts[0] = square(24, 32, 2, 2, 6, 2, square(24, 32, 10, 10, 6, 1))
        videos[f"v{i}"] = (gts, prs)
    data, preds = make_set(tmp_path, videos)
    ds = open_dataset(data)
    one = score_predictions(preds, ds, workers=1, protocol="davis").to_dict()
    three = score_predictions(preds, ds, workers=3, protocol="davis").to_dict()
    assert one == three


def test_pool_is_safe_when_the_caller_already_runs_threads(tmp_path: Path) -> None:
    """OpenCV's thread pool in the calling process must not deadlock the workers (a forked
    copy of a held lock); run in a subprocess so that a regression fails instead of hanging."""
    import subprocess
    import sys

    g = square(40, 50, 5, 5, 12)
    data, preds = make_set(tmp_path, {"a": ([g] * 5, [g] * 5), "b": ([g] * 5, [g] * 5)})
    script = f"""
import cv2, numpy as np, os
from m3vos.data.dataset import open_dataset
from m3vos.metrics import score_predictions
if __name__ == "__main__":
    for _ in range(5):
        cv2.dilate(np.zeros((1500, 1500), np.uint8), np.ones((15, 15), np.uint8))
    r = score_predictions({str(preds)!r}, open_dataset({str(data)!r}), workers=2)
    print(len(os.listdir("/proc/self/task")), r.global_metrics["J-Mean"])
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-1] == "1.0"


def test_sparse_ground_truth_scores_the_annotated_frames(tmp_path: Path) -> None:
    # 8 image frames, ground truth on every other one; the prediction covers all 8 frames
    g = square(20, 30, 4, 4, 8)
    data, preds = make_set(tmp_path, {})
    names = [f"{t:05d}" for t in range(8)]
    for t, name in enumerate(names):
        (data / "JPEGImages" / "v").mkdir(parents=True, exist_ok=True)
        (data / "JPEGImages" / "v" / f"{name}.jpg").write_bytes(b"")  # only the names matter here
        write_mask(preds / "v" / f"{name}.png", g if t % 4 else np.zeros_like(g))
        if t % 2 == 0:
            write_mask(data / "Annotations" / "v" / f"{name}.png", g)
    (data / "ImageSets" / "2017" / "val.txt").write_text("v\n")
    res = score_predictions(preds, open_dataset(data), workers=1)
    frames = res.to_dict()["per_frame"]["v_1"]
    assert frames["frames"] == ["00002", "00004"]       # annotated frames minus first and last
    assert frames["J"] == [1.0, 0.0]                       # 00004's prediction is empty


def test_three_frame_video_scores_one_frame_with_zero_decay(tmp_path: Path) -> None:
    g = square(10, 10, 2, 2, 4)
    data, preds = make_set(tmp_path, {"v": ([g] * 3, [g, square(10, 10, 2, 2, 2), g])})
    obj = score_predictions(preds, open_dataset(data), workers=1, protocol="davis").per_object["v_1"]
    assert obj["n_frames"] == 1 and obj["J-Mean"] == 0.25 and obj["J-Decay"] == 0.0
