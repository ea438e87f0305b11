"""J_cc: how well the 8-connected pieces of an object are recovered (the M3-VOS metric).

Official rule (`db_eval_blob_torch`): label the 8-connected components of the GT mask and of
the predicted mask; a frame where either side has no component scores 0; otherwise the
maximum-weight one-to-one matching of the IoU matrix (IoU denominators get +1e-10) summed and
divided by the number of GT components. The official code builds dense one-hot maps
(#GT x #pred x H x W); here only component pairs that overlap enter the matrix (the others
have IoU 0 and cannot change the optimum) and the bipartite overlap graph is split into its
connected parts, each solved by `linear_sum_assignment`.

The greedy `--origin_Jcc` variant (`db_eval_blob`) is reproduced with its quirks, see
`jcc_greedy`.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

IOU_EPS = 1e-10
#: The greedy variant's list of predicted components can grow (see `jcc_greedy`). Beyond this
#: length the official code would need that many full-frame component maps (terabytes); m3vos
#: then keeps only this prefix, which is all a real run of the official code could ever use.
GREEDY_STACK_CAP = 1 << 16


def label_components(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """(count, labels) of the 8-connected components of a boolean mask (labels 1..count)."""
    n, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    return n - 1, labels


def _overlaps(gt: np.ndarray, gl: np.ndarray, n_gt: int, pred: np.ndarray, pl: np.ndarray, n_pred: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Component sizes and the overlapping (gt, pred, intersection) triples (0-based ids)."""
    gt_size = np.bincount(gl.ravel(), minlength=n_gt + 1)[1:]
    pred_size = np.bincount(pl.ravel(), minlength=n_pred + 1)[1:]
    both = np.flatnonzero(gt & pred)  # only overlapping pixels can pair components
    codes = (gl.ravel()[both].astype(np.int64) - 1) * n_pred + (pl.ravel()[both] - 1)
    if n_gt * n_pred <= 1 << 16:
        table = np.bincount(codes, minlength=n_gt * n_pred)
        pairs = np.flatnonzero(table)
        inter = table[pairs]
    else:
        pairs, inter = np.unique(codes, return_counts=True)
    return gt_size, pred_size, pairs // n_pred, pairs % n_pred, inter


def _both_labelled(gt: np.ndarray, pred: np.ndarray, label: Callable[[np.ndarray], tuple[int, np.ndarray]]
                   ) -> tuple[int, np.ndarray, int, np.ndarray] | None:
    """(n, labels) of the GT then the prediction; None when either has no component (J_cc 0),
    without labelling the prediction when the GT is empty."""
    n_gt, gl = label(gt)
    if n_gt == 0:
        return None
    n_pred, pl = label(pred)
    if n_pred == 0:
        return None
    return n_gt, gl, n_pred, pl


def jcc_hungarian(gt: np.ndarray, pred: np.ndarray, inter: int | None = None, union: int | None = None) -> float:
    """Official (Hungarian) J_cc of one frame for boolean masks (full frame or a shared crop).

    `inter`/`union` (pixel counts of the two masks, when the caller has them) short-cut the
    common one-component-each case.
    """
    both = _both_labelled(gt, pred, label_components)
    if both is None:
        return 0.0
    n_gt, gl, n_pred, pl = both
    if n_gt == 1 and n_pred == 1 and inter is not None and union is not None:
        return inter / (union + IOU_EPS)
    gt_size, pred_size, gi, pj, inter_px = _overlaps(gt, gl, n_gt, pred, pl, n_pred)
    if len(inter_px) == 0:
        return 0.0
    iou = inter_px / (gt_size[gi] + pred_size[pj] - inter_px + IOU_EPS)
    return _max_matching(gi, pj, iou) / n_gt


def _blocks(gi: np.ndarray, pj: np.ndarray) -> np.ndarray:
    """Connected part of each edge of the bipartite overlap graph (union-find over the edges)."""
    parent: dict[tuple[int, int], tuple[int, int]] = {}

    def find(x: tuple[int, int]) -> tuple[int, int]:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent.get(x, x)
        return root

    for g, p in zip(gi.tolist(), pj.tolist()):
        a, b = find((0, g)), find((1, p))
        if a != b:
            parent[a] = b
    roots: dict[tuple[int, int], int] = {}
    return np.array([roots.setdefault(find((0, g)), len(roots)) for g in gi.tolist()])


