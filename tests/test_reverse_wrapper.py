"""The generic reverse-pass wrapper (`revos:<backbone>`): schedule, inputs given to the
backbone, last write wins, respect for given masks, registry and config errors."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pytest

from m3vos.errors import BadInputError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput
from m3vos.trackers.registry import get_tracker
from m3vos.trackers.reverse import reverse_schedule, wrap
from m3vos.trackers.static import StaticTracker

H, W = 24, 32


def moving_square_clip(n: int = 8) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:
    """A bright square moving right on a textured background; frame i's red channel encodes i."""
    rng = np.random.default_rng(0)
    bg = rng.integers(0, 80, size=(H, W, 3), dtype=np.uint8)
    frames = []
    for i in range(n):
        f = bg.copy()
        f[6:14, 2 + 2 * i:10 + 2 * i] = 230
        f[0, 0, 0] = i   # frame id, so a test can tell which frame a backbone was given
        frames.append(f)
    m0 = np.zeros((H, W), np.uint8)
    m0[6:14, 2:10] = 1
    return frames, {0: m0}


class RecordingTracker(Tracker):
    """Labels a small square with a value that tells which clip and position produced it, and
    records the clips it is asked to track (by the frame ids read from the pixels)."""

    name = "recording"
    capabilities = Capabilities(late_objects=True)
    clips: list[tuple[list[int], dict[int, np.ndarray]]] = []

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        ids = [int(video.frames[i][0, 0, 0]) for i in range(video.num_frames)]
        RecordingTracker.clips.append((ids, dict(video.masks)))
        for t in range(video.num_frames):
            lab = np.zeros(video.size, np.uint8)
            lab[2:4, 2:4] = 1 if t == 0 else (ids[0] + t) % 3 + 1
            yield TrackerOutput(frame=t, labels=lab)


def final_labels(outputs) -> dict[int, np.ndarray]:
    final = {}
    for out in outputs:
        final[out.frame] = out.label_map()
    return final


def test_schedule_matches_the_official_loop():
    assert reverse_schedule(8, 30, 30) == [(7, [6, 5, 4, 3, 2, 1, 0])]
    assert reverse_schedule(8, 4, 3) == [(2, [1, 0]), (5, [4, 3, 2, 1]), (7, [6, 5, 4, 3])]
    sched = reverse_schedule(100, 30, 30)
    assert [t for t, _ in sched] == [29, 59, 89, 99]
    assert sched[0][1] == list(range(28, -1, -1)) and sched[-1][1] == list(range(98, 68, -1))
    # L > T leaves frames untouched; a 1-frame video has no pass
    covered = {s for _, frames in reverse_schedule(100, 30, 60) for s in frames}
    assert 0 not in covered and 28 not in covered and 29 in covered
    assert reverse_schedule(1, 30, 30) == []


def test_backbone_gets_the_reversed_window_and_its_own_labels_as_start():
    RecordingTracker.clips = []
    frames, masks = moving_square_clip(8)
    tracker = wrap(RecordingTracker)(config={"reverse.window": 4, "reverse.every": 3})
    outs = list(tracker.track(VideoInput("v", frames, masks, [1], (H, W))))
    assert [o.frame for o in outs] == [0, 1, 2, 3, 4, 5, 6, 7, 1, 0, 4, 3, 2, 1, 6, 5, 4, 3]
    clips = RecordingTracker.clips
    assert [c[0] for c in clips] == [list(range(8)), [2, 1, 0], [5, 4, 3, 2, 1], [7, 6, 5, 4, 3]]
    # each pass starts from the forward labels at its trigger frame
    forward = final_labels(outs[:8])
    for ids, given in clips[1:]:
        assert list(given) == [0]
        np.testing.assert_array_equal(given[0], forward[ids[0]])
    final = final_labels(outs)
    # frame 0 keeps its given mask (as ReVOS uses the ground truth there)
    np.testing.assert_array_equal(final[0], masks[0])
    # frame 3 is last written by the pass after frame 7 (clip position 4), not by the pass
    # after frame 5 (position 2) nor the forward run (position 3)
    assert final[3][2, 2] == (7 + 4) % 3 + 1 == 3
    assert final[1][2, 2] == (5 + 4) % 3 + 1 == 1   # pass after 5 overwrote the one after 2
    assert final[7][2, 2] == (0 + 7) % 3 + 1         # the last frame is never revised


