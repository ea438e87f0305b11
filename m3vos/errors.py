"""Errors that reach the user as one line (what went wrong, which file, how to fix it).

The CLI turns an `M3vosError` into `error: <message>` on stderr and its `exit_code`; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os
from pathlib import Path


class M3vosError(Exception):
    """A problem with the user's input or environment, reported without a traceback."""

    exit_code: int = 2

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None, hint: str | None = None,
                 exit_code: int | None = None) -> None:
        self.message = message
        self.path = Path(path) if path is not None else None
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code
        super().__init__(self.one_line())

    def append(self, text: str) -> None:
        """Add what happened meanwhile (e.g. where earlier results went) to the message."""
        self.message += f"; {text}"
        self.args = (self.one_line(),)

    def one_line(self) -> str:
        text = f"{self.path}: {self.message}" if self.path is not None else self.message
        if self.hint:
            text += f" (fix: {self.hint})"
        return " ".join(text.split("\n"))


class BadInputError(M3vosError):
    """Input data (masks, folders, configs) that cannot be used as given. Exit code 2."""

    exit_code = 2


class GateFailedError(M3vosError):
    """A result was produced but a quality gate (`--fail-under`, `--max-drop`) failed. Exit 1."""

    exit_code = 1


class EnvError(M3vosError):
    """The environment failed, not the input: an unwritable or full output folder, a read-only
    dataset, a lock held by another run. Exit 3, so that CI can tell it from a failed gate (1) and
    from bad input (2)."""

    exit_code = 3
