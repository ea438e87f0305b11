"""Mask encoder: turns an image plus each object's mask (and the union of the others) into the
object's memory value, and deep-updates its sensory memory. Runs on memory frames only."""

from __future__ import annotations

import torch
from torch import nn

from m3vos.trackers.cutie.group_conv import GroupFeatureFusionBlock, MainToGroupDistributor
from m3vos.trackers.cutie.resnet import FrozenBatchNormMixin, ResNetTrunk
from m3vos.trackers.cutie.sensory_update import SensoryDeepUpdater


class MaskEncoder(FrozenBatchNormMixin, nn.Module):
    def __init__(self, kind: str, pixel_dim: int, value_dim: int, sensory_dim: int,
                 final_dim: int) -> None:
        super().__init__()
        trunk = ResNetTrunk(kind, in_channels=3 + 2)  # image, this object, the others
        self.conv1 = trunk.conv1
        self.bn1 = trunk.bn1
        self.relu = trunk.relu
        self.maxpool = trunk.maxpool
        self.layer1 = trunk.layer1
        self.layer2 = trunk.layer2
        self.layer3 = trunk.layer3
        self.distributor = MainToGroupDistributor()
        self.fuser = GroupFeatureFusionBlock(pixel_dim, final_dim, value_dim)
        self.sensory_update = SensoryDeepUpdater(value_dim, sensory_dim)

    def forward(self, image: torch.Tensor, pix_feat: torch.Tensor, sensory: torch.Tensor,
                masks: torch.Tensor, others: torch.Tensor, *, deep_update: bool = True,
                chunk_size: int = -1) -> tuple[torch.Tensor, torch.Tensor]:
        """image [B, 3, H, W] (normalised), pix_feat [B, C, h, w], sensory [B, N, Cs, h, w],
        masks/others [B, N, H, W] -> (mask value [B, N, Cv, h, w], new sensory)."""
        g = self.distributor(image, torch.stack([masks, others], dim=2))
        batch_size, num_objects = g.shape[:2]
        fast_path = chunk_size < 1 or chunk_size >= num_objects
        if fast_path:
            chunk_size = num_objects
            new_sensory = sensory
        else:
            new_sensory = torch.empty_like(sensory) if deep_update else sensory

        all_g = []
        for i in range(0, num_objects, chunk_size):
            g_chunk = g if fast_path else g[:, i:i + chunk_size]
            actual_chunk_size = g_chunk.shape[1]
            g_chunk = g_chunk.flatten(start_dim=0, end_dim=1)
            # conv1 -> bn1 -> maxpool -> relu: the official order (equal to relu -> maxpool).
            g_chunk = self.relu(self.maxpool(self.bn1(self.conv1(g_chunk))))
            g_chunk = self.layer3(self.layer2(self.layer1(g_chunk)))
            g_chunk = g_chunk.view(batch_size, actual_chunk_size, *g_chunk.shape[1:])
            g_chunk = self.fuser(pix_feat, g_chunk)
            all_g.append(g_chunk)
            if deep_update:
                if fast_path:
                    new_sensory = self.sensory_update(g_chunk, sensory)
                else:
                    new_sensory[:, i:i + chunk_size] = self.sensory_update(
                        g_chunk, sensory[:, i:i + chunk_size])
        return torch.cat(all_g, dim=1), new_sensory
