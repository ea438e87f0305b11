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


def _overlaps(gt_labels: np.ndarray, n_gt: int, pred_labels: np.ndarray, n_pred: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Component sizes and the overlapping (gt, pred, intersection) triples (0-based ids)."""
    g = gt_labels.ravel()
    p = pred_labels.ravel()
    gt_size = np.bincount(g, minlength=n_gt + 1)[1:]
    pred_size = np.bincount(p, minlength=n_pred + 1)[1:]
    both = (g > 0) & (p > 0)
    codes = (g[both].astype(np.int64) - 1) * n_pred + (p[both].astype(np.int64) - 1)
    uniq, inter = np.unique(codes, return_counts=True)
    return gt_size, pred_size, uniq // n_pred, uniq % n_pred, inter


def jcc_hungarian(gt: np.ndarray, pred: np.ndarray) -> float:
    """Official (Hungarian) J_cc of one frame for boolean masks (full frame or a shared crop)."""
    n_gt, gl = label_components(gt)
    if n_gt == 0:
        return 0.0
    n_pred, pl = label_components(pred)
    if n_pred == 0:
        return 0.0
    gt_size, pred_size, gi, pj, inter = _overlaps(gl, n_gt, pl, n_pred)
    if len(inter) == 0:
        return 0.0
    iou = inter / (gt_size[gi] + pred_size[pj] - inter + IOU_EPS)
    return _max_matching(gi, pj, iou) / n_gt


def _max_matching(gi: np.ndarray, pj: np.ndarray, iou: np.ndarray) -> float:
    """Total IoU of the maximum-weight matching over the sparse bipartite graph."""
    rows, gi_c = np.unique(gi, return_inverse=True)
    cols, pj_c = np.unique(pj, return_inverse=True)
    if len(rows) == 1 or len(cols) == 1:
        return float(iou.max())
    from scipy.optimize import linear_sum_assignment  # lazy: importing scipy.optimize costs 0.3 s

    if len(rows) * len(cols) <= 4096:
        dense = np.zeros((len(rows), len(cols)))
        dense[gi_c, pj_c] = iou
        r, c = linear_sum_assignment(dense, maximize=True)
        return float(dense[r, c].sum())
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nr = len(rows)
    graph = coo_matrix((np.ones(len(iou)), (gi_c, nr + pj_c)), shape=(nr + len(cols),) * 2)
    _, part = connected_components(graph, directed=False)
    edge_part = part[gi_c]
    order = np.argsort(edge_part, kind="stable")
    bounds = np.flatnonzero(np.diff(edge_part[order])) + 1
    total = 0.0
    for block in np.split(order, bounds):
        if len(block) == 1:
            total += float(iou[block[0]])
            continue
        r_ids, r_c = np.unique(gi_c[block], return_inverse=True)
        c_ids, c_c = np.unique(pj_c[block], return_inverse=True)
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


def jcc_greedy(gt: np.ndarray, pred: np.ndarray) -> float:
    """The official `--origin_Jcc` variant, quirks included.

    Each GT component in label order takes the remaining predicted component of highest IoU
    (> 0, first one on ties) and removes it from the list. When no remaining component
    overlaps, the official code's `concatenate([a[:-1], a[0:]])` (index -1) makes the list
    `a[:-1] + a`: it grows instead of staying unchanged. The loop stops when the list is
    empty, and the frame scores the mean over the GT components processed so far.
    """
    n_gt, gl = _raster_order_labels(gt)
    if n_gt == 0:
        return 0.0
    n_pred, pl = _raster_order_labels(pred)
    if n_pred == 0:
        return 0.0
    gt_size, pred_size, gi, pj, inter = _overlaps(gl, n_gt, pl, n_pred)
    iou = inter / (gt_size[gi] + pred_size[pj] - inter)
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
