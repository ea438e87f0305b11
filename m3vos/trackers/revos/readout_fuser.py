"""The learned readout fuser of ReVOS: in a reverse step, mixes the frame's reverse readout with
the readout stored for the same frame during its forward step.

It is the only trained part of ReVOS (everything else is frozen Cutie-base), so its parameter
names must equal the official `readout_fuser.*` keys exactly: `distributor.{x,g}_transform`,
`block1` (a 2C -> C channel-attention residual block) and `block2` (C -> C).

Naming trap in the official code: `GroupReadoutFuser.forward(f_readout, b_readout)` is called
with the *reverse* readout first. Here the arguments are named for what they hold, and the
reverse readout goes through `x_transform` and comes first in the concatenation, as it does
there.
"""

from __future__ import annotations

import torch
from torch import nn

from m3vos.trackers.cutie.channel_attention import CAResBlock


class ReadoutDistributor(nn.Module):
    """Per-object 1x1 projections of both readouts, concatenated reverse-first along channels."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.x_transform = nn.Conv2d(dim, dim, kernel_size=1)   # reverse readout
        self.g_transform = nn.Conv2d(dim, dim, kernel_size=1)   # forward readout

    def forward(self, reverse_readout: torch.Tensor, forward_readout: torch.Tensor) -> torch.Tensor:
        # inputs are B x N x C x h x w; fold the object axis into the batch for the convs
        x = reverse_readout.flatten(0, 1)
        g = forward_readout.flatten(0, 1)
        return torch.cat([self.x_transform(x), self.g_transform(g)], dim=1)


class ReadoutFuser(nn.Module):
    """`readout_fuser`: (reverse readout, forward readout) -> the readout the decoder gets."""

    def __init__(self, value_dim: int = 256) -> None:
        super().__init__()
        self.distributor = ReadoutDistributor(value_dim)
        self.block1 = CAResBlock(2 * value_dim, value_dim)
        self.block2 = CAResBlock(value_dim, value_dim)

    def forward(self, reverse_readout: torch.Tensor, forward_readout: torch.Tensor) -> torch.Tensor:
        batch_size, num_objects = reverse_readout.shape[:2]
        g = self.distributor(reverse_readout, forward_readout)
        g = self.block2(self.block1(g))
        return g.view(batch_size, num_objects, *g.shape[1:])
