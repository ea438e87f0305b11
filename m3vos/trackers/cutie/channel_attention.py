"""Residual conv block with ECA channel attention (`CAResBlock`), used by the fusers and the
object transformer's pixel FFN; ReVOS's readout fuser reuses it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def eca_kernel_size(channels: int) -> int:
    """ECA kernel: the odd number at or above floor((log2(C) + 1) / 2); 5 for C = 256."""
    t = int((abs(math.log2(channels)) + 1) // 2)
    return t if t % 2 else t + 1


class CAResBlock(nn.Module):
    """out = conv2(relu(conv1(relu(x)))) * sigmoid(eca(avgpool(out))) + residual(x)."""

    def __init__(self, in_dim: int, out_dim: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1)
        k = eca_kernel_size(out_dim)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)
        if residual:
            self.downsample: nn.Module = (nn.Identity() if in_dim == out_dim
                                          else nn.Conv2d(in_dim, out_dim, kernel_size=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = x
        x = self.conv1(F.relu(x))
        x = self.conv2(F.relu(x))
        b, c = x.shape[:2]
        w = self.pool(x).view(b, 1, c)
        w = self.conv(w).transpose(-1, -2).unsqueeze(-1).sigmoid()  # B x C x 1 x 1
        if self.residual:
            return x * w + self.downsample(r)
        return x * w
