"""Breakdowns: official mean rules, exact key matching, GT attributes and their cache, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers_analysis import (META_VIDEOS, make_dataset, moving_disc_video, results_doc, scored_synth,
                              write_results)
from m3vos.analysis.breakdowns import NOT_IN_DATASET, UNLABELLED, breakdown_rows, parse_names
from m3vos.analysis.keys import VideoIndex, split_key
from m3vos.errors import BadInputError


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return scored_synth(tmp_path_factory.mktemp("synth"))


def _table(rows):
    df = pd.DataFrame(rows)
    df["matched"] = df.get("matched", True)
    df.attrs["metrics"] = ["J-Mean"]
    return df


def test_group_mean_is_the_mean_over_objects_not_over_transition_means():
    df = _table([
        {"key": "a_1", "transition": "separate", "group": "IS", "intra": "intra", "J-Mean": 0.2},
        {"key": "a_2", "transition": "separate", "group": "IS", "intra": "intra", "J-Mean": 0.4},
        {"key": "b_1", "transition": "separate", "group": "IS", "intra": "intra", "J-Mean": 0.6},
        {"key": "c_1", "transition": "twist", "group": "IS", "intra": "intra", "J-Mean": 1.0},
        {"key": "d_1", "transition": "melt", "group": "CP", "intra": "cross", "J-Mean": 0.1},
        {"key": "e_1", "transition": None, "group": None, "intra": None, "J-Mean": 0.9},
        {"key": "f_1", "transition": None, "group": None, "intra": None, "J-Mean": 0.5, "matched": False},
    ])
    df["matched"] = [True] * 6 + [False]
    groups = {r["value"]: r for r in breakdown_rows(df, "group")}
    # hand computed: IS = (0.2 + 0.4 + 0.6 + 1.0) / 4, not (mean(separate) + twist) / 2 = 0.7
    assert groups["IS"]["J-Mean"] == pytest.approx(0.55)
    assert groups["IS"]["n_objects"] == 4
    assert groups["CP"]["J-Mean"] == pytest.approx(0.1)
    assert groups[UNLABELLED]["n_objects"] == 1 and groups[UNLABELLED]["J-Mean"] == pytest.approx(0.9)
    assert groups[NOT_IN_DATASET]["n_objects"] == 1
    assert [r["value"] for r in breakdown_rows(df, "group")] == ["IS", "CP", UNLABELLED, NOT_IN_DATASET]
    trans = {r["value"]: r for r in breakdown_rows(df, "transition")}
    assert trans["separate"]["J-Mean"] == pytest.approx(0.4) and trans["separate"]["n_objects"] == 3
    intra = {r["value"]: r for r in breakdown_rows(df, "intra")}
    assert intra["intra"]["J-Mean"] == pytest.approx(0.55) and intra["cross"]["n_objects"] == 1


def test_difficulty_lists_are_nested_and_challenges_multi_membership():
    df = _table([
        {"key": "a_1", "difficulty": "hard", "challenges": ("Fast Motion", "Small Object"), "J-Mean": 0.2},
        {"key": "b_1", "difficulty": "mid", "challenges": ("Fast Motion",), "J-Mean": 0.4},
        {"key": "c_1", "difficulty": "easy", "challenges": (), "J-Mean": 0.9},
    ])
    d = {r["value"]: r for r in breakdown_rows(df, "difficulty")}
    assert (d["hard"]["n_objects"], d["mid"]["n_objects"], d["easy"]["n_objects"]) == (1, 2, 3)
    assert d["mid"]["J-Mean"] == pytest.approx(0.3)
    assert d["easy"]["J-Mean"] == pytest.approx(0.5)
    c = {r["value"]: r for r in breakdown_rows(df, "challenges")}
    assert c["Fast Motion"]["n_objects"] == 2 and c["Fast Motion"]["J-Mean"] == pytest.approx(0.3)
    assert c["(none)"]["n_objects"] == 1


def test_names_parse_and_unknown_name_is_bad_input():
    assert parse_names("transition, group,transition") == ["transition", "group"]
    assert "velocity" in parse_names(["all"])
    with pytest.raises(BadInputError, match="unknown breakdown 'speed'"):
        parse_names("speed")


def test_keys_match_exactly_and_handle_the_legacy_prefix():
    idx = VideoIndex.build(["0100_melt_ice_1", "0101_melt_ice_11", "0300_a_1", "0301_a_1"])
    assert idx.resolve("melt_ice_1") == "0100_melt_ice_1"        # not the substring-matching _11
    assert idx.resolve("melt_ice_11") == "0101_melt_ice_11"
    assert idx.resolve("a_1") is None                             # ambiguous legacy name: no guess
    assert idx.resolve("melt_ice") is None
    assert split_key("0100_melt_ice_1_12") == ("0100_melt_ice_1", 12)


def test_breakdowns_on_synth_equal_plain_means_over_labelled_objects(synth, tmp_path):
    from m3vos.analysis.breakdowns import add_breakdowns
    from m3vos.data.dataset import open_dataset

    data, runs = synth
    ds = open_dataset(data)
    doc = json.loads((runs["static"] / "results.json").read_text())
    section = add_breakdowns(doc, ds, ["transition", "group", "core", "difficulty"])
    # independent derivation straight from the dataset model
    by_group: dict[str, list[float]] = {}
    by_core: dict[str, list[float]] = {}
    for obj in ds.objects():
        j = doc["per_object"][obj.key]["J-Mean"]
        by_group.setdefault(obj.group or UNLABELLED, []).append(j)
        by_core.setdefault("core" if obj.core else "non-core", []).append(j)
    got = {r["value"]: r for r in section["group"]}
    assert set(got) == set(by_group)
    for g, js in by_group.items():
        assert got[g]["n_objects"] == len(js)
        assert got[g]["J-Mean"] == pytest.approx(float(np.mean(js)), abs=1e-12)
    core = {r["value"]: r for r in section["core"]}
    for g, js in by_core.items():
        assert core[g]["J-Mean"] == pytest.approx(float(np.mean(js)), abs=1e-12)
    assert sum(r["n_objects"] for r in section["transition"]) == len(doc["per_object"])


def test_size_and_velocity_follow_their_definitions_and_are_cached(tmp_path, monkeypatch):
    from m3vos.analysis.attributes import gt_attributes
    from m3vos.data.dataset import open_dataset

    h, w, r, speed = 48, 64, 8.0, 2.0
    root = make_dataset(tmp_path / "ds", {"move": moving_disc_video(8, h, w, r0=r, speed=speed)})
    ds = open_dataset(root)
    attrs = gt_attributes(ds, ("geometry",))["move_1"]
    frames = moving_disc_video(8, h, w, r0=r, speed=speed)
    area = float(np.mean([(f == 1).sum() for f in frames]))
    assert attrs["size"] == pytest.approx(area / (h * w), rel=1e-9)
    assert attrs["velocity"] == pytest.approx(speed / math.hypot(h, w), rel=1e-6)
    assert attrs["length"] == 8
    cache_files = list((Path(__import__("os").environ["M3VOS_CACHE"]) / "analysis").glob("gt-geometry-*.json"))
    assert len(cache_files) == 1
    # the cache is what a second call reads: tamper with it and the value follows
    doc = json.loads(cache_files[0].read_text())
    doc["videos"]["move"]["1"]["size"] = 0.5
    cache_files[0].write_text(json.dumps(doc))
    assert gt_attributes(ds, ("geometry",))["move_1"]["size"] == 0.5
    # a changed dataset (a new frame) gets a new key and fresh numbers
    from m3vos.data.masks import write_mask

    write_mask(root / "Annotations" / "move" / "00008.png", moving_disc_video(9, h, w, r0=r, speed=speed)[8])
    ds2 = open_dataset(root)
    assert gt_attributes(ds2, ("geometry",))["move_1"]["size"] == pytest.approx(area / (h * w), rel=1e-9)


def test_official_metadata_labels_legacy_keys_and_unlabelled_objects(shared_dir, tmp_path, cli):
    meta = shared_dir / "m3vos_meta"
    if not (meta / "all_phase_label.json").is_file():
        pytest.skip("official metadata not in ../shared/m3vos_meta")
    videos = {name: moving_disc_video(6, objects=n) for name, n in META_VIDEOS.items()}
    videos["9999_not_labelled_1"] = moving_disc_video(6)
    root = make_dataset(tmp_path / "ds", videos)
    doc = results_doc({
        "0049_clipoff_wood_1_1": {"J-Mean": 0.2},
        "assemble_firework_2_1": {"J-Mean": 0.4},        # legacy name without the NNNN_ prefix
        "0052_assemble_firework_2_2": {"J-Mean": 0.8},
        "0169_Melting_cans_1_1": {"J-Mean": 0.6},
        "9999_not_labelled_1_1": {"J-Mean": 0.9},
        "nowhere_1": {"J-Mean": 0.0},
    })
    for e in doc["per_object"].values():      # keys only: exercise key parsing, not the fields
        e.pop("video"), e.pop("object_id")
    res = write_results(tmp_path / "run", doc)
    proc = cli("breakdowns", res, "--data", root, "--labels", meta, "--names", "transition,group,difficulty",
               "--format", "json", check=0)
    section = json.loads(proc.stdout)
    labels = json.loads((meta / "all_phase_label.json").read_text())
    tr = {r["value"]: r for r in section["transition"]}
    assert labels["0049_clipoff_wood_1"]["1"]["phase transition"] == "twist"
    assert tr["twist"]["n_objects"] == 1 and tr["twist"]["J-Mean"] == pytest.approx(0.2)
    assert tr["merge"]["n_objects"] == 2 and tr["merge"]["J-Mean"] == pytest.approx(0.6)
    assert tr[UNLABELLED]["n_objects"] == 1 and tr[UNLABELLED]["J-Mean"] == pytest.approx(0.9)
    assert tr[NOT_IN_DATASET]["n_objects"] == 1
    easy = set((meta / "all_easy_objs.txt").read_text().split())
    want = [0.2, 0.4, 0.8, 0.6]
    keys = ["0049_clipoff_wood_1_1", "0052_assemble_firework_2_1", "0052_assemble_firework_2_2",
            "0169_Melting_cans_1_1"]
    from m3vos.data.labels import strip_prefix

    in_easy = [v for k, v in zip(keys, want) if k in easy or strip_prefix(k) in easy]
    d = {r["value"]: r for r in section["difficulty"]}
    assert d["easy"]["n_objects"] == len(in_easy)
    assert d["easy"]["J-Mean"] == pytest.approx(float(np.mean(in_easy)))
    # the report reads the same labels: the per-transition table names the official transitions
    cli("report", res, "--data", root, "--labels", meta, "--md", "--no-entropy", check=0)
    md = (res / "report" / "report.md").read_text()
    assert "| twist | 1 | 0.2000 |" in md and "| merge | 2 | 0.6000 |" in md
    assert "| (unlabelled) | 1 | 0.9000 |" in md


def test_score_breakdown_all_through_the_cli(synth, cli, tmp_path):
    data, runs = synth
    out = tmp_path / "scored"
    proc = cli("score", runs["shift"], "--data", data, "--breakdown", "all", "--out", out, "--workers", "1",
               check=0)
    assert "breakdown: group" in proc.stdout and "breakdown: velocity" in proc.stdout
    doc = json.loads((out / "results.json").read_text())
    bd = doc["breakdowns"]
    assert set(bd) == set(parse_names("all"))
    n = len(doc["per_object"])
    for name in ("transition", "group", "size", "velocity", "entropy", "length", "core"):
        assert sum(r["n_objects"] for r in bd[name]) == n, name
    mean_all = np.mean([e["J-Mean"] for e in doc["per_object"].values()])
    weighted = sum(r["n_objects"] * r["J-Mean"] for r in bd["size"]) / n
    assert weighted == pytest.approx(mean_all)


def test_breakdowns_cli_lists_and_rejects_bad_input(cli, tmp_path):
    proc = cli("breakdowns", check=0)
    assert "velocity-auto" in proc.stdout and "transition" in proc.stdout
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.json").write_text("{not json")
    proc = cli("breakdowns", tmp_path / "bad", check=2)
    assert proc.stderr.startswith("error:") and "results.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_official_labels_at_full_scale_give_the_published_group_counts(shared_dir, tmp_path):
    """All 465 labelled videos (tiny masks), the official label file: the paper's group sizes."""
    from m3vos.analysis.breakdowns import compute_breakdowns
    from m3vos.analysis.table import object_table
    from m3vos.data.dataset import open_dataset
    from m3vos.data.masks import write_mask

    meta = shared_dir / "m3vos_meta"
    if not (meta / "all_phase_label.json").is_file():
        pytest.skip("official metadata not in ../shared/m3vos_meta")
    labels = json.loads((meta / "all_phase_label.json").read_text())
    root = tmp_path / "ds"
    per_object = {}
    rng = np.random.default_rng(0)
    videos = [v for v, objs in labels.items() if objs]          # 20 videos carry no label at all
    for video in videos:
        objs = labels[video]
        n = max(int(k) for k in objs)                             # id gaps give unlabelled objects
        ids = np.zeros((8, 8), np.uint8)
        ids.flat[:n] = np.arange(1, n + 1)
        for t in range(3):
            write_mask(root / "Annotations" / video / f"{t:05d}.png", ids)
        for k in range(1, n + 1):
            per_object[f"{video}_{k}"] = {"J-Mean": float(rng.uniform())}
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "val.txt").write_text("\n".join(videos) + "\n")
    ds = open_dataset(root, labels_dir=meta)
    table = object_table(results_doc(per_object), ds)
    section = compute_breakdowns(table, "group,transition,intra")
    groups = {r["value"]: r["n_objects"] for r in section["group"]}
    # research notes §1.3(a): IS 246, IL 98, IG 12, CP 117 over the 23 transitions; 4 outside them
    assert {g: groups.get(g) for g in ("IS", "IL", "IG", "CP")} == {"IS": 246, "IL": 98, "IG": 12, "CP": 117}
    n_labels = sum(len(o) for o in labels.values())
    assert n_labels == 477
    assert groups["(outside the 23)"] == 4
    assert groups["(unlabelled)"] == len(per_object) - n_labels > 0      # the id-gap objects
    assert sum(groups.values()) == len(per_object)
    trans = {r["value"]: r["n_objects"] for r in section["transition"]}
    assert (trans["separate"], trans["flow"], trans["solidify"], trans["diffusion"]) == (62, 56, 36, 12)
    intra = {r["value"]: r for r in section["intra"]}
    cross = [per_object[k]["J-Mean"] for k, g in zip(table["key"], table["group"]) if g == "CP"]
    assert intra["cross"]["J-Mean"] == pytest.approx(float(np.mean(cross)))
