"""An exclusive lock file that leaves nothing behind.

`filelock` keeps its lock files forever (waiters must share one inode), which would leave a
`.<name>.lock` beside every downloaded file. Here the holder deletes the file before unlocking,
and a waiter that wakes up holding a deleted (or replaced) file simply tries again, so mutual
exclusion holds and a finished download leaves no trace. The kernel releases an `flock` when its
process dies, so a lock can never go stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold `path` exclusively for the block (waits for other holders, other processes too)."""
    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            break
        os.close(fd)          # the holder we waited for removed this file: lock the new one
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()     # before unlocking: a waiter then sees a stale inode and retries
        os.close(fd)          # releases the flock
