"""Helpers for the Cutie network and weights tests: the shared manifests and the seeded-weights
generator, used in place from ../shared (never copied)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

PARITY = Path("fixtures") / "parity"


def manifest(shared_dir: Path, name: str) -> dict:
    return json.loads((shared_dir / PARITY / f"{name}_manifest.json").read_text())


def seeded_weights_module(shared_dir: Path) -> ModuleType:
    """Import ../shared/fixtures/parity/seeded_weights.py from where it is."""
    path = shared_dir / PARITY / "seeded_weights.py"
    spec = importlib.util.spec_from_file_location("m3vos_test_seeded_weights", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
