"""`m3vos demo`: the README's first command works end to end in a fresh folder."""

from __future__ import annotations

import json


def test_demo_runs_scores_ranks_reports_and_says_what_next(cli, tmp_path):
    proc = cli("demo", "--videos", "3", "--frames", "10", cwd=tmp_path, check=0, timeout=300)
    demo = tmp_path / "m3vos-demo"
    for model in ("static", "flow"):
        results = json.loads((demo / "preds" / model / "results.json").read_text())
        assert 0.0 <= results["global"]["J-Mean"] <= 1.0
        assert json.loads((demo / "preds" / model / "run.json").read_text())["status"] == "complete"
    board = (demo / "leaderboard.md").read_text()
    assert "flow" in board and "static" in board
    text = " ".join(proc.stdout.split())
    assert "Leaderboard" in text and "Next, on the real M3-VOS data" in text and "m3vos run --model" in text
    # the analysis report itself (a fallback summary would not have these): both trackers drawn
    html = (demo / "report" / "report.html").read_text()
    md = (demo / "report" / "report.md").read_text()
    assert "flow" in html and "static" in html and "flow" in md and "static" in md
    assert not (demo / "report.md").exists(), "the demo wrote a fallback summary, not the report"
    # a second demo in the same folder starts over cleanly
    cli("demo", "--videos", "2", "--frames", "6", cwd=tmp_path, check=0, timeout=300)
    assert len(json.loads((demo / "preds" / "flow" / "results.json").read_text())["per_sequence"]) == 2
