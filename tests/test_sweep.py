"""`m3vos sweep`: points as run folders, resume after kill -9, tables, Pareto front, config checks."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import run_cli
from m3vos.data.synth import make_synthetic_dataset
from m3vos.errors import BadInputError
from m3vos.sweep.plan import load_spec, parse_grid
from m3vos.sweep.table import pareto_front


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("sw") / "ds", videos=3, frames=12, height=48, width=64)


def test_pareto_front_on_hand_made_points() -> None:
    #            a    b    c    d    e(tie with d)  f(nan)  g(dominated by b)
    speed = [10.0, 5.0, 1.0, 7.0, 7.0, float("nan"), 4.0]
    acc = [0.1, 0.5, 0.9, 0.3, 0.3, 0.99, 0.5]
    # a: fastest; b: beats d/e on accuracy but slower; c: most accurate; d and e equal (neither
    # dominates the other); g: as accurate as b but slower -> dominated; f has no speed.
    assert pareto_front(speed, acc) == [True, True, True, True, True, False, False]
    assert pareto_front([1.0, 2.0], [1.0, 2.0]) == [False, True]
    assert pareto_front([], []) == []


def test_grid_expands_multiplies_and_ties() -> None:
    spec = load_spec(None, model="revos:flow", grid=["T,L=5,10", "preset=fast,ultrafast"],
                     base={"occlusion_check": False}, reference="T=10,L=10,preset=fast")
    points = spec.expand()
    ids = [p.id for p in points]
    assert [i.split("--")[0] for i in ids] == ["T5_L5_presetfast", "T5_L5_presetultrafast",
                                               "T10_L10_presetfast", "T10_L10_presetultrafast"]
    assert len({i.split("--")[1] for i in ids}) == 1      # the base config's digest, the same for all
    assert points[2].config == {"occlusion_check": False, "T": 10, "L": 10, "preset": "fast"}
    assert spec.reference_point(points) is points[2]
    # another base config: other folders; no base config: the plain names
    other = load_spec(None, model="revos:flow", grid=["T,L=5"], base={"occlusion_check": True}, reference=None)
    assert other.expand()[0].id.split("--")[1] != ids[0].split("--")[1]
    assert load_spec(None, model="flow", grid=["preset=fast"], base={}, reference=None).expand()[0].id == "presetfast"
    with pytest.raises(BadInputError):
        load_spec(None, model="flow", grid=["preset=fast"], base={}, reference="preset=nope").reference_point(
            load_spec(None, model="flow", grid=["preset=fast"], base={}, reference=None).expand())
    with pytest.raises(BadInputError):
        parse_grid(["alpha"])


def test_sweep_file_yaml(tmp_path: Path) -> None:
    f = tmp_path / "s.yaml"
    f.write_text("model: flow\nconfig: {occlusion_check: false}\ngrid: {preset: [ultrafast, fast]}\n"
                 "points: [{preset: medium}]\nreference: {preset: fast}\n")
    spec = load_spec(f, model=None, grid=None, base=None, reference=None)
    assert [p.id.split("--")[0] for p in spec.expand()] == ["presetultrafast", "presetfast", "presetmedium"]
    assert spec.base == {"occlusion_check": False} and spec.reference == {"preset": "fast"}
    f.write_text("model: flow\ngird: {preset: [fast]}\n")
    with pytest.raises(BadInputError, match="gird"):
        load_spec(f, model=None, grid=None, base=None, reference=None)


def test_unknown_config_key_is_exit_2_naming_valid_keys(data: Path, tmp_path: Path) -> None:
    # `flow` used to accept typos silently and run with its defaults.
    proc = run_cli("run", "--model", "flow", "--data", data, "--out", tmp_path / "r", "--config", "presett=fast")
    assert proc.returncode == 2, proc.stderr
    assert "presett" in proc.stderr and "preset" in proc.stderr.split("valid keys")[1]
    assert not (tmp_path / "r").exists()
    proc = run_cli("sweep", "--model", "revos:static", "--grid", "T,L=5,10", "--grid", "windw=3",
                   "--data", data, "--out", tmp_path / "s")
    assert proc.returncode == 2 and "windw" in proc.stderr and "reverse.window" in proc.stderr
    assert not (tmp_path / "s" / "points").exists()     # checked before any point starts


def _markers(out: Path) -> dict[str, float]:
    return {p.parent.name: p.stat().st_mtime_ns for p in (out / "points").glob("*/point.json")}


def test_sweep_resumes_after_kill_9_without_redoing_points(tmp_path_factory: pytest.TempPathFactory) -> None:
    data = make_synthetic_dataset(tmp_path_factory.mktemp("k9") / "ds", videos=3, frames=24, height=96, width=128)
    out = tmp_path_factory.mktemp("k9out") / "sweep"
    args = ["sweep", "--model", "revos:flow", "--grid", "T,L=5,10,3,7", "--reference", "T=10,L=10",
            "--data", str(data), "--out", str(out), "--format", "json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "m3vos_cli", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not _markers(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = _markers(out)
    assert before, "no point finished before the kill"
    assert len(before) < 4, "the sweep finished before it could be killed (make the points slower)"
    done_before = {p: p.stat().st_mtime_ns for p in (out / "points").glob("*/.m3vos/done/*.json")}
    results_before = {p.parent.name: p.stat().st_mtime_ns for p in (out / "points").glob("*/results.json")}

    again = run_cli(*args, env={"OMP_NUM_THREADS": "1"}, check=0)
    doc = json.loads(again.stdout)
    assert set(doc["skipped"]) == set(before)                    # finished points were not redone
    assert set(doc["ran"]) == {"T5_L5", "T10_L10", "T3_L3", "T7_L7"} - set(before)
    after = _markers(out)
    assert {k: after[k] for k in before} == before
    for name, mtime in results_before.items():
        if name in before:
            assert (out / "points" / name / "results.json").stat().st_mtime_ns == mtime
    # videos finished before the kill (in any point, the killed one too) are not tracked again
    for p, mtime in done_before.items():
        assert p.stat().st_mtime_ns == mtime, p
    rows = list(csv.DictReader((out / "sweep.csv").open()))
    assert sorted(r["point"] for r in rows) == sorted(["T5_L5", "T10_L10", "T3_L3", "T7_L7"])
    ref = next(r for r in rows if r["point"] == "T10_L10")
    assert ref["reference"] == "True" and float(ref["ΔJ-Mean vs T10_L10"]) == 0.0
    for r in rows:
        assert float(r["J-Mean CI low"]) <= float(r["J-Mean"]) <= float(r["J-Mean CI high"])
        assert float(r["frames/s"]) > 0 and float(r["peak memory MB"]) > 0
    assert any(r["pareto"] == "True" for r in rows)
    # each point is an ordinary run folder: `m3vos score` reads it as is
    run_cli("score", out / "points" / "T5_L5", "--data", data, "--out", tmp_path_factory.mktemp("sc"), check=0)
    # a third run does no work at all
    third = json.loads(run_cli(*args, check=0).stdout)
    assert third["ran"] == [] and len(third["skipped"]) == 4
    assert _markers(out) == after


def test_sweep_static_and_flow_tables_plot_and_new_values(data: Path, tmp_path: Path) -> None:
    from m3vos.sweep import run_sweep

    out = tmp_path / "flow"
    spec = load_spec(None, model="flow", grid=["preset=ultrafast,fast"], base={}, reference="preset=fast")
    res = run_sweep(spec, out, data=data, workers=1, progress=False)
    assert res.ran == ["presetultrafast", "presetfast"] and res.reference == "presetfast"
    names = sorted(f.name for f in res.files)
    assert names == ["speed_accuracy.png", "sweep.csv", "sweep.json", "sweep.md", "sweep.tex"]
    assert (out / "speed_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["schema"] == "m3vos-sweep/1" and len(doc["rows"]) == 2
    tex = (out / "sweep.tex").read_text()
    assert "\\begin{tabular}" in tex and "presetfast" in tex and "\\bottomrule" in tex
    md = (out / "sweep.md").read_text().splitlines()
    assert md[0].startswith("| point | preset | J-Mean") and len(md) == 4
    # the table agrees with each point's own results.json
    for _, row in res.table.iterrows():
        g = json.loads((out / "points" / row["point"] / "results.json").read_text())["global"]
        assert row["J-Mean"] == pytest.approx(g["J-Mean"], abs=1e-9)
    # adding a grid value runs only the new point
    spec2 = load_spec(None, model="flow", grid=["preset=ultrafast,fast,medium"], base={}, reference="preset=fast")
    res2 = run_sweep(spec2, out, data=data, workers=1, progress=False)
    assert res2.ran == ["presetmedium"] and res2.skipped == ["presetultrafast", "presetfast"]
    # static has no keys of its own; wrapped by ReVOS it sweeps T and L
    res3 = run_sweep(load_spec(None, model="revos:static", grid=["T,L=2,4"], base={}, reference=None),
                     tmp_path / "static", data=data, progress=False)
    assert list(res3.table["point"]) == ["T2_L2", "T4_L4"] and res3.table["reference"].tolist() == [True, False]
    # `--videos core`: the labelled core subset (the synthetic set marks every other video)
    res4 = run_sweep(load_spec(None, model="static", grid=None, base={}, reference=None), tmp_path / "core",
                     data=data, videos=["core"], progress=False)
    assert res4.table["videos"].tolist() == [2]
    # runner options pass through: one worker process per listed device (`cpu` devices test the pool)
    res5 = run_sweep(load_spec(None, model="static", grid=None, base={}, reference=None), tmp_path / "pool",
                     data=data, gpus="cpu,cpu", progress=False)
    run_doc = json.loads((tmp_path / "pool" / "points" / "base" / "run.json").read_text())
    assert run_doc["executor"]["devices"] == ["cpu", "cpu"] and res5.ran == ["base"]
    assert res5.table["videos"].tolist() == [3] and 0 < res5.table["J-Mean"].iloc[0] <= 1


@pytest.mark.parametrize("model,good,bad", [
    ("static", {}, {"preset": "fast"}),
    ("flow", {"preset": "fast", "occlusion_check": True}, {"occlusion": True}),
    ("revos:flow", {"T": 5, "reverse": {"every": 5}, "preset": "fast"}, {"reverse.windw": 5}),
    ("cutie-base", {"mem_every": 3, "long_term": {"max_mem_frames": 4}}, {"mem_evry": 3}),
    ("revos", {"alpha": 1.5, "T": 10, "L": 10, "top_k": 20}, {"alpah": 1.5}),
])
def test_every_builtin_tracker_rejects_unknown_config_keys(model: str, good: dict, bad: dict) -> None:
    from m3vos.trackers.registry import get_tracker

    cls = get_tracker(model)
    cls.check_config(good)
    with pytest.raises(BadInputError) as err:
        cls.check_config(bad)
    assert next(iter(bad)) in err.value.message and "valid keys" in (err.value.hint or "")


@pytest.mark.skipif(__import__("importlib").util.find_spec("ray") is None,
                    reason="ray is not installed (pip install 'm3vos[ray]')")
def test_sweep_points_run_on_ray(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "ray"
    args = ("sweep", "--model", "flow", "--grid", "preset=ultrafast", "--data", data, "--out", out,
            "--executor", "ray", "--workers", "2", "--format", "csv")
    rows = list(csv.DictReader(__import__("io").StringIO(run_cli(*args, check=0, timeout=300).stdout)))
    assert [r["point"] for r in rows] == ["presetultrafast"] and float(rows[0]["J-Mean"]) > 0
    assert json.loads((out / "points" / "presetultrafast" / "run.json").read_text())["executor"]["kind"] == "ray"
    marker = _markers(out)
    assert (out / "sweep.csv").read_text() == run_cli(*args, check=0).stdout
    assert _markers(out) == marker                      # the second run redid nothing
