"""Fixtures shared by every test module: the `../shared` folder and a CLI runner.

Area-specific fixtures live in the area's own test modules or `tests/helpers_<area>.py`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("M3VOS_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """`../shared` beside the checkout (official fixtures, generators, metadata): only tests
    against the official code's outputs or files ask for it; the others use `m3vos.data.synth`."""
    if not (SHARED / "fixtures").is_dir():
        pytest.skip(f"compares against the official code's outputs or label files, which live in "
                    f"../shared: not found at {SHARED} (set M3VOS_SHARED to point at it)")
    return SHARED


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the real user config, cache and dataset settings."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("M3VOS_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("M3VOS_CACHE", str(home / "cache"))
    monkeypatch.delenv("M3VOS_DATA", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")


def run_cli(*args: str | os.PathLike[str], cwd: str | os.PathLike[str] | None = None,
            env: dict[str, str] | None = None, timeout: float = 600, check: int | None = None
            ) -> subprocess.CompletedProcess[str]:
    """Run `m3vos ARGS...` in a subprocess (the real entry point), capturing text output.

    `check`, when given, is the exit code the call must return; a mismatch fails the test with
    the command's output.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    cmd = [sys.executable, "-m", "m3vos_cli", *map(str, args)]
    proc = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    if check is not None and proc.returncode != check:
        raise AssertionError(
            f"`m3vos {' '.join(map(str, args))}` exited {proc.returncode}, expected {check}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}")
    return proc


@pytest.fixture
def cli():
    """The `run_cli` helper as a fixture."""
    return run_cli
