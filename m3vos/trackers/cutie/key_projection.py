"""Key projection: the memory-matching key, its shrinkage and its selection (XMem-style
anisotropic L2)."""

from __future__ import annotations

import torch
from torch import nn


class KeyProjection(nn.Module):
    def __init__(self, in_dim: int, mid_dim: int, key_dim: int) -> None:
        super().__init__()
        self.pix_feat_proj = nn.Conv2d(in_dim, mid_dim, kernel_size=1)
        self.key_proj = nn.Conv2d(mid_dim, key_dim, kernel_size=3, padding=1)
        self.d_proj = nn.Conv2d(mid_dim, 1, kernel_size=3, padding=1)        # shrinkage
        self.e_proj = nn.Conv2d(mid_dim, key_dim, kernel_size=3, padding=1)  # selection

    def forward(self, x: torch.Tensor, *, need_s: bool, need_e: bool
                ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """x: f16 [B, C16, h, w] -> key [B, Ck, h, w], shrinkage [B, 1, h, w] (>= 1),
        selection [B, Ck, h, w] in (0, 1); shrinkage/selection are None when not asked for."""
        x = self.pix_feat_proj(x)
        shrinkage = self.d_proj(x) ** 2 + 1 if need_s else None
        selection = torch.sigmoid(self.e_proj(x)) if need_e else None
        return self.key_proj(x), shrinkage, selection
