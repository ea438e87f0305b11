"""The fast LBP code counts equal skimage's `local_binary_pattern` + counting / `np.histogram`
bit for bit, on thousands of random and adversarial masks; the entropy reports equal the plain
skimage path exactly."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from helpers_analysis import make_dataset
from m3vos.analysis import entropy as E


def _skimage_codes(mask: np.ndarray) -> np.ndarray:
    return local_binary_pattern(mask.astype(np.uint8), P=32, R=4, method="uniform")


def _random_masks(rng: np.random.Generator, n: int):
    """Small masks of every kind: noise of any density, blobs, lines, single pixels, borders."""
    for t in range(n):
        h, w = (int(x) for x in rng.integers(1, 41, 2))
        kind = t % 8
        if kind == 0:                                   # noise, density 0..1
            m = rng.random((h, w)) < rng.random()
        elif kind == 1:                                 # one pixel anywhere (often on the border)
            m = np.zeros((h, w), bool)
            m[rng.integers(0, h), rng.integers(0, w)] = True
        elif kind == 2:                                 # thin horizontal / vertical / diagonal lines
            m = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(1, 4))):
                p1 = (int(rng.integers(-3, w + 3)), int(rng.integers(-3, h + 3)))
                p2 = (int(rng.integers(-3, w + 3)), int(rng.integers(-3, h + 3)))
                cv2.line(m, p1, p2, 1, int(rng.integers(1, 3)))
            m = m.astype(bool)
        elif kind == 3:                                 # particulate: many tiny blobs
            m = np.zeros((h, w), np.uint8)
            for _ in range(int(rng.integers(1, 30))):
                cv2.circle(m, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(0, 3)), 1, -1)
            m = m.astype(bool)
        elif kind == 4:                                 # a blob cut by the image border
            m = np.zeros((h, w), np.uint8)
            cv2.circle(m, (int(rng.choice([0, w - 1])), int(rng.integers(0, h))), int(rng.integers(1, 15)), 1, -1)
            m = m.astype(bool)
        elif kind == 5:                                 # almost full: holes in a full mask
            m = rng.random((h, w)) > rng.random() * 0.05
        elif kind == 6:                                 # a frame along the border, hollow inside
            m = np.ones((h, w), bool)
            b = int(rng.integers(1, 6))
            m[b:-b, b:-b] = False
        else:                                           # all 0 or all 1
            m = np.full((h, w), bool(t % 16 == 7))
        yield m


def _assert_same(m: np.ndarray, rng: np.random.Generator | None = None) -> None:
    codes = _skimage_codes(m)
    ref = np.bincount(codes.ravel().astype(np.int64), minlength=34)
    np.testing.assert_array_equal(E.lbp_code_counts(m), ref)
    hist, _ = np.histogram(codes.ravel(), bins=35, density=True)      # the official call
    assert np.array_equal(E.official_histogram(m), hist), (m.shape, E.official_histogram(m), hist)
    if rng is not None:                                                # counts over a selection
        where = rng.random(m.shape) < 0.5
        np.testing.assert_array_equal(E.lbp_code_counts(m, where),
                                      np.bincount(codes[where].astype(np.int64), minlength=34))


def test_fast_counts_equal_skimage_on_thousands_of_small_masks():
    rng = np.random.default_rng(17)
    n = 0
    for m in _random_masks(rng, 2400):
        _assert_same(m, rng if n % 3 == 0 else None)
        n += 1
    assert n == 2400


def test_fast_counts_equal_skimage_on_special_masks():
    for shape in [(1, 1), (1, 9), (9, 1), (2, 2), (8, 8), (9, 9), (10, 10)]:
        for fill in (0, 1):
            _assert_same(np.full(shape, fill, bool))
    m = np.zeros((9, 9), bool)
    m[4, 4] = True                                   # centre pixel: its ring is all background
    _assert_same(m)
    checker = (np.indices((33, 47)).sum(0) % 2).astype(bool)
    _assert_same(checker)
    _assert_same(~checker)
    ring = np.zeros((30, 30), np.uint8)
    cv2.circle(ring, (15, 15), 8, 1, 1)
    _assert_same(ring.astype(bool))
    # a 1-pixel hole inside a large object: the ring test, not the 3x3 neighbourhood, decides
    m = np.ones((20, 20), bool)
    m[10, 10] = False
    _assert_same(m)
    # many components in a large frame, and non-0/1 values read as the official script's 0/1
    _assert_same(np.asarray(np.random.default_rng(3).random((200, 300)) < 0.02))


def test_fast_counts_equal_skimage_on_large_masks():
    """A handful of 481 x 853 masks: blobs on every border, particulate clouds, thin lines, one
    far-right strip past column 2048 (other float magnitudes in skimage's sample coordinates)."""
    rng = np.random.default_rng(5)
    h, w = 481, 853
    big = np.zeros((h, w), np.uint8)
    cv2.ellipse(big, (0, 240), (90, 60), 15, 0, 360, 1, -1)           # left border
    cv2.circle(big, (852, 480), 70, 1, -1)                             # bottom-right corner
    cv2.rectangle(big, (300, 0), (420, 30), 1, -1)                     # top border
    cv2.line(big, (100, 470), (800, 300), 1, 1)                        # a 1-px diagonal
    big[200, 400] = 1                                                  # a 1-pixel object
    particles = np.zeros((h, w), np.uint8)
    for _ in range(400):
        cv2.circle(particles, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(1, 4)), 1, -1)
    for m in (big, particles, big | particles, 1 - big):
        _assert_same(m.astype(bool), rng)
    strip = np.zeros((12, 2100), bool)
    strip[:, 2050:] = rng.random((12, 50)) < 0.6
    _assert_same(strip, rng)


