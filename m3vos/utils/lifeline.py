"""Worker processes that die with their parent.

A parent killed with SIGKILL runs no cleanup, so its workers would go on alone (holding GPUs,
writing into a folder whose run is over). Two mechanisms, because neither covers every case:
Linux's `PR_SET_PDEATHSIG` (the kernel signals the worker the moment its parent dies), and a
watchdog thread that polls the parent's pid (other systems, and the window before `prctl`).
The worker gets SIGTERM, which m3vos workers turn into a clean stop (temp folders removed).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def _pdeathsig(sig: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int, interval: float) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # the clean stop had its chance
            os._exit(1)


def die_with_parent(parent: int, *, interval: float = 1.0) -> None:
    """Call first thing in a worker process; `parent` is the pid that started it."""
    _pdeathsig(signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, interval), daemon=True, name="m3vos-lifeline").start()
