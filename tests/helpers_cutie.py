"""Helpers for the Cutie inference/replay/tracker tests: seeded weights made by running
../shared/fixtures/parity/seeded_weights.py where it is (never copied), cached for the session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
