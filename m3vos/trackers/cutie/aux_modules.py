"""Training-only auxiliary head. It does nothing at inference, but its weights are in every
official checkpoint, so it is built for strict loading (and `compute_aux` works)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from m3vos.trackers.cutie.group_conv import GConv2d
from m3vos.trackers.cutie.tensor_ops import aggregate


class LinearPredictor(nn.Module):
    """Per-object linear classifier of the pixel features, predicted from the sensory memory."""

    def __init__(self, x_dim: int, pix_dim: int) -> None:
        super().__init__()
        self.projection = GConv2d(x_dim, pix_dim + 1, kernel_size=1)

    def forward(self, pix_feat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        num_objects = x.shape[1]
        x = self.projection(x)
        pix_feat = pix_feat.unsqueeze(1).expand(-1, num_objects, -1, -1, -1)
        return (pix_feat * x[:, :, :-1]).sum(dim=2) + x[:, :, -1]


class AuxComputer(nn.Module):
    def __init__(self, sensory_dim: int, embed_dim: int, use_sensory_aux: bool = True,
                 use_query_aux: bool = True) -> None:
        super().__init__()
        self.sensory_aux = LinearPredictor(sensory_dim, embed_dim) if use_sensory_aux else None
        self.use_query_aux = use_query_aux

    @staticmethod
    def _aggregate_with_selector(logits: torch.Tensor,
                                 selector: torch.Tensor | None) -> torch.Tensor:
        prob = torch.sigmoid(logits)
        if selector is not None:
            prob = prob * selector
        return aggregate(prob, dim=1)

    def forward(self, pix_feat: torch.Tensor, aux_input: dict[str, Any],
                selector: torch.Tensor | None) -> dict[str, torch.Tensor | None]:
        aux_output: dict[str, torch.Tensor | None] = {"attn_mask": aux_input.get("attn_mask")}
        if self.sensory_aux is not None:
            logits = self.sensory_aux(pix_feat, aux_input["sensory"])
            aux_output["sensory_logits"] = self._aggregate_with_selector(logits, selector)
        q_logits = aux_input.get("q_logits")
        if self.use_query_aux and q_logits is not None:
            aux_output["q_logits"] = self._aggregate_with_selector(
                torch.stack(q_logits, dim=2),
                selector.unsqueeze(2) if selector is not None else None)
        return aux_output
