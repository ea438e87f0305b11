"""Test helpers for the scoring area: the synthetic sets of `../shared/fixtures/scoring`,
generated once per test session into a temporary folder (never into the project)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

#: (num_seqs, broken) -> generated root; generation takes tens of seconds, do it once a session.
_GENERATED: dict[tuple[int, bool], Path] = {}


def generator(shared: Path) -> Path:
    return shared / "fixtures" / "scoring" / "synth_vos.py"


def reference(shared: Path, name: str) -> dict:
    return json.loads((shared / "fixtures" / "scoring" / name).read_text())


def generate_set(shared: Path, base: Path, *, num_seqs: int, broken: bool = False) -> Path:
    key = (num_seqs, broken)
    if key not in _GENERATED:
        out = base / f"synth_{num_seqs}{'_broken' if broken else ''}"
        cmd = [sys.executable, str(generator(shared)), "--seed", "1", "--num-seqs", str(num_seqs),
               "--out", str(out), "--jobs", "2"]
        # --digest cannot read the deliberately corrupt PNG of the broken cases
        cmd.append("--broken" if broken else "--digest")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        _GENERATED[key] = out
        (out / "digest.txt").write_text(proc.stdout)
    return _GENERATED[key]


def printed_digest(root: Path) -> dict:
    text = (root / "digest.txt").read_text()
    return json.loads(text[text.index("{"):])


@pytest.fixture(scope="session")
def dev_set(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 12-sequence dev set the references were computed on (pixel digest checked)."""
    root = generate_set(shared_dir, tmp_path_factory.getbasetemp(), num_seqs=12)
    want = reference(shared_dir, "davis_reference_dev.json")["dataset"]["md5_png_pixels"]
    got = printed_digest(root)["md5_png_pixels"]
    if got != want:
        pytest.skip(f"regenerated dev set differs from the references' (pixel md5 {got} != {want}); "
                    "the generator's libraries changed, parity cannot be judged")
    return root


@pytest.fixture(scope="session")
def broken_set(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One sequence plus the generator's bad-input cases under PredictionsBroken/<case>/."""
    return generate_set(shared_dir, tmp_path_factory.getbasetemp(), num_seqs=1, broken=True)


class Reordered:
    """The same dataset with its videos listed in the opposite order."""

    def __init__(self, ds) -> None:
        self._ds = ds
        self.video_names = list(reversed(ds.video_names))

    def video(self, name: str):
        return self._ds.video(name)

    def identity(self) -> dict:
        return self._ds.identity()
