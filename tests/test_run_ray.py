"""Ray runs on a local Ray that declares fake GPUs: impossible requests fail fast, shared GPUs
run, a video that kills its actor repeatedly fails alone, `--device auto` takes the GPUs.

One Ray session (2 CPUs, 2 fake GPUs) serves the whole module: starting Ray costs seconds."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from pathlib import Path

import pytest

from helpers_run import PLUGIN_SRC, leftovers, vost_dataset

pytestmark = [pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                 reason="ray is not installed (pip install 'm3vos[ray]')"),
              pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def ray_session():
    import ray

    old = os.environ.get("PYTHONPATH")
    # Ray's workers inherit this: they must import the test plug-in
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGIN_SRC), old) if p)
    sys.path.insert(0, str(PLUGIN_SRC))  # and so does this process (it resolves the model)
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, object_store_memory=80 * 2**20,
             log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()
        sys.path.remove(str(PLUGIN_SRC))
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return vost_dataset(tmp_path_factory.mktemp("ray") / "ds", ["v1", "v2", "v3"], frames=4)


def test_cli_on_a_cluster_without_gpus_is_exit_2_with_what_exists(cli, data, tmp_path):
    # first in the module: its own local Ray (no GPU here), before the shared session starts
    proc = cli("run", "--model", "flow", "--data", data, "--out", tmp_path / "out", "--executor", "ray",
               "--gpus", "0", check=2, timeout=300)
    assert "asks for 1 GPU(s) but the Ray cluster has no GPU" in proc.stderr and "Traceback" not in proc.stderr


def test_impossible_requests_are_exit_2_at_once(ray_session, data, tmp_path):
    from m3vos.errors import BadInputError
    from m3vos.runner import run

    t = time.monotonic()
    with pytest.raises(BadInputError, match=r"--gpus asks for 3 GPU\(s\) but the Ray cluster has only 2 GPU"):
        run("flow", tmp_path / "a", data=data, executor="ray", gpus="0,1,2", progress=False)
    with pytest.raises(BadInputError, match="3 CPU workers need 3 CPUs but the Ray cluster has 2"):
        run("flow", tmp_path / "b", data=data, executor="ray", workers=3, progress=False)
    assert time.monotonic() - t < 10
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_a_gpu_listed_twice_gives_two_actors_sharing_it(ray_session, data, tmp_path):
    from m3vos.runner import run

    probe = tmp_path / "probe"
    summary = run("m3vos_testplugin.probe:TorchProbeTracker", tmp_path / "out", data=data, executor="ray",
                  gpus="0,0", config={"probe_dir": str(probe), "delay": 0.5}, progress=False)
    assert summary.ok and len(summary.done) == 3
    infos = [json.loads(p.read_text()) for p in sorted(probe.glob("*.json"))]
    assert all(i["device"] == "cuda:0" and len(i["ray_gpu_ids"]) == 1 for i in infos)
    # both actors were placed (each loads its tracker at once), on one and the same GPU
    started = [json.loads(p.read_text()) for p in (probe / "started").glob("*.json")]
    assert len(started) == 2 and len({i["CUDA_VISIBLE_DEVICES"] for i in started}) == 1, started
    assert json.loads((tmp_path / "out" / "run.json").read_text())["executor"]["devices"] == ["cuda:0", "cuda:0"]


def test_device_auto_takes_the_declared_gpus(ray_session, data, tmp_path):
    from m3vos.runner import run

    probe = tmp_path / "probe"
    summary = run("m3vos_testplugin.probe:TorchProbeTracker", tmp_path / "out", data=data, executor="ray",
                  config={"probe_dir": str(probe)}, progress=False)
    assert summary.ok
    doc = json.loads((tmp_path / "out" / "run.json").read_text())
    assert doc["executor"]["devices"] == ["cuda:0", "cuda:1"]
    infos = [json.loads(p.read_text()) for p in probe.glob("*.json")]
    assert {i["env"]["CUDA_VISIBLE_DEVICES"] for i in infos} <= {"0", "1"} and all(i["ray_gpu_ids"] for i in infos)


def test_a_video_that_kills_its_actor_every_time_fails_alone(ray_session, data, tmp_path):
    from m3vos.runner import run

    out = tmp_path / "out"
    summary = run("m3vos_testplugin:FailingTracker", out, data=data, executor="ray", workers=2,
                  config={"die_on": "v2"}, max_retries=1, progress=False)
    assert [r["video"] for r in summary.failed] == ["v2"]
    assert sorted(r["video"] for r in summary.done) == ["v1", "v3"]
    rec = json.loads((out / ".m3vos" / "failed" / "v2.json").read_text())
    assert rec["attempts"] == 2 and "Ray worker died while running this video, 2 time(s)" in rec["error"]
    assert leftovers(out) == [] and json.loads((out / "run.json").read_text())["status"] == "failed"


def test_actors_that_never_start_stop_the_run_with_a_message(ray_session, data, tmp_path, monkeypatch):
    from m3vos.errors import EnvError
    from m3vos.runner import ray_executor, run

    monkeypatch.setattr(ray_executor, "STARTUP_TIMEOUT", 3.0)
    t = time.monotonic()
    with pytest.raises(EnvError, match=r"no Ray worker started within 3 s \(2 asked for; the cluster has 2 GPU"):
        run("m3vos_testplugin.probe:SlowStartTracker", tmp_path / "out", data=data, executor="ray", workers=2,
            config={"init_sleep": 120, "probe_dir": str(tmp_path / "probe")}, progress=False)
    assert time.monotonic() - t < 60
