"""The tracker registry, the baselines and `m3vos trackers list|test`, through the real CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from helpers_run import install_plugin, plugin_env, synth_dataset


def test_listing_imports_no_model_code_and_copes_with_missing_trackers():
    code = ("import sys; from m3vos.trackers import list_trackers; names=[s.name for s in list_trackers()];"
            "bad=[m for m in sys.modules if m.startswith(('torch','m3vos.trackers.cutie','m3vos.trackers.revos',"
            "'m3vos.trackers.flow','cv2'))]; print(names, bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    names, bad = out.rsplit("] [", 1)
    assert "'static'" in names and "'flow'" in names and "'revos'" in names and "'cutie-base'" in names
    assert bad.strip() == "]", f"listing imported: {bad}"


def test_trackers_list_json_reports_capabilities_and_weights(cli):
    rows = json.loads(cli("trackers", "list", "--format", "json", check=0).stdout)
    by = {r["name"]: r for r in rows}
    assert by["static"]["available"] and by["static"]["weights"] is None
    assert by["flow"]["capabilities"] == ["late_objects"]
    for name, row in by.items():  # model trackers: either unavailable with a reason, or weights stated
        assert row["available"] or row["error"], name
        if row["available"] and row["weights"]:
            assert row["weights_present"] is False  # the test cache is empty
    table = " ".join(cli("trackers", "list", check=0).stdout.split())
    assert "static" in table and "flow" in table
    if any(r["available"] and r["weights"] for r in rows):
        name = next(r["weights"] for r in rows if r["available"] and r["weights"])
        assert f"{name}: missing (m3vos weights download {name})" in table


def test_trackers_test_passes_for_baselines(cli):
    for model in ("static", "flow"):
        rep = json.loads(cli("trackers", "test", model, "--format", "json", check=0).stdout)
        assert rep["ok"], rep
        names = {c["name"] for c in rep["checks"]}
        assert {"one PNG per frame", "ground-truth palette", "only ground-truth ids"} <= names


def test_trackers_test_reports_a_broken_contract(cli):
    proc = cli("trackers", "test", "m3vos_testplugin:SkippingTracker", env=plugin_env(), check=1)
    assert "FAIL" in proc.stdout and "before frame 3" in proc.stdout.replace("\n", " ")
    proc = cli("trackers", "test", "nope-tracker", check=2)
    assert proc.stderr.startswith("error: unknown model 'nope-tracker'; known: static, flow")


def test_entry_point_plugin_is_listed_run_and_a_broken_one_reported(cli, tmp_path):
    site = install_plugin(tmp_path / "site")
    env = {"PYTHONPATH": str(site)}
    rows = {r["name"]: r for r in json.loads(cli("trackers", "list", "--format", "json", env=env, check=0).stdout)}
    assert rows["echo-test"]["available"] and rows["echo-test"]["source"] == "entry-point:m3vos-testplugin"
    assert not rows["broken-test"]["available"] and "not a subclass" in rows["broken-test"]["error"]
    rep = json.loads(cli("trackers", "test", "echo-test", "--format", "json", env=env, check=0).stdout)
    assert rep["ok"], rep  # half-resolution probs were resized back to the GT size
    data = synth_dataset(tmp_path / "ds", videos=2, frames=5)
    summary = json.loads(cli("run", "--model", "echo-test", "--data", data, "--out", tmp_path / "out", "--format", "json",
                             env=env, check=0).stdout)
    assert len(summary["done"]) == 2
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["tracker"]["source"] == "entry-point:m3vos-testplugin"


def _run_in_memory(model: str, config: dict | None = None):
    from m3vos.selftest import synthetic_video
    from m3vos.runner.video import IdMap, make_input
    from m3vos.trackers import get_tracker

    src, gts = synthetic_video(frames=10, late=True)
    cls = get_tracker(model)
    ids = IdMap.for_source(src)
    vin = make_input(src, cls, ids)
    outs = {o.frame: ids.to_dataset(o.labels) for o in cls(config=config).track(vin)}
    return outs, gts


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def test_flow_follows_motion_and_picks_up_late_objects():
    flow, gts = _run_in_memory("flow")
    static, _ = _run_in_memory("static")
    last = len(gts) - 1
    j_flow = _iou(flow[last] == 2, gts[last] == 2)
    j_static = _iou(static[last] == 2, gts[last] == 2)
    assert j_flow > 0.6 and j_flow > j_static + 0.4, (j_flow, j_static)
    # id 7 appears at frame 4: nothing before, tracked from then on
    assert not (flow[3] == 7).any() and _iou(flow[4] == 7, gts[4] == 7) == 1.0
    assert _iou(flow[last] == 7, gts[last] == 7) > 0.8  # it does not move: flow must keep it
    checked, _ = _run_in_memory("flow", {"occlusion_check": True})
    assert _iou(checked[last] == 2, gts[last] == 2) > 0.6
    assert not (flow[0] == 255).any()  # void is never an object


def test_flow_rejects_an_unknown_preset():
    from m3vos.errors import BadInputError
    from m3vos.trackers.flow import FlowTracker

    with pytest.raises(BadInputError, match="unknown preset"):
        FlowTracker(config={"preset": "turbo"})
    FlowTracker(config={"preset": "ultrafast"})


def test_revos_wrapper_form_resolves_through_the_registry():
    from m3vos.trackers.base import Tracker
    from m3vos.trackers.flow import FlowTracker
    from m3vos.trackers.registry import find_spec, get_tracker

    assert find_spec("revos:flow").source == "wrapper"
    cls = get_tracker("revos:flow")
    assert issubclass(cls, Tracker) and cls is not FlowTracker
    assert cls.capabilities.offline, "the reverse wrapper re-emits earlier frames"
