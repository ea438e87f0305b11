"""Checks on what the CLI printed, shared by the command-line tests."""

from __future__ import annotations

import subprocess


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a user mistake must produce (no traceback); returns it."""
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]
