"""Pixel fuser: adds the compressed sensory memory and last mask to the memory readout, then
fuses it with the frame's pixel features."""

from __future__ import annotations

import torch
from torch import nn

from m3vos.trackers.cutie.group_conv import GConv2d, GroupFeatureFusionBlock


class PixelFeatureFuser(nn.Module):
    def __init__(self, pixel_dim: int, value_dim: int, sensory_dim: int, embed_dim: int) -> None:
        super().__init__()
        self.fuser = GroupFeatureFusionBlock(pixel_dim, value_dim, embed_dim)
        self.sensory_compress = GConv2d(sensory_dim + 2, value_dim, kernel_size=1)

    def forward(self, pix_feat: torch.Tensor, pixel_memory: torch.Tensor,
                sensory_memory: torch.Tensor, last_mask: torch.Tensor, last_others: torch.Tensor,
                *, chunk_size: int = -1) -> torch.Tensor:
        """pix_feat [B, C, h, w]; pixel_memory [B, N, Cv, h, w]; sensory [B, N, Cs, h, w];
        last_mask/last_others [B, N, h, w] -> fused readout [B, N, Ce, h, w]."""
        num_objects = pixel_memory.shape[1]
        last_mask = torch.stack([last_mask, last_others], dim=2)
        if chunk_size < 1:
            chunk_size = num_objects
        all_p16 = []
        for i in range(0, num_objects, chunk_size):
            sensory_readout = self.sensory_compress(
                torch.cat([sensory_memory[:, i:i + chunk_size], last_mask[:, i:i + chunk_size]],
                          2))
            p16 = pixel_memory[:, i:i + chunk_size] + sensory_readout
            all_p16.append(self.fuser(pix_feat, p16))
        return torch.cat(all_p16, dim=1)