def test_entropies_equal_the_skimage_path_exactly(tmp_path):
    """Official and lbp entropy reports, fast vs skimage backend in this process: identical."""
    from m3vos.analysis.entropy_report import compute_entropy
    from m3vos.data.dataset import open_dataset

    rng = np.random.default_rng(2)
    frames = []
    for t in range(5):
        ids = np.zeros((48, 64), np.uint8)
        cv2.circle(ids, (int(5 + 6 * t), 20), 9, 1, -1)                 # drifts over the border
        for _ in range(3 * t):
            cv2.circle(ids, (int(rng.integers(0, 64)), int(rng.integers(0, 48))), 2, 2, -1)
        if t == 2:
            ids[:3, :12] = 255
        frames.append(ids)
    root = make_dataset(tmp_path / "ds", {"v0": frames, "v1": frames[::-1]})
    for definition in ("official", "lbp"):
        fast = compute_entropy(open_dataset(root), definition=definition, progress=False, workers=1)
        with E.lbp_backend("skimage"):
            slow = compute_entropy(open_dataset(root), definition=definition, progress=False, workers=1)
        assert fast.per_video.equals(slow.per_video) and fast.per_object.equals(slow.per_object)
        assert fast.curves == slow.curves
        assert fast.per_video["frames_used"].sum() == 10
    with pytest.raises(ValueError):
        with E.lbp_backend("nope"):
            pass


def test_object_lbp_entropy_equals_full_frame_skimage_exactly():
    """The per-object `lbp` value from the fast crop path equals the full-frame skimage codes
    counted over the object's pixels away from void (scipy's dilation as the reference)."""
    from scipy.ndimage import binary_dilation

    rng = np.random.default_rng(11)
    for t in range(40):
        h, w = (int(x) for x in rng.integers(20, 90, 2))
        ids = np.zeros((h, w), np.uint8)
        for k in (1, 2, 3):
            cx, cy = int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5))   # often on the border
            cv2.circle(ids, (cx, cy), int(rng.integers(1, 20)), k, -1)
        if t % 2:
            ids[rng.random((h, w)) < 0.01] = 2                                    # specks
            y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
            ids[y:y + 4, x:x + 6] = 255                                           # void
        for k in (1, 2, 3, 4):
            mask = ids == k
            got = E.object_lbp_entropy(ids, k)
            band = mask & ~binary_dilation(ids == 255, E._DISK)
            if not band.any():
                assert np.isnan(got)
                continue
            c = np.bincount(_skimage_codes(mask)[band].astype(np.int64), minlength=34)
            p = c[c > 0] / c.sum()
            assert got == float(-(p * np.log2(p)).sum()), (t, k)
