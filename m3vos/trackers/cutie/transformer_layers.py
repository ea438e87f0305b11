"""Attention and feed-forward layers of the object transformer.

The attention layers normalise their input first and add the residual to the NORMALISED
input (not the raw one), as the official code does; `nn.MultiheadAttention` keeps the packed
`in_proj_weight` checkpoint layout and its boolean-mask meaning (True = blocked).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m3vos.trackers.cutie.channel_attention import CAResBlock


class SelfAttention(nn.Module):
    def __init__(self, dim: int, nhead: int,
                 add_pe_to_qkv: tuple[bool, bool, bool] = (True, True, False)) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, nhead, dropout=0.0, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.add_pe_to_qkv = tuple(add_pe_to_qkv)

    def forward(self, x: torch.Tensor, pe: torch.Tensor,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(x)
        if any(self.add_pe_to_qkv):
            x_with_pe = x + pe
            q = x_with_pe if self.add_pe_to_qkv[0] else x
            k = x_with_pe if self.add_pe_to_qkv[1] else x
            v = x_with_pe if self.add_pe_to_qkv[2] else x
        else:
            q = k = v = x
        # need_weights left at its default (True), as officially: it selects MHA's explicit
        # softmax path rather than fused attention, which matters at the 1e-7 level.
        out = self.self_attn(q, k, v, attn_mask=attn_mask)[0]
        return x + out


class CrossAttention(nn.Module):
    def __init__(self, dim: int, nhead: int,
                 add_pe_to_qkv: tuple[bool, bool, bool] = (True, True, False),
                 residual: bool = True, norm: bool = True) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(dim, nhead, dropout=0.0, batch_first=True)
        self.norm: nn.Module = nn.LayerNorm(dim) if norm else nn.Identity()
        self.add_pe_to_qkv = tuple(add_pe_to_qkv)
        self.residual = residual

    def forward(self, x: torch.Tensor, mem: torch.Tensor, x_pe: torch.Tensor,
                mem_pe: torch.Tensor, attn_mask: torch.Tensor | None = None, *,
                need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x [B, Lq, C] attends to mem [B, Lm, C]; attn_mask [B*heads, Lq, Lm], True = blocked.
        Returns (output, per-head weights or None)."""
        x = self.norm(x)
        q = x + x_pe if self.add_pe_to_qkv[0] else x
        if any(self.add_pe_to_qkv[1:]):
            mem_with_pe = mem + mem_pe
            k = mem_with_pe if self.add_pe_to_qkv[1] else mem
            v = mem_with_pe if self.add_pe_to_qkv[2] else mem
        else:
            k = v = mem
        out, weights = self.cross_attn(q, k, v, attn_mask=attn_mask, need_weights=need_weights,
                                       average_attn_weights=False)
        return (x + out if self.residual else out), weights


class FFN(nn.Module):
    """Pre-norm MLP with the residual on the un-normalised input."""

    def __init__(self, dim_in: int, dim_ff: int) -> None:
        super().__init__()
        self.linear1 = nn.Linear(dim_in, dim_ff)
        self.linear2 = nn.Linear(dim_ff, dim_in)
        self.norm = nn.LayerNorm(dim_in)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.linear2(F.relu(self.linear1(self.norm(x))))


class PixelFFN(nn.Module):
    """A CAResBlock over the pixel map; the residual comes from the attention output."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.conv = CAResBlock(dim, dim)

    def forward(self, pixel: torch.Tensor, pixel_flat: torch.Tensor) -> torch.Tensor:
        """pixel [B, N, C, h, w] (for its shape); pixel_flat [B*N, h*w, C] -> [B, N, C, h, w]."""
        bs, num_objects, _, h, w = pixel.shape
        pixel_flat = pixel_flat.view(bs * num_objects, h, w, self.dim)
        pixel_flat = pixel_flat.permute(0, 3, 1, 2).contiguous()
        return self.conv(pixel_flat).view(bs, num_objects, self.dim, h, w)
