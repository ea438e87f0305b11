"""What a run asks for against what the executor has, and how workers share the hardware.

Checked before anything is scheduled: a request that cannot be met (more GPUs than exist, GPUs
on a cluster without any) is a one-line `BadInputError` saying what exists, never a run that
waits forever. The plans are pure functions of the request and the machine, so the tests check
them without CUDA: which worker gets which device, which environment and how many threads.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from m3vos.errors import BadInputError
from m3vos.utils.workers import available_cpus

#: Environment variables that cap the CPU threads of the numeric libraries in a worker.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def gpu_index(device: str) -> int | None:
    """`cuda:3` -> 3, `cuda` -> 0, `cpu` -> None."""
    if not device.startswith("cuda"):
        return None
    return int(device.split(":")[1]) if ":" in device else 0


@dataclass(frozen=True)
class LocalWorker:
    """One local worker process: the device its tracker is given and the environment it starts
    with. A GPU worker sees only its own GPU (`CUDA_VISIBLE_DEVICES`), so inside it the GPU is
    always `cuda:0` and nothing can land on another worker's GPU by accident."""

    index: int
    requested: str                  # what the user asked: cuda:3, cpu
    device: str                     # what the tracker is given: cuda:0, cpu
    threads: int                    # CPU threads (OpenCV, torch, OpenMP) of this worker
    env: dict[str, str] = field(default_factory=dict)


def local_plan(devices: list[str], cpu_count: int | None = None) -> list[LocalWorker]:
    """One `LocalWorker` per entry of `devices` (from `--gpus` or `--workers`).

    Every worker, GPU or CPU, decodes and resizes frames on the CPU, so the cores are split
    evenly between them: N workers each using every core run many times slower than one.
    """
    cores = cpu_count or available_cpus()
    threads = max(1, cores // max(len(devices), 1))
    plan = []
    for i, dev in enumerate(devices):
        env = {var: str(threads) for var in THREAD_VARS}
        idx = gpu_index(dev)
        if idx is not None:
            env["CUDA_VISIBLE_DEVICES"] = str(idx)
            device = "cuda:0"
        else:
            device = dev
        plan.append(LocalWorker(index=i, requested=dev, device=device, threads=threads, env=env))
    return plan


@dataclass(frozen=True)
class RayWorker:
    """One Ray actor: its share of a GPU (`--gpus 0,0` gives two actors of 0.5 GPU) and CPUs."""

    label: str          # cuda:0 (a logical index: Ray picks the physical GPU), cpu
    num_gpus: float
    num_cpus: float

    @property
    def device(self) -> str:
        # Ray sets CUDA_VISIBLE_DEVICES per actor: inside it, its GPU is always cuda:0.
        return "cuda:0" if self.num_gpus > 0 else "cpu"


def ray_plan(devices: list[str]) -> list[RayWorker]:
    """Actors for `devices`; a GPU listed k times is shared by k actors of 1/k GPU each."""
    counts = Counter(d for d in devices if gpu_index(d) is not None)
    plan = []
    for dev in devices:
        if gpu_index(dev) is not None:
            plan.append(RayWorker(dev, round(1.0 / counts[dev], 4), 0.0))
        else:
            plan.append(RayWorker(dev, 0.0, 1.0))
    return plan


def _describe(resources: dict[str, Any]) -> str:
    return f"{resources.get('GPU', 0):g} GPU(s), {resources.get('CPU', 0):g} CPU(s)"


def check_ray_plan(plan: list[RayWorker], resources: dict[str, Any], *, flag: str = "--gpus") -> None:
    """Raise `BadInputError` when the cluster cannot hold every actor (it would wait forever)."""
    gpus_needed = len({w.label for w in plan if w.num_gpus > 0})
    cpus_needed = sum(w.num_cpus for w in plan)
    have_gpu = float(resources.get("GPU", 0) or 0)
    have_cpu = float(resources.get("CPU", 0) or 0)
    if gpus_needed and have_gpu < gpus_needed:
        what = "no GPU" if have_gpu == 0 else f"only {have_gpu:g} GPU(s)"
        raise BadInputError(f"{flag} asks for {gpus_needed} GPU(s) but the Ray cluster has {what} "
                            f"({_describe(resources)})",
                            hint="ask for fewer GPUs (list one twice to share it), or use --device cpu")
    if cpus_needed and have_cpu < cpus_needed:
        raise BadInputError(f"{len(plan)} CPU workers need {cpus_needed:g} CPUs but the Ray cluster has "
                            f"{have_cpu:g} ({_describe(resources)})", hint=f"use --workers {int(have_cpu) or 1}")


def ray_auto_devices(resources: dict[str, Any], *, workers: int, device: str, needs_torch: bool) -> list[str]:
    """Devices of a Ray run without `--gpus`: `--device auto` takes the cluster's GPUs for a torch
    tracker (one actor per GPU, or `--workers` actors sharing them); otherwise CPU actors."""
    have_gpu = int(float(resources.get("GPU", 0) or 0))
    if device == "cpu" or (device == "auto" and (not needs_torch or have_gpu == 0)):
        return ["cpu"] * workers
    if have_gpu == 0:
        raise BadInputError(f"--device {device} asks for a GPU but the Ray cluster has no GPU "
                            f"({_describe(resources)})", hint="use --device cpu or auto")
    n = workers if workers > 1 else have_gpu
    return [f"cuda:{i % have_gpu}" for i in range(n)]


def check_local_gpus(devices: list[str], cuda_count: int) -> None:
    """`--gpus` indices against the GPUs torch sees (`cuda_count` < 0: torch missing)."""
    wanted = sorted({i for i in map(gpu_index, devices) if i is not None})
    if not wanted:
        return
    if cuda_count < 0:
        raise BadInputError(f"--gpus {','.join(map(str, wanted))} needs PyTorch, which is not installed",
                            hint="pip install torch (a CUDA build), or use --device cpu")
    if cuda_count == 0:
        raise BadInputError(f"--gpus {','.join(map(str, wanted))} requested but this machine has no usable "
                            "CUDA GPU", hint="use --device cpu, or run where a GPU is visible")
    bad = [i for i in wanted if i >= cuda_count]
    if bad:
        raise BadInputError(f"--gpus asks for GPU {bad[0]} but this machine has {cuda_count} GPU(s) "
                            f"(indices 0..{cuda_count - 1})", hint=f"use indices in 0..{cuda_count - 1}")
