"""One run at a time per output folder (or per shard of it).

Two runs into the same `--out` would delete each other's temporary folders and report spurious
failures. The lock is an `fcntl.flock` on `DIR/.m3vos/lock`, which also holds the holder's pid
and host for the error message. Shards of one array job (`--shard i/N`) share the folder by
design: each takes the folder lock shared and its own `DIR/.m3vos/lock-shard-i-of-N`
exclusively, so shards run side by side while a second copy of a shard, or an unsharded run,
is refused. The kernel drops a lock when its process dies (even on SIGKILL), so a lock file
left by a dead run is simply taken over: it can never go stale.
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
    """The lock of a run's output folder; a context manager, released on exit."""

    def __init__(self, out: str | os.PathLike[str], shard: tuple[int, int] | None = None) -> None:
        self.out = Path(out)
        self.path = self.out / ".m3vos" / LOCK_NAME
        self.shard = shard
        self._fds: list[int] = []

    @property
    def held(self) -> bool:
        return bool(self._fds)

    def acquire(self) -> OutputLock:
        """Take the lock now or raise `RunLockedError` (never waits: a cluster job should fail
        fast, not sit behind another job)."""
        if self._fds:
            return self
        try:
            if self.shard is None:
                self._take(self.path, fcntl.LOCK_EX, "another m3vos run")
            else:
                i, n = self.shard
                self._take(self.path, fcntl.LOCK_SH, "an unsharded m3vos run")
                self._take(self.path.with_name(f"{LOCK_NAME}-shard-{i}-of-{n}"), fcntl.LOCK_EX,
                           f"another m3vos run of shard {i}/{n}")
        except BaseException:
            self.release()
            raise
        return self

    def _take(self, path: Path, mode: int, who: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise EnvError(f"cannot write the output folder ({exc.strerror or exc})", path=self.out,
                           hint="pass a writable --out folder with free space") from None
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise EnvError(f"cannot lock the output folder ({exc.strerror or exc})", path=self.out,
                               hint="use an --out on a filesystem with file locks") from None
            named = (f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
                     if holder else "pid and host unknown")
            raise RunLockedError(f"{who} ({named}) is writing into this output folder", path=self.out,
                                 hint="wait for it to finish, or pass another --out") from None
        info = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                           "shard": list(self.shard) if self.shard else None}).encode()
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.pwrite(fd, info, 0)
        self._fds.append(fd)

    def release(self) -> None:
        while self._fds:
            fd = self._fds.pop()
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
