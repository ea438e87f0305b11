"""The per-frame measures and statistics against independent, literal implementations of their
definitions (scoring_spec.md §2, m3vos_official.md §2), on random and hand-made masks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.measure import label as sk_label
from skimage.morphology import disk as sk_disk

from m3vos.analysis.gate import Threshold, check_thresholds, parse_thresholds
from m3vos.errors import BadInputError
from m3vos.metrics import statistics as st
from m3vos.metrics.boundary import boundary_map, disk_kernel, f_measure, tolerance_radius, union_box
from m3vos.metrics.components import jcc_greedy, jcc_hungarian


def blobs(rng: np.random.Generator, h: int, w: int, n: int, rmax: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w), bool)
    for _ in range(n):
        cy, cx, r = rng.integers(0, h), rng.integers(0, w), rng.integers(1, rmax)
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return m


def naive_bmap(m: np.ndarray) -> np.ndarray:
    h, w = m.shape
    b = np.zeros_like(m)
    for y in range(h):
        for x in range(w):
            b[y, x] = ((x + 1 < w and m[y, x] != m[y, x + 1]) or (y + 1 < h and m[y, x] != m[y + 1, x])
                       or (x + 1 < w and y + 1 < h and m[y, x] != m[y + 1, x + 1]))
    return b


def reference_f(pred: np.ndarray, gt: np.ndarray, r: int) -> float:
    """F from Euclidean distances between boundary pixels (no dilation code involved)."""
    bp, bg = boundary_map(pred), boundary_map(gt)  # checked against the loop above
    if not bp.any() and not bg.any():
        return 1.0
    if not bp.any() or not bg.any():
        return 0.0
    dist_to_g = ndimage.distance_transform_edt(~bg)
    dist_to_p = ndimage.distance_transform_edt(~bp)
    precision = np.mean(dist_to_g[bp] <= r)
    recall = np.mean(dist_to_p[bg] <= r)
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def test_boundary_map_is_the_seg2bmap_definition() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((9, 13)) < rng.random()
        assert np.array_equal(boundary_map(m), naive_bmap(m))
    m = blobs(rng, 40, 60, 4)
    assert np.array_equal(boundary_map(m), naive_bmap(m))
    full = np.ones((5, 7), bool)
    assert not boundary_map(full).any()        # a full-frame mask has no boundary
    line = np.zeros((5, 7), bool)
    line[2] = True
    assert boundary_map(line)[1].all() and boundary_map(line)[2].all()  # both sides of a 1-px line


@pytest.mark.parametrize("hw,r", [((480, 854), 8), ((720, 1280), 12), ((360, 640), 6), ((480, 640), 7),
                                  ((540, 960), 9), ((1080, 1920), 18), ((3840, 2160), 36)])
def test_tolerance_radius_table(hw: tuple[int, int], r: int) -> None:
    assert tolerance_radius(*hw) == r


def test_disk_is_scikit_image_disk() -> None:
    for r in range(0, 40):
        assert np.array_equal(disk_kernel(r), sk_disk(r).astype(np.uint8))


def test_f_measure_matches_distance_definition_and_is_crop_invariant() -> None:
    rng = np.random.default_rng(1)
    h, w = 40, 60
    r = 3
    for i in range(40):
        gt = blobs(rng, h, w, rng.integers(0, 4))
        pred = blobs(rng, h, w, rng.integers(0, 4)) if i % 5 else gt.copy()
        want = reference_f(pred, gt, r)
        assert f_measure(pred, gt, r) == pytest.approx(want, abs=1e-12)
        box = union_box(_rect(gt), _rect(pred), h, w)
        if box is not None:
            y0, y1, x0, x1 = box
            assert f_measure(pred[y0:y1, x0:x1], gt[y0:y1, x0:x1], r) == f_measure(pred, gt, r)


def _rect(m: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(m)
    if not len(ys):
        return (0, 0, 0, 0)
    return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))


def dense_hungarian(gt: np.ndarray, pred: np.ndarray) -> float:
    """The official dense formulation: every component pair, IoU with +1e-10, full LSA."""
    lg, ng = sk_label(gt, connectivity=2, return_num=True)
    lp, npred = sk_label(pred, connectivity=2, return_num=True)
    if ng == 0 or npred == 0:
        return 0.0
    inter = np.zeros((ng + 1, npred + 1))
    np.add.at(inter, (lg.ravel(), lp.ravel()), 1)
    inter = inter[1:, 1:]
    size_g = np.bincount(lg.ravel(), minlength=ng + 1)[1:, None]
    size_p = np.bincount(lp.ravel(), minlength=npred + 1)[None, 1:]
    iou = inter / (size_g + size_p - inter + 1e-10)
    r, c = linear_sum_assignment(-iou)
    return iou[r, c].sum() / ng


def literal_greedy(gt: np.ndarray, pred: np.ndarray) -> float:
    """The official `db_eval_blob` loop, transcribed with component maps (quirks included)."""
    lg, ng = sk_label(gt, connectivity=2, return_num=True)
    lp, npred = sk_label(pred, connectivity=2, return_num=True)
    if ng == 0:
        return 0.0
    stack = np.stack([lp == j + 1 for j in range(npred)]) if npred else np.zeros((0,) + gt.shape, bool)
    scores = []
    for i in range(ng):
        g = lg == i + 1
        best, best_idx = 0, -1
        if stack.shape[0] == 0:
            break
        for j in range(stack.shape[0]):
            iou = (stack[j] & g).sum() / (stack[j] | g).sum()
            if iou > best:
                best, best_idx = iou, j
        scores.append(best)
        stack = np.concatenate([stack[:best_idx], stack[best_idx + 1:]])
    return float(np.mean(scores)) if scores else 0.0


def test_jcc_hungarian_equals_dense_formulation() -> None:
    rng = np.random.default_rng(2)
    for _ in range(60):
        gt = blobs(rng, 48, 64, rng.integers(0, 9), rmax=5)
        pred = blobs(rng, 48, 64, rng.integers(0, 9), rmax=5)
        assert jcc_hungarian(gt, pred) == pytest.approx(dense_hungarian(gt, pred), abs=1e-12)


def test_jcc_hungarian_many_blobs_uses_blocks() -> None:
    # > 64 x 64 components: exercises the block decomposition path
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:240, :240]
    gt = ((yy % 12) < 4) & ((xx % 12) < 4)
    pred = np.roll(gt, (1, 2), axis=(0, 1)) & (rng.random(gt.shape) < 0.97)
    assert jcc_hungarian(gt, pred) == pytest.approx(dense_hungarian(gt, pred), abs=1e-9)


def test_jcc_greedy_equals_literal_loop_including_the_growth_quirk() -> None:
    rng = np.random.default_rng(4)
    misses = 0
    for _ in range(60):
        gt = blobs(rng, 40, 56, rng.integers(0, 7), rmax=5)
        pred = blobs(rng, 40, 56, rng.integers(0, 7), rmax=5)
        assert jcc_greedy(gt, pred) == pytest.approx(literal_greedy(gt, pred), abs=1e-12)
        misses += int(jcc_greedy(gt, pred) != jcc_hungarian(gt, pred))
    assert misses > 0  # the variants do differ on these masks


def test_jcc_empty_rules() -> None:
    empty = np.zeros((10, 10), bool)
    one = empty.copy()
    one[2:5, 2:5] = True
    for fn in (jcc_hungarian, jcc_greedy):
        assert fn(empty, empty) == 0.0 and fn(one, empty) == 0.0 and fn(empty, one) == 0.0
        assert fn(one, one) == pytest.approx(1.0)


def test_statistics() -> None:
    assert st.decay_edges(18).tolist() == [0, 4, 9, 13, 17]
    x = np.array([0.5, 0.51, 1.0, 0.0])
    assert st.recall(x) == 0.5  # strictly greater than 0.5
    assert st.last_part(np.arange(10)).tolist() == [7, 8, 9]
    # a linear ramp has decay 0.75; the official uint8 bins (numpy >= 2) break from N = 256
    expected_compat = {255: 0.750, 256: math.nan, 257: math.nan, 342: 0.0, 400: 0.108, 1000: math.nan}
    for n, want in expected_compat.items():
        ramp = np.linspace(1, 0, n)
        assert st.decay(ramp) == pytest.approx(0.75, abs=2e-3)
        got = st.decay(ramp, compat=True)
        assert (math.isnan(got) if math.isnan(want) else round(got, 3) == want), (n, got)


def test_gate_thresholds() -> None:
    ths = parse_thresholds(["J&F-Mean=0.7", "J-Mean = 65%"])
    assert ths == [Threshold("J&F-Mean", 0.7), Threshold("J-Mean", 0.65)]
    assert check_thresholds({"J&F-Mean": 0.71, "J-Mean": 0.66}, ths) == []
    fails = check_thresholds({"J&F-Mean": 0.5, "J-Mean": None}, ths)
    assert len(fails) == 2 and "J&F-Mean" in fails[0] and "undefined" in fails[1]
    for bad in ["J-Mean", "J-Mean=abc", "=0.5", "J-Mean=nan"]:
        with pytest.raises(BadInputError):
            parse_thresholds([bad])
    with pytest.raises(BadInputError, match="J_cc-Mean"):
        check_thresholds({"J-Mean": 0.5}, parse_thresholds(["J_cc-Mean=0.1"]))


def test_jcc_greedy_reuses_a_blob_after_a_miss() -> None:
    # GT components g1 (overlaps nothing), g2, g3; prediction p0 (over g2 and g3), p1 (apart).
    gt = np.zeros((6, 40), bool)
    gt[1:4, 0:3] = True       # g1
    gt[1:4, 10:14] = True     # g2
    gt[1:4, 15:19] = True     # g3
    pred = np.zeros_like(gt)
    pred[1:4, 12:18] = True   # p0
    pred[1:4, 30:33] = True   # p1
    # The miss on g1 turns [p0, p1] into [p0, p0, p1]; g2 takes one p0 and g3 the other copy.
    iou2 = 6 / (12 + 18 - 6)
    iou3 = 9 / (12 + 18 - 9)
    assert jcc_greedy(gt, pred) == pytest.approx((0 + iou2 + iou3) / 3)
    assert jcc_greedy(gt, pred) == pytest.approx(literal_greedy(gt, pred))
