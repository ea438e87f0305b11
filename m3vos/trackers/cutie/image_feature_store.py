"""A per-frame cache of image features, so one frame is encoded once per step.

The image encoder is the most expensive part of a step; the mask encoder and the memory read
both need its outputs. Entries are dropped by the inference core at the end of each step, so the
store never grows with the video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class ImageFeatures:
    """Everything Cutie derives from one (padded, batched) image."""

    ms_feat: list[torch.Tensor]   # strides 16, 8, 4
    pix_feat: torch.Tensor        # stride 16, pixel_dim channels
    key: torch.Tensor             # stride 16, key_dim channels
    shrinkage: torch.Tensor       # stride 16, 1 channel
    selection: torch.Tensor       # stride 16, key_dim channels


class ImageFeatureStore:
    """Encodes an image on first request for an index; later requests reuse the result."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self._store: dict[int, ImageFeatures] = {}

    def get(self, index: int, image: torch.Tensor) -> ImageFeatures:
        if index not in self._store:
            ms_feat, pix_feat = self.network.encode_image(image)
            key, shrinkage, selection = self.network.transform_key(ms_feat[0])
            self._store[index] = ImageFeatures(list(ms_feat), pix_feat, key, shrinkage, selection)
        return self._store[index]

    def delete(self, index: int) -> None:
        self._store.pop(index, None)

    def clear(self) -> None:
        self._store.clear()

    def __len__(self) -> int:
        return len(self._store)
