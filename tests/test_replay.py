"""`m3vos dev replay`: the command on the shipped references, on references it has not seen
(other settings, clip shapes, late objects, skipped frames), and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from helpers_cutie import ONE_THREAD_ENV, one_thread, parity_dir, seeded_weights  # noqa: F401

torch = pytest.importorskip("torch")

LAYOUT = ("step_kind", "step_frame", "step_prob_u16", "step_channels", "step_mask",
          "final_step", "final_mask")


@pytest.fixture(scope="module")
def small_weights(shared_dir, tmp_path_factory) -> Path:
    return seeded_weights(shared_dir, tmp_path_factory, "cutie_small")


@pytest.fixture(scope="module")
def small_ref(shared_dir) -> Path:
    return parity_dir(shared_dir) / "cutie_small_reference.npz"


def make_reference(folder: Path, shared_dir: Path, variants: list[dict], arrays: dict) -> Path:
    """A new reference (JSON + npz) in the shipped schema; the manifest is named by path."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = parity_dir(shared_dir) / "cutie_small_manifest.json"
    doc = {"schema": "m3vos-parity-reference/1", "model": "cutie-small",
           "manifest": str(manifest), "variants": variants}
    (folder / "ref.json").write_text(json.dumps(doc))
    np.savez(folder / "ref.npz", variants=np.array([v["name"] for v in variants]), **arrays)
    return folder / "ref.npz"


def shipped_clip(small_ref: Path, n: int = 8):
    with np.load(small_ref) as z:
        frames = z["new_object_fifo/frames"][:n]
        gt = z["new_object_fifo/gt_masks"][:n]
    return frames, gt


# ---------------------------------------------------------------------------- the command
def test_cli_replays_and_passes_the_check(cli, small_ref, small_weights, tmp_path):
    out = tmp_path / "ours.npz"
    proc = cli("dev", "replay", small_ref, "--weights", small_weights, "--out", out,
               "--variant", "stagger", "--check", "--format", "json", env=ONE_THREAD_ENV, check=0)
    result = json.loads(proc.stdout)
    assert result["passed"] is True
    assert [c["name"] for c in result["comparisons"]] == ["stagger"]
    assert all(c["max_abs_prob_diff"] <= 1e-3 for c in result["comparisons"])
    with np.load(out) as z, np.load(small_ref) as ref:
        assert list(z["variants"]) == ["stagger"]
        for v in ("stagger",):
            for key in LAYOUT:
                assert z[f"{v}/{key}"].shape == ref[f"{v}/{key}"].shape, key
                assert z[f"{v}/{key}"].dtype.kind == ref[f"{v}/{key}"].dtype.kind, key
            assert np.array_equal(z[f"{v}/final_mask"], ref[f"{v}/final_mask"])
    assert not list(tmp_path.glob("*.tmp*")), "no temporary files left behind"


def test_cli_check_fails_with_other_weights(cli, small_ref, small_weights, tmp_path):
    state = torch.load(small_weights, weights_only=True)
    state["mask_decoder.pred.weight"] = state["mask_decoder.pred.weight"] * 3
    bad = tmp_path / "bad.pth"
    torch.save(state, bad)
    proc = cli("dev", "replay", small_ref, "--weights", bad, "--out", tmp_path / "o.npz",
               "--variant", "default", "--check", env=ONE_THREAD_ENV, check=1)
    assert "parity check failed" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_error_is_one_line(cli, small_ref, tmp_path):
    out = tmp_path / "o.npz"
    proc = cli("dev", "replay", small_ref, "--weights", tmp_path / "nope.pth", "--out", out,
               env=ONE_THREAD_ENV, check=2)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "nope.pth" in lines[0] and "fix:" in lines[0]
    assert not out.exists()


@pytest.mark.parametrize("case", ["wrong_model_weights", "unknown_variant", "bad_schema",
                                  "corrupt_npz", "not_npz_out", "missing_json"])
