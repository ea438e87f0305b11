"""Frame and mask preparation for SAM 2, and logits back to one id map (no torchvision).

As Meta's video predictor does: each frame is squashed to `size` x `size` with PIL's bicubic
filter, scaled to [0, 1] and normalised with the ImageNet mean/std; a mask prompt is resized
bilinearly (antialiased) to the same square and thresholded at 0.5. Outputs (low-resolution
logits, one channel per object) are resized bilinearly to the frame size; each pixel takes the
object with the highest logit when that logit is > 0 (Meta's `non_overlap_masks` eval setting).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def prepare_frame(rgb: np.ndarray, size: int) -> Any:
    """H x W x 3 uint8 RGB -> 3 x size x size float32 tensor, normalised."""
    import torch
    from PIL import Image

    img: np.ndarray = np.asarray(Image.fromarray(rgb).resize((size, size), Image.BICUBIC), dtype=np.float32)
    img = (img / 255.0 - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def prepare_mask(binary: np.ndarray, size: int) -> Any:
    """H x W bool -> 1 x 1 x size x size float32 {0, 1} tensor."""
    import torch
    import torch.nn.functional as F

    m = torch.from_numpy(np.asarray(binary, dtype=np.float32))[None, None]
    if tuple(m.shape[-2:]) != (size, size):
        m = F.interpolate(m, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return (m >= 0.5).float()


def logits_to_labels(logits: Any, object_ids: Sequence[int], shape: tuple[int, int]) -> np.ndarray:
    """N x 1 x h x w logits (objects in `object_ids` order) -> H x W uint8 id map."""
    import torch
    import torch.nn.functional as F

    up = F.interpolate(logits.float(), size=shape, mode="bilinear", align_corners=False)[:, 0]
    best, idx = up.max(dim=0)
    ids = torch.as_tensor(list(object_ids), dtype=torch.int64, device=idx.device)
    labels = torch.where(best > 0, ids[idx], torch.zeros_like(idx))
    return labels.to(torch.uint8).cpu().numpy()
