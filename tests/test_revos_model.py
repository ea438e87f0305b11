"""ReVOS model: parity with the official code's outputs (both shipped variants), equality with
Cutie-base when the booster and reverse pass are off, strict loading, the tracker."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers_cutie import ONE_THREAD_ENV as ONE_THREAD, one_thread, own_weights  # noqa: E402,F401

from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers.base import VideoInput  # noqa: E402
from m3vos.trackers.parity.reference import compare_variant, load_reference  # noqa: E402

PARITY = "fixtures/parity"
def _seeded_weights_module(shared_dir: Path):
    spec = importlib.util.spec_from_file_location("m3vos_test_seeded_weights",
                                                  shared_dir / PARITY / "seeded_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def seeded(shared_dir, tmp_path_factory):
    """Seed-0 weights for ReVOS, and the Cutie-base file they contain (same tensors: the
    generator seeds each tensor by its name)."""
    sw = _seeded_weights_module(shared_dir)
    state = sw.generate_state_dict(sw.load_manifest(str(shared_dir / PARITY / "revos_manifest.json")), 0)
    folder = tmp_path_factory.mktemp("revos_weights")
    revos, base = folder / "revos_seed0.pth", folder / "cutie_base_seed0.pth"
    torch.save(state, revos)
    torch.save({k: v for k, v in state.items() if not k.startswith("readout_fuser.")}, base)
    return {"revos": revos, "cutie-base": base, "sha256": sw.state_dict_digest(state)}


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """Our own ReVOS network with seeded random parameters, and its Cutie-base part: for the
    tests of behaviour (no ../shared needed)."""
    revos = own_weights(tmp_path_factory, "revos")
    base = revos.with_name("cutie_base_part_of_revos.pth")
    if not base.is_file():
        state = torch.load(revos, weights_only=True)
        torch.save({k: v for k, v in state.items() if not k.startswith("readout_fuser.")}, base)
    return {"revos": revos, "cutie-base": base}


@pytest.fixture(scope="module")
def reference(shared_dir):
    return load_reference(shared_dir / PARITY / "revos_reference.npz")


@pytest.fixture(scope="module")
def network(reference, seeded):
    from m3vos.trackers.parity.revos import build_network

    return build_network(reference, seeded["revos"], torch.device("cpu"))


def test_dev_replay_matches_the_official_revos_on_both_variants(shared_dir, reference, seeded,
                                                                tmp_path, cli):
    """`m3vos dev replay` on the shipped ReVOS reference: forward and reverse@t steps in the
    reference's order, probabilities within 1e-3, argmax equal where the margin > 1e-3."""
    import json

    assert seeded["sha256"] == reference.doc["weights"]["sha256"]   # the reference's weights
    out = tmp_path / "ours.npz"
    proc = cli("dev", "replay", shared_dir / PARITY / "revos_reference.npz", "--weights",
               seeded["revos"], "--out", out, "--check", "--format", "json", env=ONE_THREAD, check=0)
    report = json.loads(proc.stdout)
    assert report["passed"] and len(report["comparisons"]) == 2
    with np.load(out) as z:
        ours_all = {k: z[k] for k in z.files}
    for variant in ("default", "short_window"):
        arrays = reference.variant_arrays(variant)
        ours = {k.split("/", 1)[1]: v for k, v in ours_all.items() if k.startswith(variant + "/")}
        assert [str(k) for k in ours["step_kind"]] == [str(k) for k in arrays["step_kind"]]
        assert ours["step_frame"].tolist() == arrays["step_frame"].tolist()
        assert sum(str(k).startswith("reverse@") for k in ours["step_kind"]) >= 7
        result = compare_variant(variant, arrays, ours)
        assert result.same_steps and result.same_channels
        assert result.max_abs_prob_diff <= 1e-3, result
        assert result.argmax_mismatch_pixels == 0 and result.final_mask_mismatch_pixels == 0
        assert ours["final_step"].tolist() == arrays["final_step"].tolist()


