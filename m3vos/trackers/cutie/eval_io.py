"""The official Cutie eval I/O path (`cutie/eval_vos.py` + `VideoReader` + `ResultSaver`),
in plain torch and Pillow (no torchvision).

Scores on real data depend on these steps as much as on the network:

1. frames are decoded with PIL `.convert("RGB")` and scaled to float [0, 1] (ToTensor);
2. if the short side exceeds `size` (480), the frame is resized so the short side is `size` and
   the long side int(size * long / short) (truncated): bilinear, align_corners False, WITH
   antialiasing (torchvision `Resize(antialias=True)` on a float tensor);
3. masks are resized on the PIL image with NEAREST to the same size;
4. the object list is the sorted non-zero labels of the mask;
5. the returned probabilities are resized back to the original size with bilinear
   interpolation (align_corners False, no antialiasing), then argmax and temporary ids mapped
   to object ids.
"""

from __future__ import annotations


import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


def resized_shape(h: int, w: int, size: int) -> tuple[int, int]:
    """(h, w) after the eval loader's resize (unchanged when size <= 0 or min side <= size)."""
    if size <= 0 or min(h, w) <= size:
        return h, w
    if h <= w:
        return size, int(size * w / h)
    return int(size * h / w), size


def image_to_tensor(rgb: np.ndarray) -> torch.Tensor:
    """H x W x 3 uint8 RGB -> float32 [3, H, W] in [0, 1] (torchvision ToTensor).

    In numpy: the same correctly rounded float32 division as torch's `.float().div(255)` (the
    tests compare all 256 values), in one pass and without waking torch's OpenMP team, whose
    spinning workers would take a core from the loader threads on every frame."""
    chw = np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32, order="C")
    chw /= np.float32(255)
    return torch.from_numpy(chw)


def resize_image(image: torch.Tensor, size: int) -> torch.Tensor:
    """[3, H, W] float -> short side `size`, bilinear with antialiasing (torchvision Resize)."""
    h, w = image.shape[-2:]
    new = resized_shape(h, w, size)
    if new == (h, w):
        return image
    return F.interpolate(image.unsqueeze(0), size=new, mode="bilinear", align_corners=False,
                         antialias=True)[0]


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """H x W uint8 ids -> short side `size` with PIL NEAREST (the official mask resize)."""
    h, w = mask.shape
    new_h, new_w = resized_shape(h, w, size)
    if (new_h, new_w) == (h, w):
        return mask
    return np.asarray(Image.fromarray(mask).resize((new_w, new_h), Image.NEAREST))


def no_cpu_autocast(device: torch.device):
    """The official AMP is CUDA-only: on a CPU, switch off any autocast a caller opened so the
    resizes and the argmax stay float32 (the core does the same for the network)."""
    import contextlib

    return torch.autocast("cpu", enabled=False) if device.type == "cpu" else contextlib.nullcontext()


def prob_to_original(prob: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """[C, h, w] probabilities -> [C, H, W]: bilinear, no antialiasing (ResultSaver)."""
    if tuple(prob.shape[-2:]) == tuple(shape):
        return prob
    return F.interpolate(prob.unsqueeze(1), size=tuple(shape), mode="bilinear",
                         align_corners=False)[:, 0]


def prob_to_labels(prob: torch.Tensor, tmp_to_obj: dict[int, int],
                   shape: tuple[int, int] | None = None) -> np.ndarray:
    """Probabilities (background first, temporary-id order) -> uint8 object-id map, resized
    back to `shape` first when given."""
    if shape is not None:
        prob = prob_to_original(prob, shape)
    idx = torch.argmax(prob, dim=0)
    lut = torch.zeros(prob.shape[0], dtype=torch.uint8, device=idx.device)
    for tmp, obj in tmp_to_obj.items():
        if tmp < prob.shape[0]:
            lut[tmp] = obj
    return lut[idx].cpu().numpy()