def _max_matching(gi: np.ndarray, pj: np.ndarray, iou: np.ndarray) -> float:
    """Total IoU of the maximum-weight matching over the sparse bipartite graph."""
    from scipy.optimize import linear_sum_assignment  # lazy: importing scipy.optimize costs 0.3 s

    n_rows, n_cols = len(np.unique(gi)), len(np.unique(pj))
    if n_rows == 1 or n_cols == 1:
        return float(iou.max())
    if n_rows * n_cols <= 256:
        edge_part = np.zeros(len(iou), dtype=np.int64)
    else:
        edge_part = _blocks(gi, pj)
    sizes = np.bincount(edge_part)
    lone = sizes[edge_part] == 1           # a pair that overlaps nothing else: always matched
    total = float(iou[lone].sum())
    rest = np.flatnonzero(~lone)
    order = rest[np.argsort(edge_part[rest], kind="stable")]
    bounds = np.flatnonzero(np.diff(edge_part[order])) + 1
    for block in np.split(order, bounds) if len(order) else []:
        r_ids, r_c = np.unique(gi[block], return_inverse=True)
        c_ids, c_c = np.unique(pj[block], return_inverse=True)
        if len(r_ids) == 1 or len(c_ids) == 1:
            total += float(iou[block].max())
            continue
        dense = np.zeros((len(r_ids), len(c_ids)))
        dense[r_c, c_c] = iou[block]
        r, c = linear_sum_assignment(dense, maximize=True)
        total += float(dense[r, c].sum())
    return total


def _raster_order_labels(mask: np.ndarray) -> tuple[int, np.ndarray]:
    """Components numbered in raster order of their first pixel (skimage `label` order),
    which the greedy variant's iteration order depends on."""
    n, labels = label_components(mask)
    if n <= 1:
        return n, labels
    flat = labels.ravel()
    nz = np.flatnonzero(flat)
    first = np.full(n + 1, flat.size, dtype=np.int64)
    np.minimum.at(first, flat[nz], nz)
    order = np.argsort(first[1:], kind="stable")  # new position -> old label - 1
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[order + 1] = np.arange(1, n + 1, dtype=np.int32)
    return n, remap[labels]


def jcc_greedy(gt: np.ndarray, pred: np.ndarray, inter: int | None = None, union: int | None = None) -> float:
    """The official `--origin_Jcc` variant, quirks included.

    Each GT component in label order takes the remaining predicted component of highest IoU
    (> 0, first one on ties) and removes it from the list. When no remaining component
    overlaps, the official code's `concatenate([a[:-1], a[0:]])` (index -1) makes the list
    `a[:-1] + a`: it grows instead of staying unchanged. The loop stops when the list is
    empty, and the frame scores the mean over the GT components processed so far.
    """
    both = _both_labelled(gt, pred, _raster_order_labels)
    if both is None:
        return 0.0
    n_gt, gl, n_pred, pl = both
    gt_size, pred_size, gi, pj, inter_px = _overlaps(gt, gl, n_gt, pred, pl, n_pred)
    iou = inter_px / (gt_size[gi] + pred_size[pj] - inter_px)
    candidates: dict[int, dict[int, float]] = {}
    for g, p, v in zip(gi.tolist(), pj.tolist(), iou.tolist()):
        candidates.setdefault(g, {})[p] = v
    stack = np.arange(n_pred, dtype=np.int32)
    length = n_pred  # true length; `stack` may hold only a prefix of it (GREEDY_STACK_CAP)
    scores: list[float] = []
    for g in range(n_gt):
        if length == 0:
            break
        cand = candidates.get(g)
        best_pos = -1
        best = 0.0
        if cand:
            lut = np.zeros(n_pred, dtype=np.float64)
            for p, v in cand.items():
                lut[p] = v
            vals = lut[stack]
            pos = int(np.argmax(vals))
            if vals[pos] > 0:
                best_pos, best = pos, float(vals[pos])
        scores.append(best)
        if best_pos >= 0:
            stack = np.delete(stack, best_pos)
            length -= 1
        else:
            if len(stack) == length:
                stack = np.concatenate([stack[:-1], stack])
            length = 2 * length - 1
            stack = stack[:GREEDY_STACK_CAP]
    return float(np.mean(scores)) if scores else 0.0
