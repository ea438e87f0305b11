"""`--precision`: how a torch tracker's float math runs, pinned instead of left to torch.

Torch's defaults differ by device: on a GPU, cuDNN runs float32 convolutions in TF32 (10-bit
mantissa) unless told otherwise, so a GPU run drifts from the float32 CPU references. m3vos
sets the backend flags explicitly in every worker:

- `fp32`: IEEE float32 everywhere (convolutions and matmuls); what the parity tests use;
- `tf32`: torch's own GPU defaults, which the official Cutie/ReVOS eval inherits (its
  `amp: False` and no TF32 setting): convolutions in TF32, matmuls in float32. The default;
- `amp-bf16`, `amp-fp16`: float32 weights under autocast (the official `amp: True` is fp16).

On a CPU there is no TF32 and m3vos runs no autocast (the official AMP is CUDA-only, and the
Cutie core switches CPU autocast off), so every option runs as fp32 there, with a warning when
the user asked for something else.
"""

from __future__ import annotations

import sys
from typing import Any

from m3vos.errors import BadInputError

PRECISIONS = ("fp32", "tf32", "amp-bf16", "amp-fp16")
#: What the official Cutie eval does on a GPU (cutie_revos_spec.md section 2.1: `amp` False;
#: TF32 left at torch's default, i.e. on for cuDNN convolutions).
DEFAULT_PRECISION = "tf32"


def check_precision(value: str | None) -> str:
    """The requested precision (None -> the default); bad values are exit 2."""
    if value is None or value == "":
        return DEFAULT_PRECISION
    value = value.strip().lower()
    if value not in PRECISIONS:
        raise BadInputError(f"unknown --precision {value!r}", hint=f"use one of {', '.join(PRECISIONS)}")
    return value


def effective(precision: str, device: str) -> str:
    """What actually runs on `device`: CPUs have no TF32 and no autocast in m3vos."""
    return precision if device.startswith("cuda") else "fp32"


def no_effect_warnings(precision: str, explicit: bool, devices: list[str], uses_torch: bool,
                       model: str) -> list[str]:
    """Warnings for an option that changes nothing where the run goes."""
    if not explicit or precision == "fp32":
        return []
    if not uses_torch:
        return [f"--precision {precision} has no effect: {model} does not use torch"]
    cpu = sorted({d for d in devices if not d.startswith("cuda")})
    if cpu:
        return [f"--precision {precision} has no effect on {', '.join(cpu)}: CPU workers run in fp32 "
                "(no TF32 on CPUs; the official AMP is CUDA-only)"]
    return []


def autocast_dtype(precision: str) -> str | None:
    return {"amp-bf16": "bfloat16", "amp-fp16": "float16"}.get(precision)


def apply_backends(precision: str, device: str) -> None:
    """Set torch's TF32 switches for this process (only when torch is loaded and on CUDA)."""
    if "torch" not in sys.modules or not device.startswith("cuda"):
        return
    import torch

    conv = "tf32" if precision in ("tf32", "amp-bf16", "amp-fp16") else "ieee"
    matmul = "ieee"  # torch's default; the official eval never turns matmul TF32 on
    cudnn_conv: Any = getattr(torch.backends.cudnn, "conv", None)
    if getattr(cudnn_conv, "fp32_precision", None) is not None:
        cudnn_conv.fp32_precision = conv
        torch.backends.cuda.matmul.fp32_precision = matmul
    else:  # older torch
        torch.backends.cudnn.allow_tf32 = conv == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = False
