"""The results contract through the CLI: validation of every value, comparable-or-refused runs,
metric directions, percent gates, table exports (LaTeX shape), provenance and random weights."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from helpers_analysis import results_doc, write_predictions, write_results


def _one_line_error(proc, code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    err = proc.stderr.strip()
    assert "Traceback" not in err and err.startswith("error: ") and "\n" not in err, err
    return err


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """A synthetic dataset and two real prediction folders (static: weak, shift: good), unscored."""
    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset

    root = tmp_path_factory.mktemp("contract")
    data = make_synthetic_dataset(root / "ds", videos=3, frames=8, seed=3)
    ds = open_dataset(data)
    preds = {kind: write_predictions(ds, root / kind, kind) for kind in ("static", "shift")}
    return data, preds


def _copy_preds(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.json", "*.csv", "report*"))
    return dst


# --- validation of values -------------------------------------------------------------------------

def _doc_with(value_json: str) -> str:
    doc = results_doc({"v1_1": {"J-Mean": 0.5}, "v1_2": {"J-Mean": 0.25}, "v2_1": {"J-Mean": 0.75}})
    text = json.dumps(doc)
    return text.replace('"J-Mean": 0.25', f'"J-Mean": {value_json}', 1)


@pytest.mark.parametrize("value,needle", [
    ("NaN", "NaN"), ("Infinity", "Infinity"), ('"0.25"', "not a number"), ("50.0", "percent"),
    ("-3", "outside"), ("true", "not a number")])
def test_leaderboard_refuses_bad_values_naming_file_object_and_key(cli, tmp_path, value, needle):
    good = write_results(tmp_path / "good", results_doc({"v1_1": {"J-Mean": 0.5}, "v1_2": {"J-Mean": 0.4},
                                                         "v2_1": {"J-Mean": 0.7}}))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "results.json").write_text(_doc_with(value))
    calls = [("leaderboard", good, bad)]
    if value == "Infinity":      # the JSON output and the baseline path read through the same contract
        calls += [("leaderboard", good, bad, "--format", "json"),
                  ("leaderboard", good, "--baseline", bad, "--max-drop", "0.1")]
    for args in calls:
        err = _one_line_error(cli(*args))
        assert str(bad / "results.json") in err and "v1_2" in err and "J-Mean" in err and needle in err, err


def test_null_is_an_undefined_value_counted_as_dropped_not_silently(cli, tmp_path):
    a = write_results(tmp_path / "a", results_doc({"v1_1": {"J-Mean": 0.5}, "v1_2": {"J-Mean": 0.4},
                                                   "v2_1": {"J-Mean": 0.7}}))
    doc = results_doc({"v1_1": {"J-Mean": 0.6}, "v1_2": {"J-Mean": 0.0}, "v2_1": {"J-Mean": 0.8}})
    doc["per_object"]["v1_2"]["J-Mean"] = None
    doc["per_object"]["v1_2"]["null_reasons"] = {"J-Mean": "no scored frame"}
    b = write_results(tmp_path / "b", doc)
    proc = cli("leaderboard", a, b, "--format", "json", "--n-boot", "200", check=0)
    board = json.loads(proc.stdout)
    assert board["n_common_objects"] == 2
    assert {e["name"]: e["n_dropped"] for e in board["entries"]} == {"a": 1, "b": 1}
    assert any("undefined" in n for n in board["notes"])
    assert board["entries"][0]["mean"] == pytest.approx(0.7)    # b on v1_1, v2_1: (0.6 + 0.8) / 2


# --- comparable or refused -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def scored_variants(synth, tmp_path_factory):
    """The same predictions scored through `m3vos score` under different settings and data."""
    from conftest import run_cli

    data, preds = synth
    root = tmp_path_factory.mktemp("variants")
    out = {}
    for name, args in (("default", ()), ("options", ("--jcc", "greedy", "--void-aware", "--compat-decay")),
                       ("davis", ("--protocol", "davis"))):
        folder = _copy_preds(preds["shift"], root / name)
        run_cli("score", folder, "--data", data, "--workers", "1", *args, check=0)
        out[name] = folder
    # another dataset: same video names, one annotation frame changed
    other = root / "other_ds"
    shutil.copytree(data, other)
    from m3vos.data.dataset import open_dataset
    from m3vos.data.masks import read_mask, write_mask

    video = open_dataset(other).video(open_dataset(other).video_names[0])
    mid = video.mask_paths[len(video.mask_paths) // 2]
    write_mask(mid, np.roll(read_mask(mid), 5, axis=0))
    folder = _copy_preds(preds["shift"], root / "otherdata")
    run_cli("score", folder, "--data", other, "--workers", "1", check=0)
    out["otherdata"] = folder
    folder = _copy_preds(preds["static"], root / "static")
    run_cli("score", folder, "--data", data, "--workers", "1", check=0)
    out["static"] = folder
    return out


@pytest.mark.parametrize("other,field", [("options", "option jcc (hungarian vs greedy)"),
                                         ("davis", "protocol (m3vos vs davis)"),
                                         ("otherdata", "dataset fingerprint")])
def test_mixed_runs_are_refused_and_allow_mixed_marks_them(cli, scored_variants, other, field):
    a, b = scored_variants["default"], scored_variants[other]
    metric = "J-Mean"
    err = _one_line_error(cli("leaderboard", a, b, "--metric", metric))
    assert "default" in err and other in err and field in err, err
    # the gate too: a baseline scored differently is refused
    err = _one_line_error(cli("leaderboard", a, "--baseline", b, "--max-drop", "0.01"))
    assert field in err
    proc = cli("leaderboard", a, b, "--metric", metric, "--allow-mixed", "--format", "md", "--n-boot", "200", check=0)
    assert "WARNING: MIXED" in proc.stderr
    rows = [line for line in proc.stdout.splitlines() if line.startswith("| 1 ") or line.startswith("| 2 ")]
    assert len(rows) == 2 and all("MIXED" in r for r in rows)
    assert "MIXED" in json.loads(cli("leaderboard", a, b, "--allow-mixed", "--format", "json",
                                     "--n-boot", "200", check=0).stdout)["entries"][0]["flags"]


def test_report_refuses_mixed_runs_and_keeps_single_run_reports(cli, scored_variants, tmp_path):
    a, b = scored_variants["default"], scored_variants["static"]
    err = _one_line_error(cli("report", a, scored_variants["davis"], "--format", "md", "--no-entropy"))
    assert "protocol" in err
    cli("report", a, "--format", "md", "--no-entropy", check=0)
    single = (a / "report" / "report.md").read_text()
    proc = cli("report", a, b, "--format", "md", "--no-entropy", check=0)
    assert (a / "report" / "report.md").read_text() == single       # untouched
    multi = (a / "report-vs-static" / "report.md").read_text()
    assert "report: shift" not in multi and "default, static" in multi
    # an explicit --out holding another run set's report is not overwritten
    err = _one_line_error(cli("report", a, b, "--out", a / "report", "--format", "md", "--no-entropy"))
    assert "other runs" in err
    # provenance and uncertainty
    assert "## Provenance" in multi
    prov = multi.split("## Provenance")[1].split("\n\n")[1]
    for col in ("protocol", "options", "jcc", "m3vos_version", "dataset", "tracker", "config", "weights",
                "scored_at"):
        assert f" {col} " in prov.splitlines()[0], col
    doc = json.loads((a / "results.json").read_text())
    assert doc["dataset"]["fingerprint"]["sha256"][:12] in prov
    group = multi.split("## group")[1].split("## ")[0]
    header = [c.strip() for c in group.splitlines()[4].strip("|").split("|")]
    assert header[:4] == ["value", "default objects", "default J-Mean", "default 95% CI"] and header[-1] == "n<3"
    for line in group.splitlines()[6:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        n, mean, ci = int(cells[1]), float(cells[2]), cells[3]
        lo, hi = map(float, re.match(r"\[(.+), (.+)\]", ci).groups())
        assert lo - 1e-9 <= mean <= hi + 1e-9
        assert (cells[-1] == "yes") == (n < 3)
    assert "report:" in proc.stdout


# --- directions, gates, percent ----------------------------------------------------------------------

def _decay_runs(tmp_path):
    keys = [f"v{v}_1" for v in range(6)]
    steady = {k: {"J-Mean": 0.6, "J-Decay": 0.05, "F-Mean": 0.7} for k in keys}
    fading = {k: {"J-Mean": 0.6, "J-Decay": 0.30, "F-Mean": 0.4} for k in keys}
    return (write_results(tmp_path / "steady", results_doc(steady)),
            write_results(tmp_path / "fading", results_doc(fading)))


def test_decay_ranks_lower_first_and_gates_in_its_direction(cli, tmp_path):
    steady, fading = _decay_runs(tmp_path)
    board = json.loads(cli("leaderboard", fading, steady, "--metric", "J-Decay", "--format", "json",
                           "--n-boot", "200", check=0).stdout)
    assert [e["name"] for e in board["entries"]] == ["steady", "fading"] and board["direction"] == "lower"
    # fading's decay rose 0.25 above the baseline: worse, beyond --max-drop
    proc = cli("leaderboard", fading, "--baseline", steady, "--metric", "J-Decay", "--max-drop", "0.1",
               "--n-boot", "200", check=1)
    assert "gate failed: fading: J-Decay rose" in proc.stderr and "0.2500" in proc.stderr
    cli("leaderboard", steady, "--baseline", fading, "--metric", "J-Decay", "--max-drop", "0.1", "--n-boot", "200",
        check=0)
    err = _one_line_error(cli("leaderboard", steady, "--fail-under", "J-Decay=0.1"))
    assert "--fail-over J-Decay=0.1" in err
    proc = cli("leaderboard", steady, fading, "--fail-over", "J-Decay=10%", "--n-boot", "200", check=1)
    assert "gate failed: fading: J-Decay = 0.3000 is above 0.1" in proc.stderr and "steady: J-Decay" not in proc.stderr
    # a metric that is not displayed is still gated (F-Mean is no side column here)
    proc = cli("leaderboard", steady, fading, "--fail-under", "F-Mean=0.5", "--n-boot", "200", check=1)
    assert "gate failed: fading: F-Mean = 0.4000 is below 0.5" in proc.stderr


def test_percent_gates_and_percent_tables(cli, tmp_path):
    steady, fading = _decay_runs(tmp_path)
    err = _one_line_error(cli("leaderboard", steady, "--fail-under", "J-Mean=70"))
    assert "J-Mean=70%" in err and "0.7" in err
    cli("leaderboard", steady, "--fail-under", "J-Mean=55%", "--n-boot", "200", check=0)
    proc = cli("leaderboard", steady, "--fail-under", "J-Mean=70%", "--n-boot", "200", check=1)
    assert "J-Mean = 0.6000 is below 0.7" in proc.stderr
    md = cli("leaderboard", steady, fading, "--metric", "F-Mean", "--percent", "--format", "md", "--n-boot", "200",
             check=0).stdout
    assert "| 1 | steady | 70.0 |" in md and "(percent)" in md
    js = json.loads(cli("leaderboard", steady, fading, "--metric", "F-Mean", "--percent", "--format", "json",
                        "--n-boot", "200", check=0).stdout)
    assert js["entries"][0]["mean"] == pytest.approx(0.7) and js["units"] == "fractions"


# --- exports -------------------------------------------------------------------------------------

def test_leaderboard_out_dir_writes_four_formats_and_a_well_formed_latex_table(cli, tmp_path):
    rng = np.random.default_rng(1)
    keys = [f"v{v}_{k}" for v in range(5) for k in (1, 2)]
    runs = []
    for i, name in enumerate(("alpha_run", "beta&co", "gamma")):
        per = {k: {"J-Mean": float(rng.uniform(0.3, 0.5) + 0.1 * i), "J-Decay": float(rng.uniform(0, 0.2))}
               for k in keys}
        runs.append(write_results(tmp_path / f"r{i}", results_doc(per)))
    out = tmp_path / "paper"
    proc = cli("leaderboard", *runs, "--name", f"{runs[0]}=alpha_run", "--name", f"{runs[1]}=beta&co",
               "--show", "J-Decay", "--out", out, "--n-boot", "200", check=0)
    assert sorted(p.name for p in out.iterdir()) == ["leaderboard.csv", "leaderboard.json", "leaderboard.md",
                                                     "leaderboard.tex"]
    assert "written:" in proc.stderr
    tex = (out / "leaderboard.tex").read_text()
    body = tex[tex.index(r"\begin{tabular}"):tex.index(r"\end{tabular}")]
    for env in ("table", "tabular"):
        assert tex.count(rf"\begin{{{env}}}") == tex.count(rf"\end{{{env}}}") == 1
    assert tex.index(r"\toprule") < tex.index(r"\midrule") < tex.index(r"\bottomrule")
    ncols = len(re.match(r"\\begin\{tabular\}\{([lrc]+)\}", body).group(1))
    rows = [line for line in body.splitlines() if line.endswith(r"\\")]
    assert len(rows) == 1 + 3                                       # header + one row per run
    for line in rows:
        assert len(re.split(r"(?<!\\)&", line)) == ncols, line       # balanced cells
        assert line.count("{") == line.count("}")
    assert r"beta\&co" in tex and r"alpha\_run" in tex
    docs = [json.loads((r / "results.json").read_text()) for r in runs]
    means = {n: np.mean([e["J-Mean"] for e in d["per_object"].values()]) for n, d in
             zip(("alpha_run", "beta&co", "r2"), docs)}
    decays = {n: np.mean([e["J-Decay"] for e in d["per_object"].values()]) for n, d in
              zip(("alpha_run", "beta&co", "r2"), docs)}
    best_j, best_d = max(means, key=means.get), min(decays, key=decays.get)
    by_name = {re.split(r"(?<!\\)&", r)[1].strip(): r for r in rows[1:]}
    tex_name = {"alpha_run": r"alpha\_run", "beta&co": r"beta\&co", "r2": "r2"}
    # bold: the highest J-Mean and the LOWEST J-Decay, nothing else
    assert rf"\textbf{{{means[best_j]:.4f}}}" in by_name[tex_name[best_j]]
    assert rf"\textbf{{{decays[best_d]:.4f}}}" in by_name[tex_name[best_d]]
    assert sum(line.count(r"\textbf") for line in rows[1:]) == 2
    table = list(csv.DictReader(io.StringIO((out / "leaderboard.csv").read_text())))
    assert [r["name"] for r in table] == [n for n, _ in sorted(means.items(), key=lambda x: -x[1])]
    assert {"protocol", "dataset", "weights", "scored_at"} <= set(table[0])
    assert json.loads((out / "leaderboard.json").read_text())["entries"][0]["provenance"]["protocol"] == "m3vos"
    no_ci = cli("leaderboard", *runs, "--format", "tex", "--no-ci", "--n-boot", "200", check=0).stdout
    assert r"\scriptsize" not in no_ci and r"\scriptsize" in tex


def test_leaderboard_out_on_a_bad_folder_is_an_environment_error(cli, tmp_path):
    steady, fading = _decay_runs(tmp_path)
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for out in (blocker, blocker / "sub"):
        err = _one_line_error(cli("leaderboard", steady, fading, "--out", out), code=3)
        assert str(blocker) in err


def test_export_api_directly():
    import pandas as pd

    from m3vos.analysis.export import TableStyle, render_table

    df = pd.DataFrame({"run": ["a", "b"], "J-Mean": [0.5, 0.75], "J-Decay": [0.1, 0.2],
                       "lo": [0.4, 0.7], "hi": [0.6, 0.8]})
    style = TableStyle(directions={"J-Mean": "higher", "J-Decay": "lower"}, ci={"J-Mean": ("lo", "hi")},
                       percent=True)
    md = render_table(df, "md", style)
    assert "| b | **75.0** [70.0, 80.0] | 20.0 |" in md and "| a | 50.0 [40.0, 60.0] | **10.0** |" in md
    assert json.loads(render_table(df, "json", style))["rows"][1]["J-Mean"] == 0.75
    assert render_table(df, "csv", style).splitlines()[0] == "run,J-Mean,J-Decay,lo,hi"


# --- provenance, random weights, several PREDS ----------------------------------------------------------

def test_score_several_folders_md_and_random_weights_everywhere(cli, synth, tmp_path):
    data, preds = synth
    a = _copy_preds(preds["shift"], tmp_path / "shift")
    b = _copy_preds(preds["static"], tmp_path / "static")
    (b / "run.json").write_text(json.dumps({"schema": "m3vos-run/1", "tracker": {"name": "static"},
                                            "config": {"k": 1}, "weights": {"random": True, "seed": 7},
                                            "status": "complete"}))
    proc = cli("score", a, b, "--data", data, "--workers", "1", "--format", "md", "--percent", check=0)
    lines = proc.stdout.splitlines()
    assert lines[2].startswith("| run | J-Mean ↑ |") and "J-Decay ↓" in lines[2]
    row_a = next(line for line in lines if line.startswith("| shift |"))
    row_b = next(line for line in lines if line.startswith("| static |"))
    ja = json.loads((a / "results.json").read_text())
    jb = json.loads((b / "results.json").read_text())
    assert f"**{ja['global']['J-Mean'] * 100:.1f}**" in row_a and "random weights: the numbers mean nothing" in row_b
    assert jb["run"]["weights"] == {"random": True, "seed": 7} and jb["warnings"][0].startswith("random weights")
    assert ja["run"] is None and ja["scored_at"].endswith("+00:00")
    assert "warning: " in proc.stderr and "random weights" in proc.stderr
    table = cli("score", b, "--data", data, "--workers", "1", check=0).stdout
    assert "RANDOM WEIGHTS: THE NUMBERS MEAN NOTHING" in " ".join(table.split())
    board = cli("leaderboard", a, b, "--format", "md", "--n-boot", "200", check=0).stdout
    assert re.search(r"\| 2 \| static \|.*random weights: the numbers mean nothing \|", board)
    assert "random (seed 7)" in board and '{"k": 1}' in board
    rep = cli("report", a, b, "--format", "md", "--no-entropy", "--percent", check=0)
    assert "random weights" in rep.stderr
    md = (a / "report-vs-static" / "report.md").read_text()
    assert "random (seed 7)" in md
    assert re.search(rf"\| shift \| \d+ \| \d+ \| {ja['global']['J-Mean'] * 100:.1f} \|", md)
