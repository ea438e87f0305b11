"""Mask decoder: upsamples the per-object readout with the image skip features to stride-4
logits, and updates the sensory memory from its multi-scale features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from m3vos.trackers.cutie.group_conv import (GroupResBlock, MainToGroupDistributor,
                                             upsample_groups)
from m3vos.trackers.cutie.sensory_update import SensoryUpdater


class MaskUpsampleBlock(nn.Module):
    """Bilinear x2 of the object features, plus the (shared) skip feature, then a res block."""

    def __init__(self, in_dim: int, out_dim: int, scale_factor: int = 2) -> None:
        super().__init__()
        self.distributor = MainToGroupDistributor(method="add")
        self.out_conv = GroupResBlock(in_dim, out_dim)
        self.scale_factor = scale_factor

    def forward(self, in_g: torch.Tensor, skip_f: torch.Tensor) -> torch.Tensor:
        g = upsample_groups(in_g, ratio=self.scale_factor)
        return self.out_conv(self.distributor(skip_f, g))


class DecoderFeatureProcessor(nn.Module):
    """1x1 convs bringing the encoder's f8 and f4 to the decoder's widths."""

    def __init__(self, decoder_dims: list[int], out_dims: list[int]) -> None:
        super().__init__()
        self.transforms = nn.ModuleList(
            nn.Conv2d(d_dim, p_dim, kernel_size=1) for d_dim, p_dim in zip(decoder_dims, out_dims))

    def forward(self, multi_scale_features: list[torch.Tensor]) -> list[torch.Tensor]:
        return [func(x) for x, func in zip(multi_scale_features, self.transforms)]


class MaskDecoder(nn.Module):
    def __init__(self, embed_dim: int, sensory_dim: int, ms_image_dims: list[int],
                 up_dims: list[int]) -> None:
        super().__init__()
        if embed_dim != up_dims[0]:
            raise ValueError("mask decoder: up_dims[0] must equal embed_dim")
        self.sensory_update = SensoryUpdater([up_dims[0], up_dims[1], up_dims[2] + 1],
                                             sensory_dim, sensory_dim)
        self.decoder_feat_proc = DecoderFeatureProcessor(list(ms_image_dims[1:]),
                                                         list(up_dims[:-1]))
        self.up_16_8 = MaskUpsampleBlock(up_dims[0], up_dims[1])
        self.up_8_4 = MaskUpsampleBlock(up_dims[1], up_dims[2])
        self.pred = nn.Conv2d(up_dims[-1], 1, kernel_size=3, padding=1)

    def forward(self, ms_image_feat: list[torch.Tensor], memory_readout: torch.Tensor,
                sensory: torch.Tensor, *, chunk_size: int = -1, update_sensory: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """ms_image_feat (f16, f8, f4); memory_readout [B, N, C, h, w]; sensory [B, N, Cs, h, w]
        -> (new sensory, logits [B, N, H/4, W/4] in float32)."""
        batch_size, num_objects = memory_readout.shape[:2]
        f8, f4 = self.decoder_feat_proc(ms_image_feat[1:])
        fast_path = chunk_size < 1 or chunk_size >= num_objects
        if fast_path:
            chunk_size = num_objects
            new_sensory = sensory
        else:
            new_sensory = torch.empty_like(sensory) if update_sensory else sensory

        all_logits = []
        for i in range(0, num_objects, chunk_size):
            p16 = memory_readout if fast_path else memory_readout[:, i:i + chunk_size]
            actual_chunk_size = p16.shape[1]
            p8 = self.up_16_8(p16, f8)
            p4 = self.up_8_4(p8, f4)
            with torch.autocast(device_type=p4.device.type, enabled=False):
                logits = self.pred(F.relu(p4.flatten(start_dim=0, end_dim=1).float()))
            if update_sensory:
                p4 = torch.cat(
                    [p4, logits.view(batch_size, actual_chunk_size, 1, *logits.shape[-2:])], 2)
                if fast_path:
                    new_sensory = self.sensory_update([p16, p8, p4], sensory)
                else:
                    new_sensory[:, i:i + chunk_size] = self.sensory_update(
                        [p16, p8, p4], sensory[:, i:i + chunk_size])
            all_logits.append(logits)
        logits = torch.cat(all_logits, dim=0)
        return new_sensory, logits.view(batch_size, num_objects, *logits.shape[-2:])
