"""`m3vos report`: figures, HTML, markdown and the contact sheet on scored synthetic data."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest
from PIL import Image

from helpers_analysis import scored_synth


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return scored_synth(tmp_path_factory.mktemp("synth_report"), videos=3, frames=8)


def _real_png(path):
    assert path.is_file() and path.stat().st_size > 2000, path
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"), dtype=float)
    assert a.std() > 5, f"{path.name} looks blank"


def test_report_of_two_runs_through_the_cli(synth, cli, tmp_path):
    data, runs = synth
    out = tmp_path / "rep"
    proc = cli("report", runs["static"], runs["shift"], "--out", out, "--worst", "3", check=0)
    assert "J-Mean per group" in proc.stdout and "static" in proc.stdout and "shift" in proc.stdout
    for name in ("j_per_group", "j_per_transition", "j_vs_size", "j_vs_velocity", "j_over_time_worst",
                 "entropy_over_time", "worst_objects"):
        _real_png(out / f"{name}.png")
    with Image.open(out / "worst_objects.png") as im:
        # 3 objects x 3 frames rows; image, GT and one column per run
        assert im.size[0] > 4 * 100 and im.size[1] > 9 * 80
    page = (out / "report.html").read_text()
    imgs = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(imgs) >= 6 and all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in imgs)
    assert "src=\"http" not in page and "<th onclick" in page       # self-contained, sortable
    md = (out / "report.md").read_text()
    assert "## group" in md and "| value | static objects | static J-Mean | static 95% CI | shift objects |" in md
    assert (out / "objects-static.csv").read_text().startswith("key,video,object_id")


def test_report_bad_input(cli, tmp_path):
    proc = cli("report", tmp_path, check=2)
    assert proc.stderr.startswith("error:") and "results.json" in proc.stderr


def test_write_report_library_call_as_the_demo_makes_it(synth, tmp_path):
    from pathlib import Path

    from m3vos.analysis.report import write_report
    from m3vos.data.dataset import open_dataset

    data, runs = synth
    rep = write_report([runs["static"]], tmp_path / "r", dataset=open_dataset(data), entropy=False, worst=2)
    assert Path(rep) == tmp_path / "r" / "report.html" and Path(rep).stat().st_size > 10_000
    groups = {r["value"]: r for r in rep.breakdowns["group"]["static"]}
    assert sum(r["n_objects"] for r in groups.values()) == int(rep.summary.at[0, "objects"])
    assert len(rep.worst["static"]) == 2


def test_report_when_the_dataset_has_moved(synth, cli, tmp_path):
    import json

    from helpers_analysis import write_results

    _, runs = synth
    doc = json.loads((runs["static"] / "results.json").read_text())
    doc["dataset"]["root"] = str(tmp_path / "gone")
    res = write_results(tmp_path / "moved", doc)
    proc = cli("report", res, "--format", "md", check=0)   # default folder: RESULTS/report/, md only
    assert "note: dataset not found" in proc.stderr
    md = (res / "report" / "report.md").read_text()
    assert "(not in dataset)" in md and "## Notes" in md
    assert not (res / "report" / "report.html").exists()
    _real_png(res / "report" / "j_per_group.png")
