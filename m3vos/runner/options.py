"""Parsing and checking what the user asked for, before any video is touched.

Every problem here is a one-line `BadInputError` (exit 2): it is cheaper to refuse a bad
`--device` or `--shard` up front than to fail on a cluster an hour later.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from m3vos.errors import BadInputError


def parse_config(items: list[str] | None) -> dict[str, Any]:
    """`KEY=VALUE` strings to a dict; values are typed by YAML (`3` -> int, `true` -> bool)."""
    config: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadInputError(f"bad --config {item!r}", hint="write KEY=VALUE, e.g. --config preset=fast")
        try:
            config[key] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            config[key] = value
    return config


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """`i/N` with 0 <= i < N (0-based, like SLURM_ARRAY_TASK_ID and RANK)."""
    if text is None or text == "":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m:
        raise BadInputError(f"bad --shard {text!r}", hint="write i/N with 0 <= i < N, e.g. --shard 0/4")
    i, n = int(m.group(1)), int(m.group(2))
    if n < 1 or i >= n:
        raise BadInputError(f"bad --shard {text!r}: the index must be in 0..{max(n - 1, 0)}",
                            hint="shards are numbered from 0, e.g. --shard 0/4 ... --shard 3/4")
    return i, n


def parse_gpus(text: str | None) -> list[str] | None:
    """`0,1` -> ['cuda:0', 'cuda:1']; `cpu` entries give CPU workers (for testing the pool)."""
    if text is None or text.strip() == "":
        return None
    devices = []
    for part in text.split(","):
        part = part.strip()
        if part.isdigit():
            devices.append(f"cuda:{int(part)}")
        elif part == "cpu" or re.fullmatch(r"cuda:\d+", part):
            devices.append(part)
        else:
            raise BadInputError(f"bad --gpus entry {part!r}", hint="give GPU indices, e.g. --gpus 0,1")
    return devices


def _torch_cuda_count() -> int:
    try:
        import torch
    except ImportError:
        return -1
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_device(device: str, *, needs_torch: bool) -> str:
    """`auto` -> `cuda` when a GPU is usable (only looked for when the tracker uses torch)."""
    device = (device or "auto").strip()
    if device == "auto":
        if not needs_torch:
            return "cpu"
        return "cuda" if _torch_cuda_count() > 0 else "cpu"
    if device == "cpu":
        return device
    m = re.fullmatch(r"cuda(?::(\d+))?", device)
    if not m:
        raise BadInputError(f"bad --device {device!r}", hint="use auto, cpu, cuda or cuda:N")
    check_cuda([device])
    return device


def check_cuda(devices: list[str]) -> None:
    wanted = [d for d in devices if d.startswith("cuda")]
    if not wanted:
        return
    count = _torch_cuda_count()
    if count < 0:
        raise BadInputError(f"{wanted[0]} requested but torch is not installed",
                            hint="pip install torch (a CUDA build), or use --device cpu")
    if count == 0:
        raise BadInputError(f"{wanted[0]} requested but CUDA is not available on this machine",
                            hint="use --device cpu (or auto), or run where a GPU is visible")
    for d in wanted:
        idx = int(d.split(":")[1]) if ":" in d else 0
        if idx >= count:
            raise BadInputError(f"{d} requested but only {count} CUDA device(s) are visible",
                                hint=f"use an index in 0..{count - 1}")
