"""Helpers for the Cutie inference/replay/tracker tests.

Parity tests use seeded weights made by running ../shared/fixtures/parity/seeded_weights.py
where it is (never copied). Tests of behaviour use `own_weights` (our own network, seeded random
parameters) and `synth_clip` (a video of `m3vos.data.synth`): they run without ../shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

PARITY = Path("fixtures") / "parity"


def parity_dir(shared_dir: Path) -> Path:
    return shared_dir / PARITY


def seeded_weights(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory, model: str) -> Path:
    """Seed-0 weights for `model` (cutie_small, cutie_base, revos), generated once per session."""
    out = tmp_path_factory.getbasetemp() / "cutie_seeded" / f"{model}_seed0.pth"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        script = parity_dir(shared_dir) / "seeded_weights.py"
        subprocess.run([sys.executable, str(script), "weights", f"{model}_manifest.json",
                        "--seed", "0", "--out", str(tmp)], cwd=parity_dir(shared_dir),
                       check=True, capture_output=True, timeout=300)
        tmp.rename(out)
    return out


def own_weights(tmp_path_factory: pytest.TempPathFactory, model: str = "cutie-small", seed: int = 0) -> Path:
    """A checkpoint of our own `model` network with seeded random parameters (once per session):
    the official parameter names and shapes, no ../shared needed."""
    import torch

    from m3vos.trackers.models import build_model
    from m3vos.trackers.random_weights import seeded_build

    out = tmp_path_factory.getbasetemp() / "own_weights" / f"{model}_seed{seed}.pth"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".part")
        torch.save(seeded_build(lambda: build_model(model), seed).state_dict(), tmp)
        tmp.rename(out)
    return out


def synth_clip(tmp_path_factory: pytest.TempPathFactory, *, objects: int, frames: int, height: int,
               width: int) -> tuple[np.ndarray, np.ndarray]:
    """(frames [T, H, W, 3] uint8, id masks [T, H, W] uint8) of the first synthetic video with
    `objects` objects, each present in every frame (`m3vos.data.synth`)."""
    from PIL import Image

    from m3vos.data.dataset import open_dataset
    from m3vos.data.masks import read_mask
    from m3vos.data.synth import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path_factory.mktemp("clip") / "ds", videos=24, frames=frames,
                                  height=height, width=width)
    for video in open_dataset(root):
        masks = np.stack([read_mask(p) for p in video.mask_paths])
        wanted = set(range(1, objects + 1))
        if len(video.object_ids) == objects and all(wanted <= set(np.unique(m)) for m in masks):
            images = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in video.frame_paths])
            return images, masks
    raise AssertionError(f"no synthetic video with {objects} objects in every frame")


#: Environment for CLI subprocesses: one intra-op thread. On a loaded 2-core machine,
#: OpenMP's spinning threads cost 5x the CPU time of a single thread for these small frames.
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Run the module's in-process model code on one thread (restored afterwards)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
