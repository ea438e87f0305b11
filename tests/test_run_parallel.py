"""Every way of spreading a run (worker processes, per-device workers, shards, Ray) gives the
serial run's bytes; shards are deterministic and balanced; a dead worker is recorded."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers_run import leftovers, plugin_env, png_tree, synth_dataset, vost_dataset


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("par") / "ds", videos=4, frames=8, seed=3)


@pytest.fixture(scope="module")
def serial(cli_module, data, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("serial") / "out"
    cli_module("run", "--model", "flow", "--data", data, "--out", out, check=0)
    tree = png_tree(out)
    assert len(tree) == 32
    return tree


@pytest.fixture(scope="module")
def cli_module():
    from conftest import run_cli

    return run_cli


def test_worker_pool_and_cpu_devices_match_serial(cli, data, serial, tmp_path):
    for flags in (["--workers", "2"], ["--gpus", "cpu,cpu"]):
        out = tmp_path / flags[0].strip("-")
        summary = json.loads(cli("run", "--model", "flow", "--data", data, "--out", out, "--format", "json", *flags,
                                 check=0).stdout)
        assert len(summary["done"]) == 4 and summary["failed"] == []
        assert png_tree(out) == serial and leftovers(out) == []
        run = json.loads((out / "run.json").read_text())
        assert run["executor"]["devices"] == ["cpu", "cpu"]


def test_shards_cover_everything_once_and_merge_into_the_serial_result(cli, data, serial, tmp_path):
    out = tmp_path / "merged"
    seen = []
    for i in range(3):
        summary = json.loads(cli("run", "--model", "flow", "--data", data, "--out", out, "--shard", f"{i}/3",
                                 "--format", "json", check=0).stdout)
        seen += summary["done"]
    assert sorted(seen) == sorted({k.split("/")[0] for k in serial}) and len(seen) == 4
    assert png_tree(out) == serial


def test_shard_assignment_is_deterministic_and_balanced_by_frames():
    from m3vos.runner.schedule import longest_first, shard

    frames = {"a": 900, "b": 100, "c": 500, "d": 450, "e": 60, "f": 390}
    parts = [shard(list(frames), frames, i, 2) for i in range(2)]
    assert sorted(parts[0] + parts[1]) == sorted(frames)
    loads = [sum(frames[n] for n in p) for p in parts]
    assert max(loads) <= 1.1 * sum(frames.values()) / 2, loads  # by count: up to 1,850 vs 550
    assert parts == [shard(list(reversed(frames)), frames, i, 2) for i in range(2)]  # order-independent
    assert longest_first(list(frames), frames)[:2] == ["a", "c"]


def test_a_worker_that_dies_is_recorded_and_the_others_finish(cli, tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2", "v3"], frames=5)
    out = tmp_path / "out"
    proc = cli("run", "--model", "m3vos_testplugin:FailingTracker", "--data", root, "--out", out,
               "--workers", "2", "--config", "die_on=v2", env=plugin_env(), check=1)
    rec = json.loads((out / ".m3vos" / "failed" / "v2.json").read_text())
    assert "worker process died (exit code 9, 9, 9)" in rec["error"] and "1 video(s) failed" in proc.stderr
    assert sorted(p.name for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")) == ["v1", "v3"]


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (pip install 'm3vos[ray]')")
def test_ray_executor_matches_serial(cli, data, serial, tmp_path):
    out = tmp_path / "ray"
    summary = json.loads(cli("run", "--model", "flow", "--data", data, "--out", out, "--executor", "ray",
                             "--workers", "2", "--format", "json", check=0, timeout=300).stdout)
    assert len(summary["done"]) == 4 and summary["failed"] == []
    assert png_tree(out) == serial and leftovers(out) == []
    assert json.loads((out / "run.json").read_text())["executor"]["kind"] == "ray"


def test_ctrl_c_stops_a_worker_pool_cleanly(tmp_path):
    root = vost_dataset(tmp_path / "ds", ["v1", "v2", "v3"], frames=8)
    out = tmp_path / "out"
    env = dict(os.environ, **plugin_env())
    proc = subprocess.Popen([sys.executable, "-m", "m3vos_cli", "run", "--model", "m3vos_testplugin:SlowTracker",
                             "--config", "delay=0.2", "--data", str(root), "--out", str(out), "--workers", "2"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 60
        while not any(p.is_dir() and any(p.glob("*.png")) for p in out.glob(".tmp-*")):
            assert time.monotonic() < end and proc.poll() is None, "no video started"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert leftovers(out) == []