def test_disabled_reverse_is_exactly_the_backbone():
    frames, masks = moving_square_clip(6)
    video = VideoInput("v", frames, masks, [1], (H, W))
    wrapped = list(wrap(StaticTracker)(config={"reverse.enabled": "false"}).track(video))
    plain = list(StaticTracker().track(video))
    assert [o.frame for o in wrapped] == [o.frame for o in plain]
    for a, b in zip(wrapped, plain):
        np.testing.assert_array_equal(a.label_map(), b.label_map())


def test_late_object_is_never_drawn_before_its_mask():
    frames, masks = moving_square_clip(8)
    late = np.zeros((H, W), np.uint8)
    late[16:22, 20:30] = 2
    masks[4] = late
    video = VideoInput("v", frames, masks, [1, 2], (H, W))
    final = final_labels(wrap(StaticTracker)(config={"reverse.window": 30}).track(video))
    for t in range(4):
        assert not (final[t] == 2).any(), t
    for t in range(4, 8):
        assert (final[t][16:22, 20:30] == 2).all(), t
    np.testing.assert_array_equal(final[0], masks[0])


def test_wrapped_flow_tracks_the_square_and_revises_frames():
    frames, masks = moving_square_clip(8)
    video = VideoInput("v", frames, masks, [1], (H, W))
    cls = get_tracker("revos:flow")
    assert cls.name == "revos:flow" and cls.capabilities.offline
    assert cls.input_short_side == get_tracker("flow").input_short_side
    outs = list(cls(config={"reverse.window": 4, "reverse.every": 4, "preset": "ultrafast"}).track(video))
    assert len(outs) == 8 + 3 + 4          # passes after frames 3 (2,1,0) and 7 (6,5,4,3)
    final = final_labels(outs)
    for t in range(8):
        truth = np.zeros((H, W), bool)
        truth[6:14, 2 + 2 * t:10 + 2 * t] = True
        iou = ((final[t] == 1) & truth).sum() / ((final[t] == 1) | truth).sum()
        assert iou > 0.5, (t, iou)


def test_registry_errors_are_one_line():
    with pytest.raises(BadInputError, match="unknown model"):
        get_tracker("revos:nope")
    with pytest.raises(BadInputError, match="online backbone"):
        get_tracker("revos:revos")
    with pytest.raises(BadInputError, match="reverse.windw"):
        wrap(StaticTracker)(config={"reverse.windw": 3})
    with pytest.raises(BadInputError, match="positive integer"):
        wrap(StaticTracker)(config={"reverse": {"window": "0"}})


def test_cli_run_revos_flow_on_synthetic_data_and_score(tmp_path, cli):
    import json

    from m3vos.data.synth import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "synth", videos=2, frames=7, height=40, width=56)
    out = tmp_path / "preds"
    cli("run", "--model", "revos:flow", "--data", root, "--out", out, "--config",
        "reverse.window=3", "--config", "reverse.every=3", "--config", "preset=ultrafast", check=0)
    run = json.loads((out / "run.json").read_text())
    assert run["tracker"]["name"] == "revos:flow" and "offline" in run["tracker"]["capabilities"]
    assert len(list(out.rglob("*.png"))) == 14
    cli("score", out, "--data", root, check=0)
    results = json.loads((out / "results.json").read_text())
    assert 0.0 < results["global"]["J-Mean"] <= 1.0
    bad = cli("run", "--model", "revos:flow", "--data", root, "--out", tmp_path / "bad",
              "--config", "reverse.window=0")
    assert bad.returncode == 2 and "reverse.window" in bad.stderr and "Traceback" not in bad.stderr
