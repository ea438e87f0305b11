"""Sensory memory updates: a GRU-like gated rule on per-object hidden state [B, N, C, h, w].

`SensoryUpdater` runs in the mask decoder on every segmented frame (multi-scale input);
`SensoryDeepUpdater` runs in the mask encoder on memory frames. Both run in float32.
"""

from __future__ import annotations

import torch
from torch import nn

from m3vos.trackers.cutie.group_conv import GConv2d, downsample_groups


def recurrent_update(h: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """h' = f*h*(1-u) + u*n with f, u, n = sigmoid, sigmoid, tanh of the three channel thirds."""
    dim = values.shape[2] // 3
    forget_gate = torch.sigmoid(values[:, :, :dim])
    update_gate = torch.sigmoid(values[:, :, dim:dim * 2])
    new_value = torch.tanh(values[:, :, dim * 2:])
    return forget_gate * h * (1 - update_gate) + update_gate * new_value


def _autocast_off(device_type: str):
    return torch.autocast(device_type=device_type, enabled=False)


class SensoryUpdater(nn.Module):
    """Decoder-side update from the stride-16, 8 and 4 decoder features."""

    def __init__(self, g_dims: list[int], mid_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.g16_conv = GConv2d(g_dims[0], mid_dim, kernel_size=1)
        self.g8_conv = GConv2d(g_dims[1], mid_dim, kernel_size=1)
        self.g4_conv = GConv2d(g_dims[2], mid_dim, kernel_size=1)
        self.transform = GConv2d(mid_dim + sensory_dim, sensory_dim * 3, kernel_size=3,
                                 padding=1)

    def forward(self, g: list[torch.Tensor], h: torch.Tensor) -> torch.Tensor:
        x = self.g16_conv(g[0]) + self.g8_conv(downsample_groups(g[1], ratio=1 / 2)) + \
            self.g4_conv(downsample_groups(g[2], ratio=1 / 4))
        with _autocast_off(h.device.type):
            x = x.float()
            h = h.float()
            values = self.transform(torch.cat([x, h], dim=2))
            return recurrent_update(h, values)


class SensoryDeepUpdater(nn.Module):
    """Encoder-side ("deep") update from the mask value."""

    def __init__(self, f_dim: int, sensory_dim: int) -> None:
        super().__init__()
        self.transform = GConv2d(f_dim + sensory_dim, sensory_dim * 3, kernel_size=3, padding=1)

    def forward(self, g: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        with _autocast_off(h.device.type):
            g = g.float()
            h = h.float()
            values = self.transform(torch.cat([g, h], dim=2))
            return recurrent_update(h, values)
