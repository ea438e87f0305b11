"""2-D sine positional encoding (Mask2Former style) with normalised coordinates.

Channels [0, dim) encode x (columns), [dim, 2*dim) encode y, sin and cos interleaved, where
dim = ceil(C/4)*2. `inv_freq` is a (persistent) buffer because the checkpoints hold it.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _sin_cos(sin_inp: torch.Tensor) -> torch.Tensor:
    emb = torch.stack((sin_inp.sin(), sin_inp.cos()), dim=-1)
    return torch.flatten(emb, -2, -1)


class PositionalEncoding(nn.Module):
    """Returns the encoding for a 4-d input (or a 5-d [B, N, ...] one, broadcastable over N).

    channel_last: the input is [B, h, w, C], else [B, C, h, w]. The output is [B, h, w, C] when
    channel_last != transpose_output (the summarizer: channel-last input; the object transformer:
    channel-first input with transpose_output), else [B, C, h, w]. Cached per input shape.
    """

    inv_freq: torch.Tensor   # a buffer

    def __init__(self, dim: int, scale: float = math.pi * 2, temperature: float = 10000,
                 normalize: bool = True, channel_last: bool = True,
                 transpose_output: bool = False) -> None:
        super().__init__()
        dim = int(math.ceil(dim / 4) * 2)
        self.dim = dim
        inv_freq = 1.0 / (temperature ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq)
        self.normalize = normalize
        self.scale = scale
        self.eps = 1e-6
        self.channel_last = channel_last
        self.transpose_output = transpose_output
        self._cache: tuple[tuple, torch.Tensor] | None = None

    def forward(self, tensor: torch.Tensor) -> torch.Tensor:
        if tensor.dim() not in (4, 5):
            raise RuntimeError(f"the input has to be 4-d or 5-d, got {tuple(tensor.shape)}")
        five_d = tensor.dim() == 5
        if five_d:
            tensor = tensor[:, 0]
        if self.channel_last:
            batch_size, h, w, _ = tensor.shape
        else:
            batch_size, _, h, w = tensor.shape

        # inference-mode tensors cannot be reused outside inference mode: key on it too
        key = (tuple(tensor.shape), tensor.device, tensor.dtype,
               torch.is_inference_mode_enabled())
        if self._cache is not None and self._cache[0] == key:
            penc = self._cache[1]
        else:
            penc = self._encode(batch_size, h, w, tensor.device, tensor.dtype)
            self._cache = (key, penc)
        return penc.unsqueeze(1) if five_d else penc

    def _encode(self, batch_size: int, h: int, w: int, device: torch.device,
                dtype: torch.dtype) -> torch.Tensor:
        pos_y = torch.arange(h, device=device, dtype=self.inv_freq.dtype)
        pos_x = torch.arange(w, device=device, dtype=self.inv_freq.dtype)
        if self.normalize:
            pos_y = pos_y / (pos_y[-1] + self.eps) * self.scale
            pos_x = pos_x / (pos_x[-1] + self.eps) * self.scale
        sin_inp_y = torch.einsum("i,j->ij", pos_y, self.inv_freq)
        sin_inp_x = torch.einsum("i,j->ij", pos_x, self.inv_freq)
        emb = torch.zeros((h, w, self.dim * 2), device=device, dtype=dtype)
        emb[:, :, :self.dim] = _sin_cos(sin_inp_x)
        emb[:, :, self.dim:] = _sin_cos(sin_inp_y).unsqueeze(1)
        if self.channel_last == self.transpose_output:
            emb = emb.permute(2, 0, 1)
        return emb.unsqueeze(0).repeat(batch_size, 1, 1, 1)
