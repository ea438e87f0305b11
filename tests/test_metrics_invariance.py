"""Scoring invariants on our own synthetic set (no ../shared needed): the numbers do not depend
on the number of workers or the order of the videos, and a killed scoring leaves neither results
nor worker processes behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers_analysis import write_predictions
from helpers_score import Reordered
from m3vos.data.dataset import open_dataset
from m3vos.metrics import score_predictions


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> tuple[Path, Path]:
    """A synthetic set large enough that scoring it takes a moment, and predictions for it
    (the ground truth moved by 2 px)."""
    from m3vos.data.synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("invariance")
    data = make_synthetic_dataset(root / "ds", videos=6, frames=30, height=120, width=160)
    preds = write_predictions(open_dataset(data), root / "preds", "shift")
    return data, preds


@pytest.fixture(scope="module")
def scores(synth: tuple[Path, Path]) -> dict:
    data, preds = synth
    ds = open_dataset(data)
    reordered = Reordered(ds)
    assert reordered.video_names != ds.video_names
    return {"m3vos": score_predictions(preds, ds, protocol="m3vos", workers=2),
            # one worker and the reverse order: neither may change a number
            "greedy": score_predictions(preds, reordered, protocol="m3vos", jcc="greedy", workers=1)}


def test_results_do_not_depend_on_workers_or_video_order(scores: dict) -> None:
    # "greedy" ran with 1 worker over the reversed set, "m3vos" with 2 in set order; all but
    # J_cc (which the two variants define differently) must be identical, bit for bit.
    fast, slow = scores["m3vos"], scores["greedy"]
    same = [m for m in fast.metrics if m != "J_cc-Mean"]
    assert sorted(slow.per_object) == sorted(fast.per_object)
    for key, obj in fast.per_object.items():
        assert {m: obj[m] for m in same} == {m: slow.per_object[key][m] for m in same}, key
    assert {m: fast.global_metrics[m] for m in same} == {m: slow.global_metrics[m] for m in same}
    a, b = fast.to_dict()["per_frame"], slow.to_dict()["per_frame"]
    assert all(a[k]["J"] == b[k]["J"] and a[k]["F"] == b[k]["F"] for k in a)


def test_killed_run_leaves_no_results_and_no_workers(synth: tuple[Path, Path], tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    out.mkdir()
    (out / "results.json").write_text("{}")  # an earlier run's file is moved aside, not kept nor lost
    data, preds = synth
    proc = subprocess.Popen([sys.executable, "-m", "m3vos_cli", "score", str(preds),
                             "--data", str(data), "--out", str(out), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not _children(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "the scorer never started its workers"
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=60)
    assert rc != 0
    assert "Traceback" not in proc.stderr.read()
    assert [p.name for p in out.iterdir()] == [".m3vos"]
    assert (out / ".m3vos" / "previous-results" / "results.json").read_text() == "{}"
    time.sleep(0.5)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}") and _state(p) != "Z"]


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
