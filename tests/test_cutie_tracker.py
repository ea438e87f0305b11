"""The `cutie-small` / `cutie-base` trackers: the official eval I/O path, the Tracker contract,
and `m3vos run --model cutie-small` end to end on synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from helpers_cutie import ONE_THREAD_ENV, one_thread, own_weights, synth_clip  # noqa: F401

torch = pytest.importorskip("torch")

from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers.base import VideoInput  # noqa: E402
from m3vos.trackers.cutie import eval_io  # noqa: E402


# ---------------------------------------------------------------------------- eval I/O
@pytest.mark.parametrize("hw,size,expected", [((600, 1000), 480, (480, 800)),
                                              ((1000, 600), 480, (800, 480)),
                                              ((481, 1001), 480, (480, 998)),
                                              ((480, 854), 480, (480, 854)),
                                              ((300, 500), 480, (300, 500)),
                                              ((600, 1000), -1, (600, 1000))])
def test_resize_rule_short_side_and_truncated_long_side(hw, size, expected):
    assert eval_io.resized_shape(*hw, size) == expected
    image = torch.rand(3, *hw)
    assert tuple(eval_io.resize_image(image, size).shape[-2:]) == expected


def test_frame_and_mask_files_follow_the_official_loader(tmp_path):
    from PIL import Image

    rgb = np.zeros((500, 600, 3), dtype=np.uint8)
    rgb[:, 300:] = 200
    Image.fromarray(rgb).save(tmp_path / "f.png")
    mask = np.zeros((500, 600), dtype=np.uint8)
    mask[100:400, 50:250] = 3
    mask[0, 0] = 7
    pal = Image.fromarray(mask, mode="P")
    pal.putpalette([0, 0, 0, 128, 0, 0] * 128)
    pal.save(tmp_path / "m.png")
    with Image.open(tmp_path / "f.png") as im:            # the official loader: PIL, RGB
        image = eval_io.resize_image(eval_io.image_to_tensor(np.asarray(im.convert("RGB"))), 480)
    assert tuple(image.shape) == (3, 480, 576)
    assert image.dtype == torch.float32 and float(image.max()) == pytest.approx(200 / 255)
    assert float(image[:, :, :200].max()) == 0.0  # far from the edge: untouched by the filter
    with Image.open(tmp_path / "m.png") as im:            # ids kept as they are, not converted
        loaded = eval_io.resize_mask(np.asarray(im), 480)
    assert loaded.shape == (480, 576) and set(np.unique(loaded)) <= {0, 3, 7}
    expected = np.asarray(Image.fromarray(mask).resize((576, 480), Image.NEAREST))
    assert np.array_equal(loaded, expected)


def test_probabilities_back_to_original_size_then_argmax():
    prob = torch.zeros(3, 4, 6)
    prob[0] = 1.0
    prob[:, :, 3:] = torch.tensor([0.1, 0.2, 0.7])[:, None, None]  # tmp id 2 on the right
    labels = eval_io.prob_to_labels(prob, {1: 5, 2: 9}, (8, 12))
    assert labels.shape == (8, 12) and labels.dtype == np.uint8
    assert set(np.unique(labels[:, :5])) == {0} and set(np.unique(labels[:, 7:])) == {9}


# ---------------------------------------------------------------------------- the tracker
@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return own_weights(tmp_path_factory)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return synth_clip(tmp_path_factory, objects=3, frames=6, height=48, width=80)


def test_tracker_follows_the_contract_with_late_objects(weights, clip):
    from m3vos.trackers.registry import get_tracker

    frames, gt = clip
    cls = get_tracker("cutie-small")
    assert cls.weights_name == "cutie-small-mega" and cls.capabilities.late_objects
    assert get_tracker("cutie-base").weights_name == "cutie-base-mega"
    first = np.where(gt[0] == 3, 0, gt[0]).astype(np.uint8)
    late = np.where(gt[4] == 3, 3, 0).astype(np.uint8)
    video = VideoInput(name="clip", frames=list(frames), masks={0: first, 4: late},
                       object_ids=[1, 2, 3], size=first.shape)
    tracker = cls(device="cpu", weights=weights, config={"mem_every": 2})
    outs = list(tracker.track(video))
    assert [o.frame for o in outs] == list(range(6))
    assert all(o.labels.shape == first.shape and o.labels.dtype == np.uint8 for o in outs)
    assert np.array_equal(outs[0].labels, first)  # the given mask comes back unchanged
    assert set(np.unique(outs[1].labels)) <= {0, 1, 2}
    assert np.array_equal(outs[4].labels[late == 3], np.full(int((late == 3).sum()), 3))
    assert 3 in np.unique(outs[5].labels)


def test_tracker_resizes_internally_and_answers_at_input_size(weights, clip):
    from m3vos.trackers.cutie.tracker import CutieSmallTracker

    frames, gt = clip
    video = VideoInput(name="clip", frames=list(frames[:3]), masks={0: gt[0]},
                       object_ids=[1, 2], size=gt[0].shape)
    tracker = CutieSmallTracker(weights=weights, config={"size": 32})
    outs = list(tracker.track(video))
    assert [o.labels.shape for o in outs] == [gt[0].shape] * 3
    # frame 0 went through the PIL-nearest 32-pixel mask and back: close, not equal
    agree = (outs[0].labels == np.where(gt[0] == 3, 0, gt[0])).mean()
    assert 0.8 < agree < 1.0


def test_tracker_errors_are_one_line(tmp_path):
    from m3vos.trackers.cutie.tracker import CutieSmallTracker

    with pytest.raises(BadInputError, match="mem_evry"):
        CutieSmallTracker(config={"mem_evry": 3})
    with pytest.raises(BadInputError) as info:
        CutieSmallTracker(weights=tmp_path / "none.pth").network
    assert "none.pth" in info.value.one_line() and "cutie-small-mega" in info.value.one_line()
    with pytest.raises(BadInputError) as info:
        CutieSmallTracker().network  # nothing downloaded into the (isolated) cache
    assert "m3vos weights download" in info.value.one_line()


def test_run_cutie_small_end_to_end_and_score(cli, weights, tmp_path):
    from m3vos.data.synth import make_synthetic_dataset

    data = make_synthetic_dataset(tmp_path / "synth", videos=2, frames=5, height=64, width=96)
    out = tmp_path / "preds"
    cli("run", "--model", "cutie-small", "--weights", weights, "--data", data, "--out", out,
        "--device", "cpu", env=ONE_THREAD_ENV, check=0)
    run = json.loads((out / "run.json").read_text())
    videos = sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(videos) == 2 and all(len(list(v.glob("*.png"))) == 5 for v in videos)
    assert "cutie-small" in json.dumps(run)
    cli("score", out, "--data", data, "--workers", "1", check=0)
    result = json.loads((out / "results.json").read_text())
    assert 0.0 <= result["global"]["J&F-Mean"] <= 1.0
    assert len(result["per_object"]) >= 2


def test_empty_first_mask_gives_background_everywhere(weights, clip):
    from m3vos.trackers.cutie.tracker import CutieSmallTracker

    frames, gt = clip
    empty = np.zeros(gt[0].shape, dtype=np.uint8)
    video = VideoInput(name="empty", frames=list(frames[:3]), masks={0: empty}, object_ids=[],
                       size=empty.shape)
    outs = list(CutieSmallTracker(weights=weights).track(video))
    assert [o.frame for o in outs] == [0, 1, 2]
    assert all(not o.labels.any() for o in outs)
