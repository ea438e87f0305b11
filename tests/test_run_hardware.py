"""Runs that use the hardware and cannot hang (local part): which worker gets which device,
environment and thread caps; retried and replaced dead workers; workers that die with their
parent; precision; plain log lines; a missing torch; the frame pipeline."""

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

from helpers_run import leftovers, plugin_env, vost_dataset

pytestmark = pytest.mark.timeout(300)


# --- scheduling logic (the CUDA paths that cannot run here) --------------------------------

def test_local_plan_gives_each_gpu_worker_its_gpu_and_every_worker_a_share_of_the_cores():
    from m3vos.runner.resources import local_plan

    plan = local_plan(["cuda:1", "cuda:1", "cuda:3", "cpu"], cpu_count=8)
    assert [w.device for w in plan] == ["cuda:0", "cuda:0", "cuda:0", "cpu"]
    assert [w.env.get("CUDA_VISIBLE_DEVICES") for w in plan] == ["1", "1", "3", None]
    assert {w.threads for w in plan} == {2} and all(w.env["OMP_NUM_THREADS"] == "2" for w in plan)
    assert [w.threads for w in local_plan(["cpu"] * 3, cpu_count=2)] == [1, 1, 1]


def test_ray_plan_shares_a_gpu_listed_twice_and_impossible_requests_name_what_exists():
    from m3vos.errors import BadInputError
    from m3vos.runner.resources import check_ray_plan, ray_auto_devices, ray_plan

    plan = ray_plan(["cuda:0", "cuda:0", "cuda:1"])
    assert [(w.num_gpus, w.device) for w in plan] == [(0.5, "cuda:0"), (0.5, "cuda:0"), (1.0, "cuda:0")]
    check_ray_plan(plan, {"GPU": 2.0, "CPU": 2.0})
    with pytest.raises(BadInputError, match=r"asks for 1 GPU\(s\) but the Ray cluster has no GPU \(0 GPU"):
        check_ray_plan(ray_plan(["cuda:0"]), {"CPU": 16.0})
    with pytest.raises(BadInputError, match=r"asks for 2 GPU\(s\) but the Ray cluster has only 1 GPU"):
        check_ray_plan(ray_plan(["cuda:0", "cuda:1"]), {"GPU": 1.0, "CPU": 4.0})
    with pytest.raises(BadInputError, match="4 CPU workers need 4 CPUs but the Ray cluster has 2"):
        check_ray_plan(ray_plan(["cpu"] * 4), {"CPU": 2.0})
    # --device auto takes the cluster's GPUs for a torch tracker, CPUs otherwise
    assert ray_auto_devices({"GPU": 4.0}, workers=1, device="auto", needs_torch=True) == \
        ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert ray_auto_devices({"GPU": 4.0}, workers=2, device="auto", needs_torch=False) == ["cpu", "cpu"]
    assert ray_auto_devices({"CPU": 8.0}, workers=1, device="auto", needs_torch=True) == ["cpu"]
    with pytest.raises(BadInputError, match="no GPU"):
        ray_auto_devices({"CPU": 8.0}, workers=1, device="cuda", needs_torch=True)


def test_local_gpu_requests_are_checked_against_the_visible_gpus():
    from m3vos.errors import BadInputError
    from m3vos.runner.resources import check_local_gpus

    check_local_gpus(["cuda:0", "cuda:0", "cuda:1"], 2)
    with pytest.raises(BadInputError, match=r"asks for GPU 1 but this machine has 1 GPU\(s\)"):
        check_local_gpus(["cuda:0", "cuda:1"], 1)
    with pytest.raises(BadInputError, match="no usable CUDA GPU"):
        check_local_gpus(["cuda:0"], 0)


