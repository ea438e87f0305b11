"""`m3vos run` through the real CLI: outputs, records, resume, kill -9, Ctrl-C, failures, bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers_run import leftovers, plugin_env, png_tree, synth_dataset, vost_dataset, write_split, write_video
from helpers_cli import one_line_error


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("run") / "ds", videos=3, frames=8)


@pytest.fixture(scope="module")
def slow_data(tmp_path_factory) -> Path:
    return vost_dataset(tmp_path_factory.mktemp("slow") / "ds", ["a_video", "b_video", "c_video"], frames=12)


def _gt(data: Path) -> dict[str, list[Path]]:
    from m3vos.data.dataset import open_dataset

    ds = open_dataset(data)
    return {v.name: list(v.mask_paths) for v in ds}


def test_run_writes_gt_shaped_palette_pngs_records_and_resumes(cli, data, tmp_path):
    out = tmp_path / "preds"
    proc = cli("run", "--model", "flow", "--data", data, "--out", out, "--config", "preset=fast",
               "--config", "occlusion_check=true", check=0)
    assert "3 done" in proc.stdout and "m3vos score" in proc.stdout
    for video, masks in _gt(data).items():
        first_ids = set(np.unique(np.asarray(Image.open(masks[0])))) | {0}
        for gt in masks:
            pred = out / video / gt.name
            with Image.open(gt) as g, Image.open(pred) as p:
                assert p.mode == "P" and p.size == g.size
                assert p.getpalette()[:768] == g.getpalette()[:768]
                assert set(np.unique(np.asarray(p))) <= first_ids
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "complete" and run["tracker"]["name"] == "flow"
    assert run["config"] == {"preset": "fast", "occlusion_check": True}  # typed by YAML
    assert run["dataset"]["root"] == str(data.resolve()) and run["m3vos_version"]
    # the default rule for a weight-free tracker: the CPUs this process may use, at most one per video
    from m3vos.utils.workers import available_cpus

    assert run["environment"]["devices"] == ["cpu"] * min(available_cpus(), 3)
    assert run["timings"]["selected"]["done"] == 3
    rec = json.loads(next((out / ".m3vos" / "done").glob("*.json")).read_text())
    assert rec["frames"] == 8 and rec["fps"] > 0 and rec["peak_rss_mb"] > 0 and len(rec["files"]) == 8

    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    again = json.loads(cli("run", "--model", "flow", "--data", data, "--out", out, "--config", "preset=fast",
                           "--config", "occlusion_check=true", "--format", "json", check=0).stdout)
    assert again["done"] == [] and len(again["skipped"]) == 3
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.png")} == before

    victim = sorted(next(p for p in sorted(out.iterdir()) if p.is_dir() and not p.name.startswith(".")).glob("*.png"))[3]
    content = victim.read_bytes()
    victim.unlink()  # a damaged video is not "finished": only it is redone
    third = json.loads(cli("run", "--model", "flow", "--data", data, "--out", out, "--config", "preset=fast",
                           "--config", "occlusion_check=true", "--format", "json", check=0).stdout)
    assert third["done"] == [victim.parent.name] and len(third["skipped"]) == 2
    assert victim.read_bytes() == content


def _wait_for(pred, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def _mid_video(out: Path) -> bool:
    done = list((out / ".m3vos" / "done").glob("*.json")) if (out / ".m3vos" / "done").is_dir() else []
    temps = [p for p in out.glob(".tmp-*") if p.is_dir() and len(list(p.glob("*.png"))) >= 2]
    return bool(done) and bool(temps)


def _start(args: list, env: dict) -> subprocess.Popen:
    full = dict(os.environ)
    full.update(env)
    return subprocess.Popen([sys.executable, "-m", "m3vos_cli", *map(str, args)], env=full,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_sigkill_mid_video_then_rerun_is_byte_identical_with_no_leftovers(cli, slow_data, tmp_path):
    # -j 1: the tracker runs in the killed process itself (worker processes clean up after a
    # dead parent, see test_run_hardware, and would leave nothing to find)
    args = ["run", "--model", "m3vos_testplugin:SlowTracker", "--data", slow_data, "--config", "delay=0.05",
            "-j", "1"]
    ref = tmp_path / "ref"
    cli(*args, "--out", ref, env=plugin_env(), check=0)
    out = tmp_path / "killed"
    proc = _start([*args, "--out", out], plugin_env())
    try:
        _wait_for(lambda: _mid_video(out))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert leftovers(out), "the kill should have hit a video in progress"
    cli(*args, "--out", out, env=plugin_env(), check=0)
    assert leftovers(out) == []
    assert png_tree(out) == png_tree(ref) and len(png_tree(ref)) == 36


def test_ctrl_c_stops_cleanly_and_the_rerun_finishes(cli, slow_data, tmp_path):
    args = ["run", "--model", "m3vos_testplugin:SlowTracker", "--data", slow_data, "--config", "delay=0.05"]
    out = tmp_path / "out"
    proc = _start([*args, "--out", out], plugin_env())
    _wait_for(lambda: _mid_video(out))
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "rerun" in err and "Traceback" not in err
    assert leftovers(out) == []
    assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    again = json.loads(cli(*args, "--out", out, "--format", "json", env=plugin_env(), check=0).stdout)
    assert len(again["skipped"]) >= 1 and len(again["done"]) + len(again["skipped"]) == 3


def test_a_failing_video_is_recorded_and_the_run_goes_on(cli, slow_data, tmp_path):
    out = tmp_path / "out"
    proc = cli("run", "--model", "m3vos_testplugin:FailingTracker", "--data", slow_data, "--out", out,
               "--config", "fail_on=b_video", env=plugin_env(), check=1)
    assert "1 video(s) failed" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and p.is_dir()) == ["a_video", "c_video"]
    rec = json.loads((out / ".m3vos" / "failed" / "b_video.json").read_text())
    assert "boom on b_video" in rec["error"] and rec["traceback"]
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert leftovers(out) == []


def test_offline_tracker_last_write_wins_and_late_objects_are_given_on_request(cli, tmp_path):
    root = tmp_path / "ds"
    write_video(root, "late_one", frames=6, ids=(1,), late={2: 3})
    write_split(root, ["late_one"])
    out = tmp_path / "rev"
    proc = cli("run", "--model", "m3vos_testplugin:ReverseTracker", "--data", root, "--out", out, "--late-objects",
               env=plugin_env(), check=0)
    assert "does not accept masks after frame 0" in proc.stderr
    first = np.asarray(Image.open(root / "Annotations" / "late_one" / "0000000.png"))
    for p in sorted((out / "late_one").glob("*.png")):
        assert np.array_equal(np.asarray(Image.open(p)), first)  # the backward pass overwrote the forward one
    plain, late = tmp_path / "plain", tmp_path / "late"
    cli("run", "--model", "static", "--data", root, "--out", plain, check=0)
    cli("run", "--model", "static", "--data", root, "--out", late, "--late-objects", check=0)
    gt4 = np.asarray(Image.open(root / "Annotations" / "late_one" / "0000004.png"))
    assert not (np.asarray(Image.open(plain / "late_one" / "0000004.png")) == 2).any()
    got = np.asarray(Image.open(late / "late_one" / "0000004.png")) == 2
    assert got.any() and not (np.asarray(Image.open(late / "late_one" / "0000002.png")) == 2).any()
    assert np.array_equal(np.asarray(Image.open(late / "late_one" / "0000003.png")) == 2,
                          np.asarray(Image.open(root / "Annotations" / "late_one" / "0000003.png")) == 2)
    assert gt4.shape == got.shape


EXTERNAL_SCRIPT = r'''
import shutil, sys, time
from pathlib import Path
frames, first_mask, out, mode = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), sys.argv[4]
if mode == "sleep":
    time.sleep(30)
if mode == "crash":
    print("model exploded", file=sys.stderr); sys.exit(3)
for f in sorted(frames.iterdir()):
    if mode == "skip" and f.stem.endswith("3"):
        continue
    shutil.copyfile(first_mask, out / (f.stem + ".png"))
'''


def test_external_command_tracker_matches_static_and_its_failures_are_reported(cli, slow_data, tmp_path):
    script = tmp_path / "copy_first.py"
    script.write_text(EXTERNAL_SCRIPT)

    def yaml_for(mode: str, timeout: float = 60) -> Path:
        y = tmp_path / f"ext_{mode}.yaml"
        y.write_text(f"command: [{sys.executable!r}, copy_first.py, '{{frames}}', '{{first_mask}}', '{{out}}', {mode}]\n"
                     f"timeout: {timeout}\n")
        return y

    ext, ref = tmp_path / "ext", tmp_path / "static"
    cli("run", "--model", yaml_for("ok"), "--data", slow_data, "--out", ext, "--videos", "a_video", check=0)
    cli("run", "--model", "static", "--data", slow_data, "--out", ref, "--videos", "a_video", check=0)
    assert png_tree(ext) == png_tree(ref) and len(png_tree(ext)) == 12
    for mode, timeout, message in (("sleep", 1, "timed out after 1 s"), ("crash", 60, "exited with code 3 on video a_video: model exploded"),
                                   ("skip", 60, "wrote no mask for frame 0000003")):
        out = tmp_path / mode
        cli("run", "--model", yaml_for(mode, timeout), "--data", slow_data, "--out", out, "--videos", "a_video",
            check=1)
        assert message in json.loads((out / ".m3vos" / "failed" / "a_video.json").read_text())["error"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("commandd: echo\n")
    proc = cli("run", "--model", bad, "--data", slow_data, "--out", tmp_path / "bad", check=2)
    assert "needs a `command`" in proc.stderr


def test_bad_input_gets_one_line_and_exit_2(cli, data, tmp_path):
    out = tmp_path / "out"
    base = ["run", "--data", data, "--out", out]
    line = one_line_error(cli(*base, "--model", "sam9", check=2))
    assert "unknown model 'sam9'" in line and "static" in line and "flow" in line
    line = one_line_error(cli("run", "--model", "static", "--data", tmp_path / "nowhere", "--out", out, check=2))
    assert "nowhere" in line
    line = one_line_error(cli(*base, "--model", "m3vos_testplugin:NeedsWeightsTracker", env=plugin_env(), check=2))
    assert "m3vos weights download cutie-small-mega" in line
    line = one_line_error(cli(*base, "--model", "static", "--device", "cuda", check=2))
    assert "CUDA is not available" in line or "torch is not installed" in line
    assert "bad --shard" in one_line_error(cli(*base, "--model", "static", "--shard", "2/2", check=2))
    assert not out.exists()  # nothing is written before the input is known to be good

    cli(*base, "--model", "static", check=0)
    line = one_line_error(cli(*base, "--model", "flow", check=2))
    assert "another run's results" in line and "--force" in line
    line = one_line_error(cli(*base, "--model", "static", "--config", "x=1", check=2))
    assert "unknown config key(s) x" in line   # checked first: a typo is never a config change
    cli(*base, "--model", "flow", "--force", check=0)
    assert json.loads((out / "run.json").read_text())["tracker"]["name"] == "flow"
    line = one_line_error(cli(*base, "--model", "flow", "--config", "preset=ultrafast", check=2))
    assert "another run's results" in line   # same tracker, another config
    foreign = tmp_path / "foreign"
    (foreign / "some_video").mkdir(parents=True)
    assert "no run.json" in one_line_error(cli("run", "--model", "static", "--data", data, "--out", foreign, check=2))


def test_option_mistakes_are_caught_before_anything_is_written(data, tmp_path):
    from m3vos.errors import BadInputError
    from m3vos.runner import run
    from m3vos.runner.options import parse_config

    out = tmp_path / "out"
    cases = [({"shard": "3/2"}, "bad --shard"), ({"shard": "a/b"}, "bad --shard"), ({"gpus": "x"}, "bad --gpus entry"),
             ({"videos": ["not_a_video"]}, "not_a_video"), ({"device": "tpu"}, "bad --device"),
             ({"executor": "dask"}, "unknown --executor"), ({"workers": 0}, "--workers must be"),
             ({"gpus": "0,1"}, "no usable CUDA GPU|needs PyTorch")]
    for kwargs, text in cases:
        with pytest.raises(BadInputError, match=text):
            run("static", out, data=data, progress=False, **kwargs)
    with pytest.raises(BadInputError, match="bad --config"):
        parse_config(["novalue"])
    assert parse_config(["a=1", "b=true", "c=x y", "d=[1, 2]", "e="]) == {"a": 1, "b": True, "c": "x y",
                                                                       "d": [1, 2], "e": ""}
    assert not out.exists()


def test_broken_video_files_fail_that_video_with_the_file_named(cli, tmp_path):
    root = tmp_path / "ds"
    for n in ("good", "corrupt_frame", "small_frame"):
        write_video(root, n, frames=5)
    write_split(root, ["good", "corrupt_frame", "small_frame"])
    bad_jpg = root / "JPEGImages" / "corrupt_frame" / "0000003.jpg"
    bad_jpg.write_bytes(bad_jpg.read_bytes()[:40])
    small = root / "JPEGImages" / "small_frame" / "0000002.jpg"
    Image.open(small).resize((32, 24)).save(small)
    out = tmp_path / "out"
    cli("run", "--model", "flow", "--data", root, "--out", out, check=1)
    err = {p.stem: json.loads(p.read_text())["error"] for p in (out / ".m3vos" / "failed").glob("*.json")}
    assert sorted(err) == ["corrupt_frame", "small_frame"]
    assert str(bad_jpg) in err["corrupt_frame"] and "unreadable frame" in err["corrupt_frame"]
    assert str(small) in err["small_frame"] and "32x24" in err["small_frame"]
    assert (out / "good").is_dir() and not (out / "corrupt_frame").exists() and leftovers(out) == []


def test_runner_shrinks_inputs_to_the_trackers_short_side_and_restores_outputs(cli, tmp_path):
    from m3vos.runner.video import scaled_size

    assert scaled_size((48, 64), 32) == (32, 42) and scaled_size((64, 48), 32) == (42, 32)
    assert scaled_size((48, 64), 480) == (48, 64)  # never enlarged
    root = tmp_path / "ds"
    write_video(root, "big", frames=4, size=(48, 64), ids=(1, 3))
    write_split(root, ["big"])
    out = tmp_path / "out"
    cli("run", "--model", "m3vos_testplugin:ShrinkTracker", "--data", root, "--out", out, env=plugin_env(), check=0)
    gt = np.asarray(Image.open(root / "Annotations" / "big" / "0000000.png"))
    for p in sorted((out / "big").glob("*.png")):
        pred = np.asarray(Image.open(p))
        assert pred.shape == gt.shape and set(np.unique(pred)) <= {0, 1, 3}
        for k in (1, 3):  # nearest down to 32 x 42 and back: 10 x 12 boxes survive, edges within a pixel
            inter, union = ((pred == k) & (gt == k)).sum(), ((pred == k) | (gt == k)).sum()
            assert inter / union > 0.6
