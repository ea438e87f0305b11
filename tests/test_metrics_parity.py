"""Parity with the anchors on the regenerated dev set: every per-object statistic of
davis2017-evaluation and of the official M3-VOS evaluator (both J_cc variants) to 1e-6."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from helpers_score import Reordered, broken_set, dev_set, reference  # noqa: F401  (fixtures)
from m3vos.data.dataset import open_dataset
from m3vos.metrics import score_predictions

TOL = 1e-6


@pytest.fixture(scope="module")
def dev_scores(dev_set: Path) -> dict:
    ds = open_dataset(dev_set)
    preds = dev_set / "Predictions"
    reordered = Reordered(ds)
    assert reordered.video_names != ds.video_names
    return {
        "davis": score_predictions(preds, ds, protocol="davis", workers=2),
        "m3vos": score_predictions(preds, ds, protocol="m3vos", workers=2),
        # one worker and the reverse order: also checks that neither changes a number
        "greedy": score_predictions(preds, reordered, protocol="m3vos", jcc="greedy", workers=1),
    }


def _compare(ours: dict, ref: dict, metrics: list[str]) -> list[str]:
    bad = []
    for key, ref_obj in ref.items():
        assert key in ours, f"{key} not scored"
        for m in metrics:
            if abs(ours[key][m] - ref_obj[m]) > TOL:
                bad.append(f"{key} {m}: ours {ours[key][m]!r} reference {ref_obj[m]!r}")
    return bad


def test_davis_protocol_matches_davis2017_per_object(dev_scores: dict, shared_dir: Path) -> None:
    ref = reference(shared_dir, "davis_reference_dev.json")["davis2017_evaluation"]
    ours = dev_scores["davis"].per_object
    metrics = ["J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"]
    assert _compare(ours, ref["per_object"], metrics) == []
    for key, obj in ref["per_object"].items():
        assert ours[key]["n_frames"] == obj["frames_scored"]
    # davis2017 refuses seq008-spurious (id K+1 in the prediction); m3vos scores it with a warning,
    # so the global over the sequences davis2017 scored must equal its global.
    scored = [k for k in ours if k.rsplit("_", 1)[0] in ref["scored_sequences"]]
    assert len(scored) == ref["global"]["num_objects"]
    for m in metrics:
        mean = math.fsum(ours[k][m] for k in scored) / len(scored)
        assert abs(mean - ref["global"][m]) < TOL, m


def test_davis_protocol_per_frame_values_are_exact(dev_scores: dict, shared_dir: Path) -> None:
    ref = reference(shared_dir, "davis_reference_dev.json")["per_frame"]["davis2017"]
    doc = dev_scores["davis"].to_dict()["per_frame"]
    for key, series in ref.items():
        assert np.array_equal(np.array(doc[key]["J"]), np.array(series["J"])), key
        assert np.array_equal(np.array(doc[key]["F"]), np.array(series["F"])), key


def test_unknown_prediction_ids_are_background_with_a_warning(dev_scores: dict) -> None:
    warnings = [w for w in dev_scores["davis"].warnings if "seq008-spurious" in w]
    assert len(warnings) == 1 and "[4]" in warnings[0] and ".png" in warnings[0]


@pytest.mark.parametrize("variant,section", [("m3vos", "official_evaluator"),
                                             ("greedy", "official_evaluator_greedy_jcc")])
def test_m3vos_protocol_matches_official_evaluator(dev_scores: dict, shared_dir: Path,
                                                   variant: str, section: str) -> None:
    ref = reference(shared_dir, "m3vos_reference_dev.json")[section]
    result = dev_scores[variant]
    assert sorted(result.per_object) == sorted(ref["object_order"])
    metrics = ["J-Mean", "J-Recall", "J-Decay", "J_last-Mean", "J_last-Recall", "J_last-Decay", "J_cc-Mean"]
    assert _compare(result.per_object, ref["per_object"], metrics) == []
    for m in metrics:
        assert abs(result.global_metrics[m] - ref["global"][m]) < TOL, m


def test_f_under_both_protocols_is_the_same_number(dev_scores: dict) -> None:
    davis, m3 = dev_scores["davis"].per_object, dev_scores["m3vos"].per_object
    assert davis.keys() == m3.keys()
    for key in davis:
        assert davis[key]["F-Mean"] == m3[key]["F-Mean"]
        assert davis[key]["J-Mean"] == m3[key]["J-Mean"]
