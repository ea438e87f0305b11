"""Object summarizer: pools each object's mask value into 16 summaries (8 from its foreground,
8 from its background), each a weighted feature sum plus the total weight (area)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m3vos.trackers.cutie.positional_encoding import PositionalEncoding


def weighted_pooling(masks: torch.Tensor, value: torch.Tensor,
                     logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """masks [B, N, h, w, Q] (1 = allowed), value [B, N, h, w, C], logits [B, N, h, w, Q]
    -> sums [B, N, Q, C], area [B, N, Q, 1]."""
    weights = logits.sigmoid() * masks
    sums = torch.einsum("bkhwq,bkhwc->bkqc", weights, value)
    area = weights.flatten(start_dim=2, end_dim=3).sum(2).unsqueeze(-1)
    return sums, area


class ObjectSummarizer(nn.Module):
    def __init__(self, value_dim: int, embed_dim: int, num_summaries: int, add_pe: bool,
                 pe_scale: float, pe_temperature: float) -> None:
        super().__init__()
        self.value_dim = value_dim
        self.embed_dim = embed_dim
        self.num_summaries = num_summaries
        self.add_pe = add_pe
        if add_pe:
            self.pos_enc = PositionalEncoding(embed_dim, scale=pe_scale,
                                              temperature=pe_temperature)
        self.input_proj = nn.Linear(value_dim, embed_dim)
        self.feature_pred = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(inplace=True),
            nn.Linear(embed_dim, embed_dim))
        self.weights_pred = nn.Sequential(
            nn.Linear(embed_dim, embed_dim), nn.ReLU(inplace=True),
            nn.Linear(embed_dim, num_summaries))

    def forward(self, masks: torch.Tensor, value: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """masks [B, N, H, W] (full resolution), value [B, N, Cv, h, w]
        -> (summaries [B, N, Q, embed_dim + 1], the pooling logits if need_weights)."""
        h, w = value.shape[-2:]
        masks = F.interpolate(masks, size=(h, w), mode="area").unsqueeze(-1)
        inv_masks = 1 - masks
        half = self.num_summaries // 2
        repeated_masks = torch.cat([masks.expand(-1, -1, -1, -1, half),
                                    inv_masks.expand(-1, -1, -1, -1, half)], dim=-1)
        value = self.input_proj(value.permute(0, 1, 3, 4, 2))
        if self.add_pe:
            value = value + self.pos_enc(value)
        with torch.autocast(device_type=value.device.type, enabled=False):
            value = value.float()
            feature = self.feature_pred(value)
            logits = self.weights_pred(value)
            sums, area = weighted_pooling(repeated_masks, feature, logits)
        summaries = torch.cat([sums, area], dim=-1)
        return summaries, (logits if need_weights else None)