def test_alpha_one_without_reverse_is_exactly_cutie_base(seeded, network):
    from m3vos.trackers.models import load_model
    from m3vos.trackers.cutie.inference_core import InferenceCore
    from m3vos.trackers.revos.loop import ReVOSCore, revos_steps
    from m3vos.trackers.revos.settings import ReVOSSettings

    frames, masks = tiny_clip(5)
    base = load_model("cutie-base", seeded["cutie-base"])
    image = lambda t: torch.from_numpy(frames[t].copy()).permute(2, 0, 1).float() / 255  # noqa: E731
    first = torch.from_numpy(masks[0].astype(np.int64))
    with torch.inference_mode():
        core = InferenceCore(base)
        plain = [core.step(image(t), first if t == 0 else None, [1, 2] if t == 0 else None,
                           end=(t == 4)) for t in range(5)]
        revos = ReVOSCore(network, revos=ReVOSSettings(boost_rate=1.0, reverse=False))
        steps = list(revos_steps(revos, 5, image,
                                 lambda t: (first, [1, 2]) if t == 0 else (None, None)))
        boosted = ReVOSCore(network, revos=ReVOSSettings(boost_rate=2.0, reverse=False))
        boosted_steps = list(revos_steps(boosted, 3, image,
                                         lambda t: (first, [1, 2]) if t == 0 else (None, None)))
    assert [s.kind for s in steps] == ["forward"] * 5
    for ours, theirs in zip(steps, plain):
        assert torch.equal(ours.prob, theirs)
    # the booster does change the outputs (the test above is not vacuous)
    assert not torch.equal(boosted_steps[2].prob, plain[2])


def test_cutie_checkpoint_into_revos_names_the_16_fuser_keys(own):
    from m3vos.trackers.models import load_model

    with pytest.raises(BadInputError) as err:
        load_model("revos", own["cutie-base"])
    message = str(err.value)
    assert "\n" not in message and "16 missing" in message
    for key in ("readout_fuser.distributor.x_transform.weight", "readout_fuser.block1.conv.weight",
                "readout_fuser.block2.conv2.bias"):
        assert key in message
    assert str(own["cutie-base"]) in message
    # and the real file loads strictly
    model = load_model("revos", own["revos"])
    assert sum(k.startswith("readout_fuser.") for k in model.state_dict()) == 16


def tiny_clip(n: int, h: int = 32, w: int = 48, late_from: int = -1):
    """Textured background, object 1 drifting right, object 2 drifting left, and (from
    `late_from`) object 3 in a corner. Small, because Cutie-base costs ~0.5 CPU-s per step
    at 64 x 160."""
    rng = np.random.default_rng(3)
    bg = rng.integers(20, 120, size=(h, w, 3), dtype=np.uint8)
    frames, labels = [], []
    for t in range(n):
        f, lab = bg.copy(), np.zeros((h, w), np.uint8)
        f[4:16, 4 + t:18 + t] = (220, 60, 40)
        lab[4:16, 4 + t:18 + t] = 1
        f[16:28, 30 - t:44 - t] = (40, 200, 80)
        lab[16:28, 30 - t:44 - t] = 2
        if 0 <= late_from <= t:
            f[2:10, 38:46] = (240, 230, 30)
            lab[2:10, 38:46] = 3
        frames.append(f)
        labels.append(lab)
    return frames, labels


def _video(n=7):
    frames, labels = tiny_clip(n, late_from=3)
    given = {0: labels[0], 3: np.where(labels[3] == 3, 3, 0).astype(np.uint8)}
    return VideoInput("clip", frames, given, [1, 2, 3], labels[0].shape), given


