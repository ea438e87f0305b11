"""Leaderboard: common objects, bootstrap intervals, paired differences, and the CI gate."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from helpers_analysis import results_doc, write_results


def _runs(tmp_path):
    rng = np.random.default_rng(0)
    keys = [f"v{v}_{k}" for v in range(8) for k in (1, 2)]
    base = {k: float(x) for k, x in zip(keys, rng.uniform(0.4, 0.9, len(keys)))}
    good = {k: {"J-Mean": v + 0.05, "J_cc-Mean": v} for k, v in base.items()}
    bad = {k: {"J-Mean": v - 0.10, "J_cc-Mean": v - 0.2} for k, v in base.items()}
    old = {k: {"J-Mean": v + 0.052, "J_cc-Mean": v} for k, v in base.items()}
    del bad["v7_2"]                                    # one object less: dropped from the others
    good["extra_1"] = {"J-Mean": 0.0, "J_cc-Mean": 0.0}  # scored only here
    return (write_results(tmp_path / "good", results_doc(good)), write_results(tmp_path / "bad", results_doc(bad)),
            write_results(tmp_path / "old", results_doc(old)))


def test_ranks_on_common_objects_with_paired_differences(tmp_path):
    from m3vos.analysis.leaderboard import build_leaderboard

    good, bad, _ = _runs(tmp_path)
    board = build_leaderboard([bad, good], metric="J-Mean", n_boot=500)
    assert [e.name for e in board.entries] == ["good", "bad"]
    assert board.n_common == 15 and board.n_videos == 8
    g, b = board.entry("good"), board.entry("bad")
    assert (g.n_dropped, b.n_dropped) == (2, 0)           # extra_1 and v7_2 left out of "good"
    common = json.loads((bad / "results.json").read_text())["per_object"]
    gdoc = json.loads((good / "results.json").read_text())["per_object"]
    assert g.mean == pytest.approx(np.mean([gdoc[k]["J-Mean"] for k in common]))
    assert b.diff == pytest.approx(-0.15)                 # a constant shift is exactly paired
    assert b.diff_low == pytest.approx(-0.15) and b.diff_high == pytest.approx(-0.15)
    assert g.ci_low < g.mean < g.ci_high
    again = build_leaderboard([bad, good], metric="J-Mean", n_boot=500)
    assert (again.entry("good").ci_low, again.entry("good").ci_high) == (g.ci_low, g.ci_high)  # fixed seed
    md = board.to_markdown()
    assert "| 1 | good |" in md and "15 objects in 8 videos" in md
    rows = list(csv.DictReader(io.StringIO(board.to_csv())))
    assert rows[0]["name"] == "good" and rows[1]["n_dropped"] == "0"
    assert json.loads(board.to_json())["entries"][1]["name"] == "bad"
    from rich.console import Console

    for width, shown in ((80, f"{g.mean:.3f} [{g.ci_low:.3f}, {g.ci_high:.3f}]"), (160, f"{g.mean:.4f}")):
        con = Console(width=width, record=True, file=io.StringIO())   # compact when narrow: nothing cut
        con.print(board.to_rich(width=width))
        text = con.export_text()
        assert "…" not in text and shown in text


def test_gate_passes_and_fails_through_the_cli(tmp_path, cli):
    good, bad, old = _runs(tmp_path)
    proc = cli("leaderboard", good, bad, "--fail-under", "J-Mean=0.3", "--n-boot", "200", check=0)
    assert "good" in proc.stdout and "dropped" in proc.stdout
    proc = cli("leaderboard", good, bad, "--fail-under", "J-Mean=0.6", "--fail-under", "J_cc-Mean=60%",
               "--n-boot", "200", check=1)
    fails = [l for l in proc.stderr.splitlines() if l.startswith("gate failed:")]
    assert any(l.startswith("gate failed: bad: J-Mean") for l in fails)
    assert any("J_cc-Mean" in l for l in fails) and not any("good: J-Mean" in l for l in fails)
    # regression gate against a baseline: good is 0.002 below old (passes 0.01), bad 0.152 below
    proc = cli("leaderboard", good, "--baseline", old / "results.json", "--max-drop", "0.01", "--format", "md",
               "--n-boot", "200", check=0)
    assert proc.stdout.startswith("### Leaderboard: J-Mean") and "| base | old |" in proc.stdout
    proc = cli("leaderboard", bad, "--baseline", old, "--max-drop", "0.01", "--format", "json",
               "--n-boot", "200", check=1)
    assert json.loads(proc.stdout)["reference"] == "old"
    assert "gate failed: bad: J-Mean dropped 0.1520 against old" in proc.stderr
    summary = tmp_path / "summary.csv"          # --out FILE.csv: that one format, whatever --format prints
    cli("leaderboard", good, bad, "--format", "md", "--out", summary, "--n-boot", "200", check=0)
    assert summary.read_text().startswith("rank,name,")


def test_bad_input_exits_2_with_one_line(tmp_path, cli):
    good, bad, _ = _runs(tmp_path)
    for args in [(tmp_path / "nope",), (good, "--metric", "Q-Mean"), (good, "--max-drop", "0.01"),
                 (good, "--fail-under", "J-Mean")]:
        proc = cli("leaderboard", *args, check=2)
        assert proc.stderr.startswith("error:") and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    other = write_results(tmp_path / "other", results_doc({"zz_1": {"J-Mean": 0.5}}))
    proc = cli("leaderboard", good, other, check=2)
    assert "share no scored object" in proc.stderr
