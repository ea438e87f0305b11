"""Renamed flags (docs/cli.md, issue 15): the new spelling works, and the old one still does, for
one release, with the same result; the old one no longer appears in `--help`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers_analysis import scored_synth
from m3vos_cli.common import rewrite_aliases


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    return scored_synth(tmp_path_factory.mktemp("aliases"), videos=3, frames=8)


def _global(proc) -> dict:   # type: ignore[no-untyped-def]
    return json.loads(proc.stdout)["global"]


def test_score_split_and_old_set_give_the_same_numbers(cli, synth, tmp_path: Path) -> None:
    data, runs = synth
    new = cli("score", runs["static"], "--data", data, "--split", "val", "-j", "1", "--out", tmp_path / "a",
              "--format", "json", check=0)
    old = cli("score", runs["static"], "--data", data, "--set=val", "--workers", "1", "--out", tmp_path / "b",
              "--format", "json", check=0)
    assert _global(new) == _global(old)
    bad = cli("score", runs["static"], "--data", data, "--set", "test", "--out", tmp_path / "c")
    assert bad.returncode == 2 and "test" in bad.stderr      # the alias reaches --split


def test_leaderboard_metric_and_old_short_m(cli, synth) -> None:
    _, runs = synth
    args = [runs["static"], runs["shift"], "--format", "json", "--n-boot", "100"]
    new = json.loads(cli("leaderboard", *args, "--metric", "J-Decay", check=0).stdout)
    old = json.loads(cli("leaderboard", *args, "-m", "J-Decay", check=0).stdout)
    assert new == old and new["metric"] == "J-Decay"


def test_report_format_and_old_md_html(cli, synth, tmp_path: Path) -> None:
    _, runs = synth
    cli("report", runs["static"], "--out", tmp_path / "new", "--format", "md", "--no-entropy", check=0)
    cli("report", runs["static"], "--out", tmp_path / "old", "--md", "--no-entropy", check=0)
    names = {p.name for p in (tmp_path / "new").iterdir()}
    assert "report.md" in names and "report.html" not in names
    assert names == {p.name for p in (tmp_path / "old").iterdir()}
    cli("report", runs["static"], "--out", tmp_path / "both", "--html", "--md", "--no-entropy", check=0)
    assert {"report.md", "report.html"} <= {p.name for p in (tmp_path / "both").iterdir()}


def test_run_workers_j_and_old_w_and_json(cli, synth, tmp_path: Path) -> None:
    data, _ = synth
    new = json.loads(cli("run", "--model", "static", "--data", data, "--out", tmp_path / "new", "-j", "1",
                         "--format", "json", check=0).stdout)
    old = json.loads(cli("run", "--model", "static", "--data", data, "--out", tmp_path / "old", "-w", "1",
                         "--json", check=0).stdout)
    assert len(new["done"]) == len(old["done"]) == 3
    assert json.loads((tmp_path / "old" / "run.json").read_text())["executor"]["devices"] == ["cpu"]


def test_trackers_list_format_json_and_old_json(cli) -> None:
    new = json.loads(cli("trackers", "list", "--format", "json", check=0).stdout)
    old = json.loads(cli("trackers", "list", "--json", check=0).stdout)
    assert [r["name"] for r in new] == [r["name"] for r in old] and "static" in [r["name"] for r in new]
    csv = cli("trackers", "list", "--format", "csv", check=0).stdout.splitlines()
    assert csv[0].startswith("name,") and any(line.startswith("static,") for line in csv)


def test_rewrite_is_per_command_and_stops_at_double_dash() -> None:
    # `dev replay`: -w/-v were --weights/--variant; before the command -v stays the global --verbose
    assert rewrite_aliases(["-v", "dev", "replay", "r.npz", "-w", "w.pth", "-v", "a"]) == \
        ["-v", "dev", "replay", "r.npz", "--weights", "w.pth", "--variant", "a"]
    assert rewrite_aliases(["run", "-w4", "--json"]) == ["run", "--workers=4", "--format=json"]
    assert rewrite_aliases(["score", "p", "--", "--set"]) == ["score", "p", "--", "--set"]
    assert rewrite_aliases(["data", "verify", "-w", "x"]) == ["data", "verify", "-w", "x"]    # not ours
    assert rewrite_aliases(["sweep", "-o", "x", "-w", "2"]) == ["sweep", "-o", "x", "--workers", "2"]


def test_quiet_silences_notes_not_results(cli, synth, tmp_path: Path) -> None:
    """`-q` (docs/cli.md): no progress and no `note:` lines; the results and warnings stay."""
    from helpers_analysis import write_results

    _, runs = synth
    doc = json.loads((runs["static"] / "results.json").read_text())
    doc["dataset"]["root"] = str(tmp_path / "gone")        # the report notes that the dataset moved
    res = write_results(tmp_path / "moved", doc)
    loud = cli("report", res, "--format", "md", "--no-entropy", "--out", tmp_path / "a", check=0)
    quiet = cli("-q", "report", res, "--format", "md", "--no-entropy", "--out", tmp_path / "b", check=0)
    assert "note: dataset not found" in loud.stderr
    assert "note:" not in quiet.stderr and "report:" in quiet.stdout
    assert (tmp_path / "b" / "report.md").is_file()