def test_gpus_on_a_machine_without_cuda_is_exit_2_at_once(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1"])
    t = time.monotonic()
    proc = cli("run", "--model", "flow", "--data", root, "--out", tmp_path / "out", "--gpus", "0,0", check=2)
    assert "no usable CUDA GPU" in proc.stderr and "Traceback" not in proc.stderr
    assert time.monotonic() - t < 30 and not (tmp_path / "out").exists()


# --- local workers -------------------------------------------------------------------------

def test_workers_get_a_thread_budget_in_their_environment(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2", "v3"])
    probe = tmp_path / "probe"
    cli("run", "--model", "m3vos_testplugin.probe:ProbeTracker", "--data", root, "--out", tmp_path / "out",
        "--workers", "2", "--config", f"probe_dir={probe}", env=plugin_env({"OMP_NUM_THREADS": "7"}), check=0)
    infos = [json.loads(p.read_text()) for p in sorted(probe.glob("*.json"))]
    share = str(max(1, (os.cpu_count() or 1) // 2))
    assert len(infos) == 3 and {i["env"]["OMP_NUM_THREADS"] for i in infos} == {share}
    assert {i["cv2_threads"] for i in infos} == {int(share)}
    assert len({i["pid"] for i in infos}) <= 2  # two workers, each loaded once


def test_a_video_that_kills_its_worker_is_retried_then_failed_and_the_worker_replaced(cli, tmp_path):
    names = ["v1", "v2", "v3", "v4"]
    root = vost_dataset(tmp_path / "ds", names)
    out = tmp_path / "out"
    proc = cli("run", "--model", "m3vos_testplugin:FailingTracker", "--data", root, "--out", out,
               "--workers", "2", "--max-retries", "2", "--config", "die_on=v1", env=plugin_env(), check=1)
    rec = json.loads((out / ".m3vos" / "failed" / "v1.json").read_text())
    # three deaths on v1 (two retries) with two worker slots: only replaced workers ran v2..v4
    assert rec["attempts"] == 3 and "died (exit code 9, 9, 9)" in rec["error"], rec
    assert sorted(p.stem for p in (out / ".m3vos" / "done").glob("*.json")) == ["v2", "v3", "v4"]
    assert "1 video(s) failed" in proc.stderr and leftovers(out) == []
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"spawn_main" in cmd:
                kids.append(int(d.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the worker processes")
def test_workers_die_with_a_parent_killed_by_sigkill(tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2", "v3", "v4"], frames=8)
    out = tmp_path / "out"
    env = dict(os.environ, **plugin_env())
    proc = subprocess.Popen([sys.executable, "-m", "m3vos_cli", "run", "--model", "m3vos_testplugin:SlowTracker",
                             "--config", "delay=0.3", "--data", str(root), "--out", str(out), "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while not any(p.is_dir() and any(p.glob("*.png")) for p in out.glob(".tmp-*")):
            assert time.monotonic() < end and proc.poll() is None, "no video started"
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) == 2, workers
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        end = time.monotonic() + 15
        while any(map(_alive, workers)) and time.monotonic() < end:
            time.sleep(0.1)
        assert not any(map(_alive, workers)), "workers outlived their killed parent"
        # and they stopped cleanly (SIGTERM): no temp folder of theirs is still being written
        time.sleep(0.5)
        snapshot = {p: len(list(p.glob("*.png"))) for p in out.glob(".tmp-*")}
        time.sleep(1.0)
        assert snapshot == {p: len(list(p.glob("*.png"))) for p in out.glob(".tmp-*")}
    finally:
        if proc.poll() is None:
            proc.kill()


# --- logs, precision, torch ----------------------------------------------------------------

def test_non_tty_runs_log_one_line_per_video_and_quiet_silences_it(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2"])
    proc = cli("run", "--model", "flow", "--data", root, "--out", tmp_path / "a", "--format", "json", check=0)
    lines = proc.stderr.splitlines()
    assert any("done v1: 5 frames" in ln for ln in lines) and any("done v2: 5 frames" in ln for ln in lines)
    assert any("progress: 2/2 videos, 10/10 frames" in ln and "frames/s" in ln and "ETA" in ln for ln in lines)
    quiet = cli("run", "--model", "flow", "--data", root, "--out", tmp_path / "b", "--quiet", "--format", "json", check=0)
    assert quiet.stderr.strip() == "" and json.loads(quiet.stdout)["done"] == ["v1", "v2"]


def test_heartbeat_reports_rate_and_eta():
    import io

    from m3vos.runner.logs import RunLog

    now = [0.0]
    buf = io.StringIO()
    log = RunLog(2, 100, every=10, stream=buf, clock=lambda: now[0])
    now[0] = 5.0
    log.event("frames", "a", 20)
    assert buf.getvalue() == ""  # not yet time for a heartbeat
    now[0] = 20.0
    log.event("frames", "a", 20)
    assert "40/100 frames, 2.0 frames/s" in buf.getvalue() and "ETA 0m30s" in buf.getvalue()


def test_precision_is_recorded_and_an_option_without_effect_warns(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1"])
    probe = tmp_path / "probe"
    out = tmp_path / "out"
    proc = cli("run", "--model", "m3vos_testplugin.probe:TorchProbeTracker", "--data", root, "--out", out,
               "--precision", "amp-fp16", "--config", f"probe_dir={probe}", env=plugin_env(), check=0)
    assert "warning: --precision amp-fp16 has no effect on cpu" in proc.stderr
    doc = json.loads((out / "run.json").read_text())
    assert doc["precision"]["requested"] == "amp-fp16" and doc["precision"]["effective"] == {"cpu": "fp32"}
    assert json.loads((probe / "v1.json").read_text())["amp"] is False  # nothing pretends AMP on a CPU
    default = json.loads(cli("run", "--model", "flow", "--data", root, "--out", tmp_path / "d", "--format", "json",
                             check=0).stdout)
    assert default["warnings"] == []
    assert json.loads((tmp_path / "d" / "run.json").read_text())["precision"]["requested"] == "tf32"
    bad = cli("run", "--model", "flow", "--data", root, "--out", tmp_path / "e", "--precision", "fp8", check=2)
    assert "unknown --precision 'fp8'" in bad.stderr


def test_precision_backends_are_pinned_on_cuda_only():
    import torch

    from m3vos.runner.precision import apply_backends, effective

    assert effective("tf32", "cpu") == "fp32" and effective("amp-bf16", "cuda:0") == "amp-bf16"
    before = torch.backends.cudnn.conv.fp32_precision
    apply_backends("fp32", "cpu")
    assert torch.backends.cudnn.conv.fp32_precision == before
    try:
        apply_backends("fp32", "cuda:0")
        assert torch.backends.cudnn.conv.fp32_precision == "ieee"
        apply_backends("tf32", "cuda:0")
        assert torch.backends.cudnn.conv.fp32_precision == "tf32"
        assert torch.backends.cuda.matmul.fp32_precision == "ieee"
    finally:
        torch.backends.cudnn.conv.fp32_precision = before


@pytest.fixture
def no_torch(tmp_path) -> dict[str, str]:
    """PYTHONPATH with a `torch` that fails to import, as in the README install without torch."""
    fake = tmp_path / "no_torch"
    fake.mkdir()
    (fake / "torch.py").write_text("raise ModuleNotFoundError(\"No module named 'torch'\", name='torch')\n")
    return {"PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}


def test_a_model_tracker_without_torch_is_exit_2_with_the_install_hint(cli, tmp_path, no_torch):
    root = vost_dataset(tmp_path / "ds", ["v1"])
    proc = cli("run", "--model", "cutie-small", "--data", root, "--out", tmp_path / "out", env=no_torch, check=2)
    assert ("cutie-small needs PyTorch: pip install torch (CPU) or the CUDA build, then pip install "
            "'m3vos[torch]'") in proc.stderr and "Traceback" not in proc.stderr
    rows = {r["name"]: r for r in json.loads(cli("trackers", "list", "--format", "json", env=no_torch, check=0).stdout)}
    assert rows["revos"]["available"] is False and "revos needs PyTorch" in rows["revos"]["error"]
    assert rows["flow"]["available"] is True


# --- the frame pipeline --------------------------------------------------------------------

def test_prefetcher_runs_ahead_in_order_and_keeps_a_bounded_window():
    import threading

    from m3vos.utils.prefetch import Prefetcher

    seen: list[tuple[int, str]] = []

    def load(i: int) -> int:
        seen.append((i, threading.current_thread().name))
        return i * 10

    with Prefetcher(load, 10, depth=2, keep=3) as p:
        assert [p.get(i) for i in range(6)] == [0, 10, 20, 30, 40, 50]
        assert p.get(4) == 40 and p.get(3) == 30  # from the window, not loaded again
        for fut in list(p.pending.values()):
            fut.result()
        assert sorted(p.pending) == [6, 7] and p.loads == 8  # 0..5 asked, 6 and 7 prefetched
        assert len(p.cache) == 3 and all(name.startswith("m3vos-prefetch") for _, name in seen)
        assert sorted(p.cache) == [3, 4, 5]  # the latest frames, whatever was re-read
        p.get(0)  # left the window: loaded again
        assert p.loads == 9


def test_revos_reverse_passes_do_not_decode_frames_again(tmp_path):
    torch = pytest.importorskip("torch")
    from m3vos.trackers.models import build_model

    from m3vos.runner.video import FrameSequence, VideoSource
    from m3vos.trackers.base import VideoInput
    from m3vos.trackers.revos.tracker import ReVOSTracker

    root = vost_dataset(tmp_path / "ds", ["v1"], frames=7)
    from m3vos.data.dataset import open_dataset

    src = VideoSource.from_video(open_dataset(root).video("v1"))
    loads = []

    class Counting(FrameSequence):
        def _load(self, index: int) -> np.ndarray:
            loads.append(index)
            return super()._load(index)

    frames = Counting(src, src.size, prefetch=False)
    video = VideoInput(name="v1", frames=frames, masks={0: (src.first_mask > 0).astype(np.uint8)},
                       object_ids=[1], size=src.size)
    torch.manual_seed(0)
    torch.save(build_model("revos").state_dict(), tmp_path / "revos.pth")
    tracker = ReVOSTracker(weights=tmp_path / "revos.pth", config={"polish_every": 3, "polish_frames": 3})
    with torch.inference_mode():
        outs = list(tracker.track(video))
    assert len(outs) > 7  # reverse passes re-emitted frames
    assert sorted(loads) == list(range(7)), loads  # yet every frame was decoded once


# --- the GPU check -------------------------------------------------------------------------

def test_gpu_check_without_cuda_says_so_and_exits_0(cli):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would really run")
    proc = cli("dev", "gpu-check", "--format", "json", check=0)
    report = json.loads(proc.stdout)
    assert report["cuda"] is False and "no CUDA device visible" in report["message"] and "speed" not in report
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    shell = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=120)
    assert shell.returncode == 0 and "nothing to check" in shell.stdout


def test_gpu_check_timing_code_runs_on_a_tiny_cpu_video(tmp_path):
    pytest.importorskip("torch")
    from m3vos.runner.gpu_check import speed

    rows = speed("cpu", tmp_path, lambda s: None, frames=2, size=(48, 64))
    assert [r["model"] for r in rows] == ["cutie-small", "cutie-base", "revos"]
    assert all(r["frames_per_s"] > 0 and r["outputs"] >= 2 for r in rows)


def test_local_workers_that_never_finish_loading_stop_the_run_with_a_message(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2"])
    t = time.monotonic()
    proc = cli("run", "--model", "m3vos_testplugin.probe:SlowStartTracker", "--data", root, "--out",
               tmp_path / "out", "--workers", "2", "--config", f"probe_dir={tmp_path / 'probe'}",
               "--config", "init_sleep=300", env=plugin_env({"M3VOS_STARTUP_TIMEOUT": "3"}), check=3)
    assert "no worker process finished loading within 3 s (2 started on cpu, cpu)" in proc.stderr
    assert "Traceback" not in proc.stderr and time.monotonic() - t < 60