def test_bad_input_errors_name_the_problem(small_ref, small_weights, shared_dir, tmp_path,
                                           tmp_path_factory, case):
    from m3vos.errors import BadInputError
    from m3vos.trackers.parity.replay import replay

    ref, weights, out, variants = small_ref, small_weights, tmp_path / "o.npz", None
    if case == "wrong_model_weights":
        weights = seeded_weights(shared_dir, tmp_path_factory, "cutie_base")
        expect = "pixel_encoder"
    elif case == "unknown_variant":
        variants, expect = ["no_such"], "no_such"
    elif case == "bad_schema":
        (tmp_path / "r.json").write_text(json.dumps({"schema": "something-else/9", "variants": []}))
        np.savez(tmp_path / "r.npz", variants=np.array(["x"]))
        ref, expect = tmp_path / "r.npz", "schema"
    elif case == "corrupt_npz":
        (tmp_path / "r.json").write_text((small_ref.with_suffix(".json")).read_text())
        (tmp_path / "r.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
        ref, expect = tmp_path / "r.npz", "r.npz"
    elif case == "not_npz_out":
        out, expect = tmp_path / "o.txt", ".npz"
    else:  # missing_json
        np.savez(tmp_path / "r.npz", variants=np.array(["x"]))
        ref, expect = tmp_path / "r.npz", "r.json"
    with pytest.raises(BadInputError) as info:
        replay(ref, weights, out, variants=variants)
    line = info.value.one_line()
    assert expect in line and "\n" not in line and info.value.hint
    assert not out.exists()


# ---------------------------------------------------------------------------- unseen references
def run_reference(path: Path, weights: Path, out: Path):
    from m3vos.trackers.parity.replay import replay

    return replay(path, weights, out)


def test_unseen_reference_other_shape_settings_and_late_objects(shared_dir, small_ref,
                                                                small_weights, tmp_path):
    """Not a multiple of 16 (centred padding), chunk_size 1, an internal resize, a late
    mask holding two new objects, and steps that start after frame 0."""
    frames, gt = shipped_clip(small_ref)
    frames, gt = frames[:, 1:91:2, 3:153:2], gt[:, 1:91:2, 3:153:2]  # 45 x 75
    first = np.where(gt[1] == 3, 0, gt[1]).astype(np.uint8)            # objects 1, 2 at frame 1
    late = np.where(gt[5] == 3, 7, 0).astype(np.uint8)                 # object "7" at frame 5
    late[:3, :3] = 9                                                   # and a tiny object 9
    variant = {"name": "odd", "effective_settings": {
        "mem_every": 3, "top_k": 20, "stagger_updates": 2, "chunk_size": 1,
        "max_mem_frames": 2, "max_internal_size": 40, "flip_aug": False,
        "boost_rate": 2.0},  # a key of another model is ignored
        "steps": [{"kind": "forward", "frame": t} for t in range(1, 8)]}
    arrays = {"odd/frames": frames, "odd/input_frames": np.array([1, 5]),
              "odd/input_masks": np.stack([first, late]), "odd/gt_masks": gt}
    ref = make_reference(tmp_path / "ref", shared_dir, [variant], arrays)
    result = run_reference(ref, small_weights, tmp_path / "ours.npz")
    assert result.comparisons == []  # no official outputs in this reference
    with np.load(tmp_path / "ours.npz") as z:
        assert list(z["odd/step_frame"]) == list(range(1, 8))
        assert list(z["odd/step_channels"]) == [3, 3, 3, 3, 5, 5, 5]
        prob = z["odd/step_prob_u16"].astype(np.float64) / 65535
        assert prob.shape == (7, 5, 45, 75)
        assert np.allclose(prob.sum(axis=1), 1.0, atol=1e-3)
        assert list(z["odd/final_step"]) == [-1, 0, 1, 2, 3, 4, 5, 6]
        assert not z["odd/final_mask"][0].any()
        # the given masks come back on their frames (up to the internal resize round trip),
        # late objects keep their own ids
        assert (z["odd/step_mask"][0] == first).mean() > 0.97
        late_step = z["odd/step_mask"][4]
        assert (late_step[late == 7] == 7).mean() > 0.97
        assert set(np.unique(z["odd/step_mask"])) <= {0, 1, 2, 7, 9}


def test_flip_aug_is_mirror_symmetric(shared_dir, small_ref, small_weights, tmp_path):
    """With flip augmentation, a mirrored clip must give exactly the mirrored output."""
    frames, gt = shipped_clip(small_ref, 4)
    frames, gt = frames[:, 16:80, 32:128], gt[:, 16:80, 32:128]  # 64 x 96: no padding
    first = np.where(gt[0] == 3, 0, gt[0]).astype(np.uint8)
    settings = {"mem_every": 2, "flip_aug": True}
    variants, arrays = [], {}
    for name, fr, m in (("plain", frames, first),
                        ("mirror", frames[:, :, ::-1].copy(), first[:, ::-1].copy())):
        variants.append({"name": name, "effective_settings": settings,
                         "steps": [{"kind": "forward", "frame": t} for t in range(4)]})
        arrays.update({f"{name}/frames": fr, f"{name}/input_frames": np.array([0]),
                       f"{name}/input_masks": m[None]})
    ref = make_reference(tmp_path / "ref", shared_dir, variants, arrays)
    run_reference(ref, small_weights, tmp_path / "ours.npz")
    with np.load(tmp_path / "ours.npz") as z:
        a = z["plain/step_prob_u16"].astype(np.int64)
        b = z["mirror/step_prob_u16"][..., ::-1].astype(np.int64)
        assert np.abs(a - b).max() <= 1
        assert a[1:].std() > 100  # not a degenerate output


# ---------------------------------------------------------------------------- unstored steps
UNSTORED = [1, 4]   # steps whose probabilities the reference leaves as zero rows


def shipped_variant(small_ref: Path, name: str) -> tuple[dict, dict]:
    """The shipped JSON entry and npz arrays (prefixed) of one variant."""
    doc = json.loads(small_ref.with_suffix(".json").read_text())
    with np.load(small_ref) as z:
        arrays = {k: z[k] for k in z.files if k.startswith(f"{name}/")}
    return next(v for v in doc["variants"] if v["name"] == name), arrays


def test_check_passes_on_a_reference_with_unstored_step_probabilities(cli, shared_dir, small_ref,
                                                                      small_weights, tmp_path):
    variant, arrays = shipped_variant(small_ref, "stagger")
    arrays["stagger/step_prob_u16"][UNSTORED] = 0
    ref = make_reference(tmp_path / "ref", shared_dir, [variant], arrays)
    proc = cli("dev", "replay", ref, "--weights", small_weights, "--out", tmp_path / "o.npz",
               "--check", "--format", "json", env=ONE_THREAD_ENV, check=0)
    (result,) = json.loads(proc.stdout)["comparisons"]
    assert result["passed"] and result["unstored_steps"] == len(UNSTORED)
    assert result["max_abs_prob_diff"] <= 1e-3


def ours_from(ref: dict) -> dict:
    """Our outputs equal to a reference's (unprefixed copies)."""
    return {k: np.array(v, copy=True) for k, v in ref.items()}


def test_unstored_steps_are_not_compared_but_their_masks_are(small_ref):
    from m3vos.trackers.parity.reference import compare_variant, top2_margin

    _, arrays = shipped_variant(small_ref, "stagger")
    full = {k.split("/", 1)[1]: v for k, v in arrays.items()}
    ours = ours_from(full)
    ref = ours_from(full)
    ref["step_prob_u16"][UNSTORED] = 0
    ok = compare_variant("stagger", ref, ours)
    assert ok.passed and ok.unstored_steps == 2 and ok.max_abs_prob_diff <= 1e-5

    # a wrong mask on an unstored step, where our own margin is clear, still fails the check
    step = UNSTORED[1]
    confident = top2_margin(ours["step_prob_u16"][step].astype(np.float64) / 65535.0) > 0.1
    ys, xs = np.nonzero(confident & (ours["step_mask"][step] != 0))
    wrong = ours_from(ours)
    wrong["step_mask"][step, ys[:5], xs[:5]] = 0
    bad = compare_variant("stagger", ref, wrong)
    assert not bad.passed and bad.argmax_mismatch_pixels == 5

    # and so does a wrong final mask of a frame whose final step is unstored
    frame = int(np.nonzero(np.asarray(full["final_step"]) == step)[0][0])
    wrong = ours_from(ours)
    wrong["final_mask"][frame, ys[:3], xs[:3]] = 0
    bad = compare_variant("stagger", ref, wrong)
    assert not bad.passed and bad.final_mask_mismatch_pixels == 3
