"""ResNet-18 / ResNet-50 building blocks without torchvision and without ImageNet weights.

Cutie keeps only the stem and layers 1-3 (stride 16) of its ResNets; layer4 is never built
here. Convs have no bias and are followed by BatchNorm, which the encoders keep in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += residual
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out += residual
        return self.relu(out)


@dataclass(frozen=True)
class ResNetSpec:
    block: type[BasicBlock] | type[Bottleneck]
    blocks_per_stage: tuple[int, int, int]   # layer1..layer3 (layer4 is not built)


RESNETS = {
    "resnet18": ResNetSpec(BasicBlock, (2, 2, 2)),
    "resnet50": ResNetSpec(Bottleneck, (3, 4, 6)),
}


def resnet_spec(kind: str) -> ResNetSpec:
    try:
        return RESNETS[kind]
    except KeyError:
        raise ValueError(f"unknown ResNet {kind!r} (expected one of {sorted(RESNETS)})") from None


def make_stage(block: type[BasicBlock] | type[Bottleneck], inplanes: int, planes: int,
               blocks: int, stride: int = 1) -> nn.Sequential:
    """One ResNet stage; its first block gets a 1x1 conv + BN shortcut when the shape changes."""
    downsample = None
    if stride != 1 or inplanes != planes * block.expansion:
        downsample = nn.Sequential(
            nn.Conv2d(inplanes, planes * block.expansion, kernel_size=1, stride=stride,
                      bias=False),
            nn.BatchNorm2d(planes * block.expansion),
        )
    layers = [block(inplanes, planes, stride, downsample)]
    inplanes = planes * block.expansion
    layers += [block(inplanes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNetTrunk(nn.Module):
    """Stem + layers 1-3 of a ResNet, with `in_channels` inputs (3 for images, 5 for masks).

    `forward` returns the stride-16, -8 and -4 features. BatchNorm always runs in eval mode.
    """

    def __init__(self, kind: str, in_channels: int = 3) -> None:
        super().__init__()
        spec = resnet_spec(kind)
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        e = spec.block.expansion
        n1, n2, n3 = spec.blocks_per_stage
        self.layer1 = make_stage(spec.block, 64, 64, n1)
        self.layer2 = make_stage(spec.block, 64 * e, 128, n2, stride=2)
        self.layer3 = make_stage(spec.block, 128 * e, 256, n3, stride=2)
        self.out_dims = (256 * e, 128 * e, 64 * e)  # strides 16, 8, 4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        f4 = self.layer1(x)
        f8 = self.layer2(f4)
        f16 = self.layer3(f8)
        return f16, f8, f4


class FrozenBatchNormMixin:
    """Keeps every child in eval mode (frozen BN statistics), as the official encoders do."""

    def train(self, mode: bool = True):  # type: ignore[override]
        self.training = False
        for module in self.children():  # type: ignore[attr-defined]
            module.train(False)
        return self