def test_tracker_reemits_frames_and_the_last_write_wins(own):
    from m3vos.trackers.registry import get_tracker

    cls = get_tracker("revos")
    assert cls.capabilities.offline and cls.capabilities.needs_weights and cls.weights_name == "revos"
    video, given = _video()
    outs = list(cls(weights=own["revos"], config={"T": 3, "L": 3}).track(video))
    # passes after frames 2 (1, 0), 5 (4, 3, 2) and at the end, 6 (5, 4, 3)
    assert [o.frame for o in outs] == [0, 1, 2, 1, 0, 3, 4, 5, 4, 3, 2, 6, 5, 4, 3]
    final = {o.frame: o.label_map() for o in outs}
    # reverse steps on annotated frames give the mask back as a one-hot over every known
    # object: the full first frame, and, as the official code does, ONLY the late object on
    # the frame where its mask was given
    np.testing.assert_array_equal(final[0], given[0])
    np.testing.assert_array_equal(final[3], given[3])
    assert {1, 2} <= set(np.unique(final[5]).tolist()) <= {0, 1, 2, 3}
    # with reverse passes off, each frame is emitted once; the passes did change frames
    off = list(cls(weights=own["revos"], config={"reverse": "false"}).track(video))
    assert [o.frame for o in off] == list(range(7))
    assert (off[3].label_map() != final[3]).any()
    assert any((final[t] != off[t].label_map()).any() for t in (1, 2, 4, 5))


def test_tracker_bad_config_and_missing_weights_are_one_line_errors(tmp_path):
    from m3vos.trackers.revos.tracker import ReVOSTracker

    with pytest.raises(BadInputError, match="mem_evry"):
        ReVOSTracker(config={"mem_evry": 3})
    with pytest.raises(BadInputError, match="alpha"):
        ReVOSTracker(config={"alpha": "strong"})
    with pytest.raises(BadInputError, match="not found"):
        ReVOSTracker(weights=tmp_path / "nope.pth")


def test_run_revos_end_to_end_on_synthetic_data_and_score(own, tmp_path, cli):
    import json

    from m3vos.data.synth import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "synth", videos=1, frames=6, height=32, width=48)
    out = tmp_path / "preds"
    cli("run", "--model", "revos", "--weights", own["revos"], "--data", root, "--out", out,
        "--device", "cpu", "--config", "T=3", "--config", "L=2", env=ONE_THREAD, check=0)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["tracker"]["name"] == "revos"
    assert "offline" in run["tracker"]["capabilities"]
    pngs = sorted(p.name for p in out.rglob("*.png"))
    assert len(pngs) == 6
    cli("score", out, "--data", root, check=0)
    results = json.loads((out / "results.json").read_text())
    assert 0.0 <= results["global"]["J-Mean"] <= 1.0 and results["per_object"]
    # a Cutie checkpoint is refused with the missing fuser keys, exit 2, one line
    bad = cli("run", "--model", "revos", "--weights", own["cutie-base"], "--data", root,
              "--out", tmp_path / "bad", "--device", "cpu", env=ONE_THREAD)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "16 missing key(s)" in bad.stderr and "readout_fuser.block1.conv1.weight" in bad.stderr
    assert "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) <= 12


def test_tracker_handles_void_empty_masks_and_a_vanishing_object(own):
    from m3vos.trackers.revos.tracker import ReVOSTracker

    frames, labels = tiny_clip(5)
    tracker = ReVOSTracker(weights=own["revos"], config={"T": 2, "L": 2})
    # an annotation with nothing in it (only void): every frame is background, no crash
    empty = np.where(labels[0] > 0, 255, 0).astype(np.uint8)
    outs = list(tracker.track(VideoInput("empty", frames, {0: empty}, [], empty.shape)))
    assert sorted({o.frame for o in outs}) == list(range(5))
    assert all(not o.label_map().any() for o in outs)
    # object 2 leaves the frame from frame 2 on; void pixels in the first mask are ignored
    for t in range(2, 5):
        frames[t][labels[t] == 2] = frames[0][0, 0]
    first = labels[0].copy()
    first[0, :] = 255
    outs = list(tracker.track(VideoInput("vanish", frames, {0: first}, [1, 2], first.shape)))
    final = {o.frame: o.label_map() for o in outs}
    assert [o.frame for o in outs] == [0, 1, 0, 2, 3, 2, 1, 4, 3, 2]
    np.testing.assert_array_equal(final[0], np.where(first == 255, 0, first))
    assert all(final[t].shape == first.shape and final[t].max() <= 2 for t in range(5))
