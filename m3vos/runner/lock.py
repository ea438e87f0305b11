"""One run at a time per output folder.

Two runs into the same `--out` would delete each other's temporary folders and report spurious
failures. The lock is an `fcntl.flock` on `DIR/.m3vos/lock`, which also holds the holder's pid and
host for the error message. The kernel drops the lock when its process dies (even on SIGKILL),
so a lock file left by a dead run is simply taken over: it can never go stale.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError, EnvError

LOCK_NAME = "lock"


class RunLockedError(BadInputError):
    """Another live run holds the output folder. Exit 2, naming its pid and host."""


class OutputLock:
    """An exclusive lock on a run's output folder; a context manager, released on exit."""

    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.path = self.out / ".m3vos" / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> OutputLock:
        """Take the lock now or raise `RunLockedError` (never waits: a cluster job should fail
        fast, not sit behind another job)."""
        if self._fd is not None:
            return self
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise EnvError(f"cannot write the output folder ({exc.strerror or exc})", path=self.out,
                           hint="pass a writable --out folder with free space") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise EnvError(f"cannot lock the output folder ({exc.strerror or exc})", path=self.out,
                               hint="use an --out on a filesystem with file locks") from None
            who = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
                   if holder else "another process")
            raise RunLockedError(f"another m3vos run ({who}) is writing into this output folder",
                                 path=self.out,
                                 hint="wait for it to finish, or pass another --out") from None
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_holder(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
