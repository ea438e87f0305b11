"""Small tensor helpers shared by the network and the inference core."""

from __future__ import annotations

import torch


def aggregate(prob: torch.Tensor, dim: int) -> torch.Tensor:
    """Per-object probabilities -> log-odds with a background channel first.

    The background is prod(1 - p); every channel is clamped to [1e-7, 1 - 1e-7] before
    log(p / (1 - p)). A softmax of the result gives the (N+1)-way probabilities.
    """
    with torch.autocast(device_type=prob.device.type, enabled=False):
        prob = prob.float()
        new_prob = torch.cat([torch.prod(1 - prob, dim=dim, keepdim=True), prob],
                             dim).clamp(1e-7, 1 - 1e-7)
        return torch.log(new_prob / (1 - new_prob))


def get_others(masks: torch.Tensor) -> torch.Tensor:
    """For each object [B, N, ...], the clamped sum of the other objects' masks."""
    if masks.shape[1] >= 1:
        return (masks.sum(dim=1, keepdim=True) - masks).clamp(0, 1)
    return torch.zeros_like(masks)
