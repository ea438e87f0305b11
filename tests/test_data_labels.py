"""Taxonomy and the official label files (read in place from ../shared/m3vos_meta)."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest

from m3vos.data import labels as lab
from m3vos.data import taxonomy
from m3vos.data.dataset import open_dataset
from m3vos.data.masks import write_mask
from m3vos.errors import BadInputError

from helpers_data import FileServerState, serve_files


@pytest.fixture
def meta(shared_dir: Path) -> Path:
    return shared_dir / "m3vos_meta"


def test_taxonomy_facts() -> None:
    assert len(taxonomy.TRANSITIONS) == 23 == len(set(taxonomy.TRANSITIONS))
    assert {g: len(t) for g, t in taxonomy.GROUP_TRANSITIONS.items()} == {"IS": 7, "IL": 5, "IG": 1, "CP": 10}
    assert len(taxonomy.PHASE_LEAVES) == 6
    assert taxonomy.transition_group("Flow Out") == "CP" and taxonomy.is_intra("twist") is True
    assert taxonomy.is_intra("melt") is False and taxonomy.transition_group("seperate") is None
    assert taxonomy.normalize_phase("solid:non particulate:flexible body") == "solid:non_particulate:flexible body"
    assert taxonomy.normalize_phase("liquid:non-viscous") == "liquid:non viscous"


def test_phase_labels_parse_with_official_group_totals(meta: Path) -> None:
    labels = lab.read_phase_labels(meta / "all_phase_label.json")
    assert len(labels) == 477
    groups = Counter(taxonomy.transition_group(l.transition) for l in labels.values())
    assert groups == {"IS": 246, "IL": 98, "IG": 12, "CP": 117, None: 4}   # seperate, separate_out
    states = {s for l in labels.values() for s in (l.before, l.after)}
    assert states <= set(taxonomy.PHASE_NODES)        # misspellings normalised


def test_pinned_digests_match_the_official_files(meta: Path) -> None:
    assert lab.check_labels_dir(meta) == []


def test_rating_csv_trailing_comma_is_not_shifted(meta: Path) -> None:
    rows = lab.read_rating_csv(meta / "human_score" / "rater_zixuan.csv")
    assert len(rows) == 548
    first = rows[0]
    assert (first.video_id, first.video_name) == (1, "mv_cola_1")
    assert set(first.values.values()) == {None}                     # unrated, not shifted
    rated = [r for r in rows if r.values["color"] is not None]
    assert len(rows) - len(rated) == 32
    assert set(rated[0].values) == {"color", "shape", "position", "state", "video_quality",
                                    "similar_distractors", "occlusion", "long_video", "transparent",
                                    "small_object"}
    assert all(v in (0, 1, 2) for r in rated for v in r.values.values())
    assert {r.rater for r in lab.read_ratings(meta)} == {"junxuan", "liming", "yejie", "zixuan"}
    other = lab.read_rating_csv(meta / "human_score" / "rater_junxuan.csv")
    assert len(other) == 548 and other[97].video_name.startswith("pour_water_3")   # embedded newline


def _fake_release(tmp_path: Path, videos: dict[str, int]) -> Path:
    """A score-only VOST-like root whose videos carry official names."""
    root = tmp_path / "rel"
    for name, n_obj in videos.items():
        ids = np.zeros((8, 8), dtype=np.uint8)
        for k in range(1, n_obj + 1):
            ids[k, k] = k
        write_mask(root / "Annotations" / name / "0000000.png", ids)
    (root / "ImageSets").mkdir(parents=True)
    (root / "ImageSets" / "val.txt").write_text("".join(f"{n}\n" for n in videos))
    return root


def test_legacy_names_and_unlabelled_objects(meta: Path, tmp_path: Path) -> None:
    root = _fake_release(tmp_path, {"0255_sublime_dryice_1": 1, "0233_generate_iodine_1": 1,
                                    "0477_assemble_machinery_11": 3, "9999_not_official_1": 2})
    ds = open_dataset(root, labels_dir=meta)
    by_key = {o.key: o for o in ds.objects()}
    dry = by_key["0255_sublime_dryice_1_1"]
    # Labels use the numbered name, the difficulty lists only the legacy one ("sublime_dryice_1_1").
    assert "0255_sublime_dryice_1_1" not in (meta / "all_hard_objs.txt").read_text().split()
    assert dry.transition == "vaporize" and dry.group == "CP" and dry.difficulty == "hard"
    assert by_key["0233_generate_iodine_1_1"].difficulty == "hard"
    # Difficulty-listed but absent from all_phase_label.json: kept, reported as unlabelled.
    machine = by_key["0477_assemble_machinery_11_3"]
    assert machine.transition is None and machine.difficulty == "hard"
    cov = ds.labels.coverage(list(by_key.values()))
    assert set(cov["unlabelled"]) == {"9999_not_official_1_1", "9999_not_official_1_2",
                                      "0477_assemble_machinery_11_1", "0477_assemble_machinery_11_2",
                                      "0477_assemble_machinery_11_3"}
    assert by_key["9999_not_official_1_1"].transition is None and by_key["9999_not_official_1_1"].group is None
    assert len(cov["labels_without_object"]) > 400


def test_key_index_refuses_ambiguous_legacy_match() -> None:
    idx = lab.KeyIndex([("0001_cut_a_1_1", "x"), ("0002_cut_a_1_1", "y"), ("0003_b_1", "z")])
    assert idx.get("cut_a_1_1") is None                 # two candidates: no guess
    assert idx.get("b_1") == "z" and idx.get("0003_b_1") == "z" and idx.get("0009_b_1") == "z"


def _official_server_files(meta: Path) -> dict[str, bytes]:
    files = {}
    for f in lab.OFFICIAL_FILES:
        url_path = f"/{lab.OFFICIAL_REPO}/{lab.OFFICIAL_COMMIT}/{quote(f.official_path)}"
        files[url_path] = (meta / f.name).read_bytes()
    return files


def test_fetch_labels_from_a_mirror(meta: Path, tmp_path: Path, cli) -> None:
    state = FileServerState(files=_official_server_files(meta))
    with serve_files(state) as (base, st):
        proc = cli("data", "labels", "--base-url", base, check=0)
        assert "9 official label files" in proc.stdout
        cached = lab.labels_cache_dir()
        assert lab.check_labels_dir(cached) == []
        assert any("%E5%9C%BA" in e["path"] or "场" in e["path"] for e in st.log)   # the Chinese names
        # A tampered mirror is refused and leaves nothing under the final name.
        bad = tmp_path / "bad"
        first = lab.OFFICIAL_FILES[0]
        st.files[f"/{lab.OFFICIAL_REPO}/{lab.OFFICIAL_COMMIT}/{quote(first.official_path)}"] = b"{}"
        proc = cli("data", "labels", "--base-url", base, "--dest", bad, check=3)
        assert "sha256 mismatch" in proc.stderr and not (bad / first.name).exists()
        assert not (bad / (first.name + ".part")).exists()
    proc = cli("data", "labels", "--check", meta, check=0)
    assert "9/9" in proc.stdout


def test_cached_labels_are_found_without_a_labels_dir(tmp_path: Path) -> None:
    from m3vos.data.synth import make_synthetic_dataset

    synth = make_synthetic_dataset(tmp_path / "s", videos=2, frames=4)
    shutil.copytree(synth / "meta", lab.labels_cache_dir())   # as after `m3vos data labels`
    root = _fake_release(tmp_path / "r", {open_dataset(synth).video_names[0]: 1})
    obj = open_dataset(root).objects()[0]
    assert obj.transition is not None and obj.group in taxonomy.GROUPS


def test_bad_label_files_are_one_line_errors(tmp_path: Path) -> None:
    (tmp_path / "all_phase_label.json").write_text("{oops")
    with pytest.raises(BadInputError, match="not valid JSON"):
        lab.load_label_dir(tmp_path)
    csv = tmp_path / "rater_x.csv"
    csv.write_text("Video Id,Video Name ,颜色\n1,a,0\nnotanumber,b,1\n")
    with pytest.raises(BadInputError, match="row 3"):
        lab.read_rating_csv(csv)
    root = _fake_release(tmp_path / "r", {"v_1": 1})
    with pytest.raises(BadInputError, match="labels folder does not exist"):
        open_dataset(root, labels_dir=tmp_path / "missing").objects()


def test_target_object_json_of_unknown_shape_is_not_trusted(tmp_path: Path) -> None:
    p = tmp_path / "target_object.json"
    p.write_text(json.dumps({"v": {"obj_1": {"category": "ice"}, "obj_3": {}}, "w": ["obj_2"]}))
    assert lab.read_target_objects(p) == {"v": [1, 3], "w": [2]}
    p.write_text(json.dumps([{"video": "v", "objects": 2}]))
    assert lab.read_target_objects(p) is None       # a format we do not know: no id check at all


def test_label_cache_adds_to_a_datasets_own_labels(tmp_path: Path) -> None:
    from m3vos.data.synth import make_synthetic_dataset

    # a cache of other videos' labels (where both label a video, the cache wins: see _merged)
    other = make_synthetic_dataset(tmp_path / "other", videos=3, frames=4, seed=2)
    shutil.copytree(other / "meta", lab.labels_cache_dir())   # as after `m3vos data labels`
    root = make_synthetic_dataset(tmp_path / "s", videos=2, frames=4)
    assert not set(open_dataset(other).video_names) & set(open_dataset(root).video_names)
    objs = open_dataset(root).objects()
    assert objs and all(o.transition in taxonomy.TRANSITIONS for o in objs)
    assert {o.label_source for o in objs} == {str(root / "meta" / "all_phase_label.json")}
