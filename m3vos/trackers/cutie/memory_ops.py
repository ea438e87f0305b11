"""Memory matching (XMem's anisotropic L2 affinity), shared by the inference core's memory
and the network's training-style `read_memory`.

The op order is the official one (-a^2 + 2ab - b^2, then * shrinkage / sqrt(Ck)); the top-k
softmax does NOT subtract the maximum (exp of the raw top-k values), the full one does.
"""

from __future__ import annotations

import math
from typing import Literal, overload

import torch


def get_similarity(mk: torch.Tensor, ms: torch.Tensor | None, qk: torch.Tensor,
                   qe: torch.Tensor | None, add_batch_dim: bool = False) -> torch.Tensor:
    """mk [B, Ck, N] memory keys, ms [B, 1, N] shrinkage, qk/qe [B, Ck, HW] query key and
    selection (trailing dims are flattened) -> similarity [B, N, HW]."""
    if add_batch_dim:
        mk, ms = mk.unsqueeze(0), (ms.unsqueeze(0) if ms is not None else None)
        qk, qe = qk.unsqueeze(0), (qe.unsqueeze(0) if qe is not None else None)
    ck = mk.shape[1]
    mk = mk.flatten(start_dim=2)
    ms = ms.flatten(start_dim=1).unsqueeze(2) if ms is not None else None
    qk = qk.flatten(start_dim=2)
    qe = qe.flatten(start_dim=2) if qe is not None else None

    if qe is not None:
        mk = mk.transpose(1, 2)
        a_sq = mk.pow(2) @ qe
        two_ab = 2 * (mk @ (qk * qe))
        b_sq = (qe * qk.pow(2)).sum(1, keepdim=True)
        similarity = -a_sq + two_ab - b_sq
    else:
        a_sq = mk.pow(2).sum(1).unsqueeze(2)
        two_ab = 2 * (mk.transpose(1, 2) @ qk)
        similarity = -a_sq + two_ab

    if ms is not None:
        return similarity * ms / math.sqrt(ck)
    return similarity / math.sqrt(ck)


@overload
def do_softmax(similarity: torch.Tensor, top_k: int | None = None, inplace: bool = False,
               return_usage: Literal[False] = False) -> torch.Tensor: ...


@overload
def do_softmax(similarity: torch.Tensor, top_k: int | None = None, inplace: bool = False, *,
               return_usage: Literal[True]) -> tuple[torch.Tensor, torch.Tensor]: ...


def do_softmax(similarity: torch.Tensor, top_k: int | None = None, inplace: bool = False,
               return_usage: bool = False
               ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Softmax over memory positions (dim 1). With top_k: only the k best per query pixel,
    exp of the raw values (no max shift, as officially), scattered into zeros.
    With return_usage: also the affinity summed over query pixels [B, N]."""
    if top_k is not None:
        values, indices = torch.topk(similarity, k=top_k, dim=1)
        x_exp = values.exp_()
        x_exp /= torch.sum(x_exp, dim=1, keepdim=True)
        if inplace:
            similarity.zero_().scatter_(1, indices, x_exp)
            affinity = similarity
        else:
            affinity = torch.zeros_like(similarity).scatter_(1, indices, x_exp)
    else:
        maxes = torch.max(similarity, dim=1, keepdim=True)[0]
        x_exp = torch.exp(similarity - maxes)
        affinity = x_exp / torch.sum(x_exp, dim=1, keepdim=True)
    if return_usage:
        return affinity, affinity.sum(dim=2)
    return affinity


def get_affinity(mk: torch.Tensor, ms: torch.Tensor, qk: torch.Tensor,
                 qe: torch.Tensor) -> torch.Tensor:
    """Full-softmax affinity (training-style read)."""
    return do_softmax(get_similarity(mk, ms, qk, qe))  # type: ignore[return-value]


def readout(affinity: torch.Tensor, mv: torch.Tensor) -> torch.Tensor:
    """affinity [B, T*h*w, h*w] applied to values mv [B, Cv, T, h, w] -> [B, Cv, h, w]."""
    b, cv, t, h, w = mv.shape
    mem = torch.bmm(mv.view(b, cv, t * h * w), affinity)
    return mem.view(b, cv, h, w)
