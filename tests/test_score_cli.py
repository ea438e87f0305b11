"""`m3vos score` end to end in a subprocess: every bad-input case of scoring_spec.md §4 (from the
generator's --broken fixtures), outputs, exit codes, atomic results and gates."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from helpers_score import broken_set  # noqa: F401  (fixture)

SEQ = "seq000-mixed"
MID = "00048"


def _case(broken: Path, case: str) -> Path:
    return broken / "PredictionsBroken" / case


def _score(cli, preds: Path, data: Path, out: Path, *args: str, check: int | None = None):
    return cli("score", preds, "--data", data, "--out", out, "--workers", "1", *args, check=check)


def _one_line_error(proc) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err, err
    assert err.startswith("error: ") and "\n" not in err, err
    assert "(fix: " in err, err
    return err


@pytest.fixture(scope="module")
def clean_results(broken_set: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    from conftest import run_cli

    out = tmp_path_factory.mktemp("clean")
    run_cli("score", broken_set / "Predictions", "--data", broken_set, "--out", out, "--workers", "1",
            "--protocol", "davis", check=0)
    return json.loads((out / "results.json").read_text())


@pytest.mark.parametrize("case,needles", [
    ("missing_frame", (f"{SEQ}/{MID}.png", "missing")),
    ("wrong_size_one_frame", (f"{SEQ}/{MID}.png", "240x427", "480x854")),
    ("wrong_size_all", (f"{SEQ}/00001.png", "240x427")),
    ("rgb_png", (f"{SEQ}/00001.png", "RGB")),
    ("corrupt_png", (f"{SEQ}/{MID}.png", "PNG")),
    ("jpg_masks", (f"{SEQ}/00001.png", "00001.jpg", "PNG")),
    ("empty_sequence", (SEQ, "no PNG")),
])
def test_bad_prediction_input_is_a_one_line_error_naming_the_file(cli, broken_set: Path, tmp_path: Path,
                                                                  case: str, needles: tuple[str, ...]) -> None:
    proc = _score(cli, _case(broken_set, case), broken_set, tmp_path, "--protocol", "davis")
    assert proc.returncode == 2, proc.stderr
    err = _one_line_error(proc)
    for needle in needles:
        assert needle in err, (needle, err)
    assert not (tmp_path / "results.json").exists()


@pytest.mark.parametrize("case", ["gray_png", "missing_last_frame"])
def test_valid_variants_score_the_same_numbers(cli, broken_set: Path, tmp_path: Path, clean_results: dict,
                                               case: str) -> None:
    _score(cli, _case(broken_set, case), broken_set, tmp_path, "--protocol", "davis", check=0)
    doc = json.loads((tmp_path / "results.json").read_text())
    assert doc["per_object"] == clean_results["per_object"]
    assert doc["global"] == clean_results["global"]


@pytest.mark.parametrize("case,bad_id", [("extra_id", "[2]"), ("id_255", "[255]")])
def test_unknown_ids_warn_with_file_names_and_strict_refuses(cli, broken_set: Path, tmp_path: Path,
                                                             clean_results: dict, case: str, bad_id: str) -> None:
    proc = _score(cli, _case(broken_set, case), broken_set, tmp_path, "--protocol", "davis", check=0)
    assert f"{MID}.png" in proc.stderr and bad_id in proc.stderr and "background" in proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    assert any(f"{MID}.png" in w for w in doc["warnings"])
    # the painted square is background: only frame MID can differ from the clean prediction
    assert doc["per_object"].keys() == clean_results["per_object"].keys()
    for key, series in doc["per_frame"].items():
        clean = clean_results["per_frame"][key]
        for i, stem in enumerate(series["frames"]):
            if stem != MID:
                assert series["J"][i] == clean["J"][i] and series["F"][i] == clean["F"][i]
    strict = _score(cli, _case(broken_set, case), broken_set, tmp_path / "strict", "--protocol", "davis",
                    "--strict")
    assert strict.returncode == 2 and f"{MID}.png" in _one_line_error(strict)


def test_missing_video_folder_and_missing_empty(cli, broken_set: Path, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    (preds / "some-other-video").mkdir(parents=True)
    proc = _score(cli, preds, broken_set, tmp_path / "a")
    assert proc.returncode == 2 and "no prediction folder" in _one_line_error(proc)
    # --missing empty fills gaps; with no video's predictions at all it is refused (issue 13, 19)
    proc = _score(cli, preds, broken_set, tmp_path / "b", "--missing", "empty")
    assert proc.returncode == 2 and "no prediction folder" in _one_line_error(proc)
    # a missing middle frame under --missing empty: scored, warned by name
    proc = _score(cli, _case(broken_set, "missing_frame"), broken_set, tmp_path / "c", "--missing", "empty", check=0)
    assert f"{MID}.png" in proc.stderr


def test_junk_files_are_ignored_in_gt_and_predictions(cli, broken_set: Path, tmp_path: Path,
                                                      clean_results: dict) -> None:
    data = tmp_path / "data"
    shutil.copytree(broken_set / "Annotations", data / "Annotations")
    shutil.copytree(broken_set / "ImageSets", data / "ImageSets")
    preds = tmp_path / "preds"
    shutil.copytree(broken_set / "Predictions", preds)
    for folder in (data / "Annotations" / SEQ, preds / SEQ, preds):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (folder / "Thumbs.db").write_bytes(b"junk")
    _score(cli, preds, data, tmp_path / "out", "--protocol", "davis", check=0)
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert doc["per_object"] == clean_results["per_object"]


def test_extra_prediction_frame_is_an_error(cli, broken_set: Path, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    shutil.copytree(broken_set / "Predictions", preds)
    shutil.copy(preds / SEQ / "00001.png", preds / SEQ / "frame_x.png")
    proc = _score(cli, preds, broken_set, tmp_path / "out")
    assert proc.returncode == 2 and "frame_x.png" in _one_line_error(proc)


def test_results_files_and_formats(cli, broken_set: Path, tmp_path: Path) -> None:
    proc = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--format", "json", check=0)
    doc = json.loads(proc.stdout)
    assert doc == json.loads((tmp_path / "results.json").read_text())
    assert doc["schema"] == "m3vos-results/1" and doc["protocol"] == "m3vos"
    assert doc["dataset"]["layout"] == "davis" and doc["options"]["jcc"] == "hungarian"
    assert doc["metrics"]["extension"] == ["F-Mean", "F-Recall", "F-Decay", "J&F-Mean"]
    obj = doc["per_object"][f"{SEQ}_1"]
    assert obj["video"] == SEQ and obj["object_id"] == 1 and obj["n_frames"] == 94
    frames = doc["per_frame"][f"{SEQ}_1"]
    assert frames["frames"][0] == "00001" and len(frames["J"]) == len(frames["F"]) == len(frames["J_cc"]) == 94
    assert doc["per_sequence"][SEQ]["n_objects"] == len(doc["per_object"])
    with open(tmp_path / "global_results-val.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay",
                             "J_cc-Mean", "F-Mean", "F-Recall", "F-Decay", "J&F-Mean"]
    assert abs(float(rows[0]["J_cc-Mean"]) - doc["global"]["J_cc-Mean"]) < 1e-6
    with open(tmp_path / "per-sequence_results-val.csv") as fh:
        per = list(csv.DictReader(fh))
    assert [r["Sequence"] for r in per] == list(doc["per_object"])
    out = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--format", "csv", check=0).stdout
    assert out == (tmp_path / "per-sequence_results-val.csv").read_text()
    table = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--protocol", "davis", check=0)
    assert "J&F-Mean" in table.stdout and "F-Decay" in table.stdout and "J_cc" not in table.stdout
    assert "\x1b[" not in table.stderr and "━" not in table.stderr  # no progress bar when not a TTY
    davis = json.loads((tmp_path / "results.json").read_text())
    assert list(davis["global"]) == ["J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]


def test_failed_run_leaves_no_stale_results_and_loses_none(cli, broken_set: Path, tmp_path: Path) -> None:
    _score(cli, broken_set / "Predictions", broken_set, tmp_path, check=0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert "results.json" in before and len(before) == 3
    proc = _score(cli, _case(broken_set, "missing_frame"), broken_set, tmp_path)
    assert proc.returncode == 2
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".m3vos"], leftovers      # nothing a reader would take for current numbers
    retired = tmp_path / ".m3vos" / "previous-results"
    assert {p.name: p.read_bytes() for p in retired.iterdir()} == before  # ...and nothing lost
    assert str(retired) in proc.stderr


def test_fail_under_gates_exit_1_after_writing(cli, broken_set: Path, tmp_path: Path) -> None:
    proc = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--fail-under", "J-Mean=0.99",
                  "--fail-under", "F-Mean=1%")
    assert proc.returncode == 1, proc.stderr
    assert "J-Mean" in proc.stderr and "F-Mean" not in proc.stderr.split("gate failed")[1]
    assert (tmp_path / "results.json").exists()
    _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--fail-under", "J-Mean=0.01", check=0)
    bad = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--fail-under", "J_cc-Mean=0.1",
                 "--protocol", "davis")
    assert bad.returncode == 2 and "J_cc-Mean" in _one_line_error(bad)


def test_bad_arguments(cli, broken_set: Path, tmp_path: Path) -> None:
    proc = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--videos", "nope")
    assert proc.returncode == 2 and "nope" in _one_line_error(proc)
    proc = _score(cli, tmp_path / "does-not-exist", broken_set, tmp_path)
    assert proc.returncode == 2 and "does-not-exist" in _one_line_error(proc)
    proc = _score(cli, broken_set / "Predictions", tmp_path, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_breakdown_option(cli, broken_set: Path, tmp_path: Path) -> None:
    bad = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--breakdown", "nope")
    assert bad.returncode == 2 and "nope" in _one_line_error(bad)
    _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--breakdown", "size", check=0)
    doc = json.loads((tmp_path / "results.json").read_text())
    rows = doc["breakdowns"]["size"]
    assert sum(r["n_objects"] for r in rows) == len(doc["per_object"])


def test_empty_png_is_a_one_line_error(cli, broken_set: Path, tmp_path: Path) -> None:
    preds = tmp_path / "preds"
    shutil.copytree(broken_set / "Predictions", preds)
    (preds / SEQ / f"{MID}.png").write_bytes(b"")
    proc = _score(cli, preds, broken_set, tmp_path / "out")
    assert proc.returncode == 2
    err = _one_line_error(proc)
    assert f"{SEQ}/{MID}.png" in err and "empty" in err


def test_argument_errors_leave_earlier_results_untouched(cli, broken_set: Path, tmp_path: Path) -> None:
    """issue 13 (3): arguments are validated before earlier results are touched."""
    _score(cli, broken_set / "Predictions", broken_set, tmp_path, check=0)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert "results.json" in before
    for args in (("--videos", "nope"), ("--fail-under", "J-Mean=70"), ("--breakdown", "nope"),
                 ("--fail-under", "Q-Mean=0.5")):
        proc = _score(cli, broken_set / "Predictions", broken_set, tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stderr)
        _one_line_error(proc)
        assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before, args


def test_unwritable_out_is_exit_3_before_scoring(cli, broken_set: Path, tmp_path: Path) -> None:
    """issue 13 (14): a file (or a path below a file) as --out is an environment error, found before
    the scoring work: the predictions here are broken, yet the answer is exit 3, not 2."""
    blocker = tmp_path / "results-file"
    blocker.write_text("not a folder")
    for out in (blocker, blocker / "sub"):
        proc = _score(cli, _case(broken_set, "missing_frame"), broken_set, out)
        assert proc.returncode == 3, proc.stderr
        assert str(blocker) in _one_line_error(proc)
    assert blocker.read_text() == "not a folder"


def test_full_disk_while_writing_is_exit_3_and_keeps_earlier_results(broken_set: Path, tmp_path: Path) -> None:
    """issue 13 (14): the results cannot be written (a file-size limit makes the write fail the way a
    full disk does): one `error:` line, exit 3, and the earlier results.json stays whole."""
    import os
    import resource
    import signal
    import subprocess
    import sys

    from conftest import run_cli

    run_cli("score", broken_set / "Predictions", "--data", broken_set, "--out", tmp_path, "--workers", "1",
            "--protocol", "davis", check=0)
    before = (tmp_path / "results.json").read_bytes()
    assert len(before) > 6_000

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)      # EFBIG instead of a kill, as ENOSPC would be
        resource.setrlimit(resource.RLIMIT_FSIZE, (4_096, 4_096))

    proc = subprocess.run([sys.executable, "-m", "m3vos_cli", "score", str(broken_set / "Predictions"), "--data",
                           str(broken_set), "--out", str(tmp_path), "--workers", "1"], capture_output=True,
                          text=True, preexec_fn=limit, env=dict(os.environ), timeout=600)
    assert proc.returncode == 3, proc.stderr
    err = _one_line_error(proc)
    assert "could not write the results" in err and str(tmp_path) in err
    assert (tmp_path / "results.json").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_format_md_prints_a_markdown_table(cli, broken_set: Path, tmp_path: Path) -> None:
    """issue 13 (18): --format md was accepted and ignored."""
    proc = _score(cli, broken_set / "Predictions", broken_set, tmp_path, "--format", "md", "--protocol", "davis",
                  check=0)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| run | J&F-Mean ↑ | J-Mean ↑ |") and "J-Decay ↓" in lines[0]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert len(lines) == 3 and f"{doc['global']['J-Mean']:.4f}" in lines[2]
