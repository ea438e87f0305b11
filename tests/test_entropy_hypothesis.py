"""The entropy hypothesis report: paired statistics, several datasets, and --format csv|md."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import run_cli
from m3vos.analysis.paired import mean_ci, paired
from m3vos.data.synth import make_synthetic_dataset


@pytest.fixture(scope="module")
def two_roots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("ent")
    hf = make_synthetic_dataset(base / "m3", videos=4, frames=8, height=48, width=64)
    davis = make_synthetic_dataset(base / "dv", videos=3, frames=8, height=48, width=64, seed=5, layout="davis")
    return hf, davis


def test_paired_statistics_by_hand() -> None:
    from scipy import stats

    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    b = np.array([1.5, 2.0, 3.9, 4.1, 6.0, 6.2])
    videos = ["v1", "v1", "v2", "v3", "v3", "v4"]
    p = paired(a, b, videos)
    assert p.diff == pytest.approx((b - a).mean()) and p.n == 6 and p.n_videos == 4
    per_video = [np.mean([0.5, 0.0]), 0.9, np.mean([0.1, 1.0]), 0.2]
    assert p.p_value == pytest.approx(stats.ttest_rel(per_video, np.zeros(4)).pvalue, rel=1e-9)
    assert p.ci_low <= p.diff <= p.ci_high and p.ci_low >= 0.0    # every per-video difference is >= 0
    # NaNs drop the unit from both sides
    q = paired([1.0, np.nan, 2.0], [2.0, 5.0, 2.5], ["a", "b", "c"])
    assert q.n == 2 and q.diff == pytest.approx(0.75)
    m = mean_ci([0.2, 0.4, 0.6], ["x", "y", "z"])
    assert m.mean == pytest.approx(0.4) and 0.2 <= m.ci_low <= m.mean <= m.ci_high <= 0.6


def test_format_csv_and_md_print_the_hypothesis_table(two_roots: tuple[Path, Path], tmp_path: Path) -> None:
    """Issue 13 item 18: --format csv|md used to be accepted and ignored (a rich table was printed)."""
    hf, _ = two_roots
    proc = run_cli("entropy-report", hf, "--max-frames", "6", "--workers", "1", "--out", tmp_path / "a",
                   "--format", "csv", check=0)
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows and set(rows[0]) >= {"dataset", "group", "n", "first_half", "latter_half", "change", "ci_low",
                                     "ci_high", "p_value"}
    groups = [r["group"] for r in rows]
    assert groups[0] == "all" and set(groups[1:]) <= {"IS", "IL", "IG", "CP", "(unlabelled)"} and len(groups) > 1
    # the csv on stdout is the file written beside the other outputs
    assert proc.stdout == (tmp_path / "a" / "hypothesis.csv").read_text()
    # per-video row: the mean of per_video.csv's change column
    pv = list(csv.DictReader((tmp_path / "a" / "per_video.csv").open()))
    changes = [float(r["change"]) for r in pv if r["change"]]
    assert float(rows[0]["change"]) == pytest.approx(np.mean(changes), abs=1e-9)
    md = run_cli("entropy-report", hf, "--max-frames", "6", "--workers", "1", "--out", tmp_path / "b",
                 "--format", "md", check=0).stdout.splitlines()
    assert md[0].startswith("| dataset | benchmark | group |") and md[1].startswith("|---")
    assert len(md) == 2 + len(rows)


def test_two_datasets_in_one_report(two_roots: tuple[Path, Path], tmp_path: Path) -> None:
    hf, davis = two_roots
    out = tmp_path / "both"
    proc = run_cli("entropy-report", hf, davis, "--dataset", "m3vos", "--dataset", "davis2017",
                   "--max-frames", "6", "--workers", "1", "--out", out, "--format", "json", check=0)
    doc = json.loads(proc.stdout)
    labels = {r["dataset"] for r in doc["hypothesis"]}
    assert labels == {"m3vos:m3", "davis2017:dv"}
    davis_rows = [r for r in doc["hypothesis"] if r["dataset"] == "davis2017:dv"]
    assert [r["group"] for r in davis_rows] == ["all"] and davis_rows[0]["n"] == 3   # DAVIS has no groups
    for sub in ("m3vos-m3", "davis2017-dv"):
        assert (out / sub / "per_video.csv").is_file()
    for f in ("hypothesis.csv", "hypothesis.md", "hypothesis.json", "entropy_hypothesis.png", "entropy_over_time.png"):
        assert (out / f).is_file(), f
    assert (out / "entropy_hypothesis.png").read_bytes()[:4] == b"\x89PNG"
    bad = run_cli("entropy-report", hf, davis, "--dataset", "m3vos", "--dataset", "davis2017", "--dataset", "vost",
                  "--out", tmp_path / "x")
    assert bad.returncode == 2 and "--dataset" in bad.stderr
