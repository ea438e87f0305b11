"""Layers over per-object tensors [B, N, C, H, W]: the object axis is folded into the batch,
an ordinary layer runs, and the axis is unfolded again. Weight names stay the plain ones."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m3vos.trackers.cutie.channel_attention import CAResBlock


def interpolate_groups(g: torch.Tensor, ratio: float, mode: str,
                       align_corners: bool | None) -> torch.Tensor:
    batch_size, num_objects = g.shape[:2]
    g = F.interpolate(g.flatten(start_dim=0, end_dim=1), scale_factor=ratio, mode=mode,
                      align_corners=align_corners)
    return g.view(batch_size, num_objects, *g.shape[1:])


def upsample_groups(g: torch.Tensor, ratio: float = 2, mode: str = "bilinear",
                    align_corners: bool = False) -> torch.Tensor:
    return interpolate_groups(g, ratio, mode, align_corners)


def downsample_groups(g: torch.Tensor, ratio: float = 1 / 2, mode: str = "area",
                      align_corners: bool | None = None) -> torch.Tensor:
    return interpolate_groups(g, ratio, mode, align_corners)


class GConv2d(nn.Conv2d):
    """A Conv2d applied to every object of a [B, N, C, H, W] tensor."""

    def forward(self, g: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        batch_size, num_objects = g.shape[:2]
        g = super().forward(g.flatten(start_dim=0, end_dim=1))
        return g.view(batch_size, num_objects, *g.shape[1:])


class GroupResBlock(nn.Module):
    """Pre-activation residual block on per-object features (no norm)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.downsample: nn.Module = (nn.Identity() if in_dim == out_dim
                                      else GConv2d(in_dim, out_dim, kernel_size=1))
        self.conv1 = GConv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.conv2 = GConv2d(out_dim, out_dim, kernel_size=3, padding=1)

    def forward(self, g: torch.Tensor) -> torch.Tensor:
        out_g = self.conv1(F.relu(g))
        out_g = self.conv2(F.relu(out_g))
        return out_g + self.downsample(g)


class MainToGroupDistributor(nn.Module):
    """Broadcasts a shared image feature x [B, C, H, W] over the objects of g and combines
    them: 'cat' puts x first along channels, 'add' sums (after optional transforms)."""

    def __init__(self, x_transform: nn.Module | None = None, g_transform: nn.Module | None = None,
                 method: str = "cat") -> None:
        super().__init__()
        if method not in ("cat", "add"):
            raise ValueError(f"unknown distributor method {method!r}")
        self.x_transform = x_transform
        self.g_transform = g_transform
        self.method = method

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        num_objects = g.shape[1]
        if self.x_transform is not None:
            x = self.x_transform(x)
        if self.g_transform is not None:
            g = self.g_transform(g)
        x = x.unsqueeze(1).expand(-1, num_objects, -1, -1, -1)
        if self.method == "cat":
            return torch.cat([x, g], 2)
        return x + g


class GroupFeatureFusionBlock(nn.Module):
    """x_transform(x) + g_transform(g), then two CAResBlocks, per object."""

    def __init__(self, x_in_dim: int, g_in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.distributor = MainToGroupDistributor(
            x_transform=nn.Conv2d(x_in_dim, out_dim, kernel_size=1),
            g_transform=GConv2d(g_in_dim, out_dim, kernel_size=1),
            method="add")
        self.block1 = CAResBlock(out_dim, out_dim)
        self.block2 = CAResBlock(out_dim, out_dim)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        batch_size, num_objects = g.shape[:2]
        g = self.distributor(x, g).flatten(start_dim=0, end_dim=1)
        g = self.block2(self.block1(g))
        return g.view(batch_size, num_objects, *g.shape[1:])
