"""Image encoder: a ResNet trunk giving features at strides 16, 8 and 4 (f16, f8, f4)."""

from __future__ import annotations

import torch
from torch import nn

from m3vos.trackers.cutie.resnet import FrozenBatchNormMixin, ResNetTrunk


class PixelEncoder(FrozenBatchNormMixin, nn.Module):
    """ResNet-18/50 stem and layers 1-3. The first stage is called `res2` in the checkpoints."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        trunk = ResNetTrunk(kind, in_channels=3)
        self.conv1 = trunk.conv1
        self.bn1 = trunk.bn1
        self.relu = trunk.relu
        self.maxpool = trunk.maxpool
        self.res2 = trunk.layer1
        self.layer2 = trunk.layer2
        self.layer3 = trunk.layer3
        self.out_dims = trunk.out_dims

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: normalised image [B, 3, H, W] -> (f16, f8, f4)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = self.res2(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4
