"""Local executors: in this process, or one worker process per device pulling from a queue.

The pool follows DeAOT's multi-GPU eval (workers pull video names from a shared queue, so long
and short videos balance themselves) but each video is still written atomically and recorded,
so a pool run resumes like a serial one.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing as mp
import multiprocessing.connection as mp_connection
import os
import signal
import time
from typing import Any, Iterator

from m3vos.errors import EnvError, M3vosError
from m3vos.runner.job import EventFn, Job, VideoWorker
from m3vos.runner.process import failure_record
from m3vos.runner.resources import LocalWorker, local_plan
from m3vos.runner.retries import Retries
from m3vos.trackers.base import Tracker
from m3vos.utils.lifeline import die_with_parent
from m3vos.utils.signals import sigterm_raises_interrupt


def run_serial(job: Job, names: list[str], device: str, on_event: EventFn,
               tracker: Tracker | None = None) -> None:
    worker = VideoWorker(job, device, tracker)
    try:
        for name in names:
            on_event("start", name, device)
            kind, rec = worker.run(name, progress=functools.partial(on_event, "frames", name))
            on_event(kind, name, rec)
    finally:
        worker.close()


def _share_cores(threads: int, torch_too: bool) -> None:
    """N workers each using every core oversubscribe the machine (20x slower for a torch
    model on 2 cores with 2 workers). DIS flow gives the same result with any thread count;
    torch on a CPU does not (float reduction order), which docs/run.md states."""
    import cv2

    cv2.setNumThreads(threads)
    if torch_too:
        import torch

        torch.set_num_threads(threads)


def _worker_main(job: Job, spec: LocalWorker, tasks: Any, results: Any, parent: int,
                 torch_too: bool = False) -> None:
    # Die with the parent (a SIGKILLed run must not leave workers writing on their own).
    die_with_parent(parent)
    # Ctrl-C is the main process's business: it stops the workers with SIGTERM, which (once
    # set up) they turn into KeyboardInterrupt so the video in progress removes its temp folder.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    wid = spec.index
    _share_cores(spec.threads, torch_too)
    try:
        worker = VideoWorker(job, spec.device)
    except BaseException as exc:  # setup failure: the main process aborts the run
        results.send(("fatal", "", failure_record("", exc), wid))
        return
    sigterm_raises_interrupt()
    results.send(("ready", "", spec.device, wid))
    try:
        while True:
            name = tasks.get()
            if name is None:
                break
            results.send(("start", name, spec.requested, wid))

            def progress(n: int, _name: str = name) -> None:
                results.send(("frames", _name, n, wid))

            kind, rec = worker.run(name, progress=progress)
            results.send((kind, name, rec, wid))
    except KeyboardInterrupt:
        pass  # the temp folder is already gone (atomic_dir); the main process reports
    finally:
        worker.close()


@contextlib.contextmanager
def _environ(extra: dict[str, str]) -> Iterator[None]:
    """A spawned child copies the parent's environment when it starts: set the worker's
    (CUDA_VISIBLE_DEVICES, thread caps) just for that moment, before it imports anything."""
    old = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class _Slot:
    """One worker position: its plan, its current process, what it is running."""

    def __init__(self, spec: LocalWorker) -> None:
        self.spec = spec
        self.proc: Any = None
        self.tasks: Any = None
        self.ready = False
        self.current: str | None = None
        self.deaths = 0
        self.conn: Any = None


class WorkerPool:
    """Local worker processes fed one video at a time, so the main process always knows which
    video a worker holds: a worker that dies costs that video one attempt (retried up to
    `max_retries` times, then recorded as failed) and is replaced, so its device keeps working."""

    def __init__(self, job: Job, names: list[str], devices: list[str], on_event: EventFn, *,
                 max_retries: int = 2, poll: float = 0.2) -> None:
        self.job, self.on_event, self.poll = job, on_event, poll
        self.ctx = mp.get_context("spawn")  # fork + CUDA/OpenCV threads is unsafe
        self.retries = Retries(job, names, on_event, max_retries)
        self.pending = self.retries.pending
        self.exit_codes: dict[str, list[int | None]] = {}
        self.slots = [_Slot(spec) for spec in local_plan(devices)]
        self.torch_too = _needs_torch(job)

    def _start(self, slot: _Slot) -> None:
        # One result pipe per worker: a worker killed mid-write (os._exit, SIGKILL) can break
        # only its own channel, never a lock shared with the other workers.
        slot.tasks = self.ctx.Queue()
        slot.ready, slot.current = False, None
        reader, writer = self.ctx.Pipe(duplex=False)
        slot.proc = self.ctx.Process(target=_worker_main, daemon=True, name=f"m3vos-worker-{slot.spec.index}",
                                     args=(self.job, slot.spec, slot.tasks, writer, os.getpid(),
                                           self.torch_too))
        with _environ(slot.spec.env):
            slot.proc.start()
        writer.close()
        slot.conn = reader

    def _receive(self, timeout: float) -> bool:
        """Handle whatever the workers sent within `timeout`; False when nothing came."""
        conns = {s.conn: s for s in self.slots if s.conn is not None}
        if not conns:
            time.sleep(timeout)
            return False
        ready = mp_connection.wait(list(conns), timeout=timeout)
        for conn in ready:
            self._read(conns[conn])
        return bool(ready)

    def _read(self, slot: _Slot, drain: bool = False) -> None:
        conn = slot.conn
        while conn is not None:
            try:
                msg = conn.recv()
            except (EOFError, OSError):  # the worker is gone: _reap() takes it from here
                conn.close()
                slot.conn = None
                return
            self._handle(*msg)
            if not drain or not conn.poll():
                return

    def run(self) -> None:
        for slot in self.slots:
            self._start(slot)
        last = time.monotonic()  # of the last message (or of the start)
        timeout = float(os.environ.get("M3VOS_STARTUP_TIMEOUT", "600"))
        try:
            while self.pending or any(s.current for s in self.slots):
                self._assign()
                got = self._receive(self.poll)
                self._reap()
                if not got:
                    # no live worker has loaded (at the start, or after every one died)
                    live_ready = any(s.ready and s.proc is not None for s in self.slots)
                    if not live_ready and time.monotonic() - last > timeout:
                        raise EnvError(f"no worker process finished loading within {timeout:.0f} s "
                                         f"({len(self.slots)} started on {', '.join(s.spec.requested for s in self.slots)})",
                                         hint="check the GPUs (nvidia-smi) and the tracker's loading; "
                                              "M3VOS_STARTUP_TIMEOUT sets the limit")
                    continue
                last = time.monotonic()
        except BaseException:
            _stop([s.proc for s in self.slots if s.proc is not None])
            raise
        for slot in self.slots:
            if slot.proc is not None and slot.proc.is_alive():
                slot.tasks.put(None)
        for slot in self.slots:
            if slot.proc is not None:
                slot.proc.join(timeout=10)
        _stop([s.proc for s in self.slots if s.proc is not None])

    def _assign(self) -> None:
        for slot in self.slots:
            if slot.ready and slot.current is None and self.pending and slot.proc.is_alive():
                slot.current = self.pending.popleft()
                slot.tasks.put(slot.current)

    def _handle(self, kind: str, name: str, payload: Any, wid: int) -> None:
        slot = self.slots[wid]
        if kind == "fatal":
            raise M3vosError(f"a worker could not start: {payload['error']}")
        if kind == "ready":
            slot.ready = True
            return
        if kind in ("done", "failed"):
            slot.current = None
        self.on_event(kind, name, payload)


    def _reap(self) -> None:
        """Nothing arrived for a while: look for dead workers."""
        dead = [s for s in self.slots if s.proc is not None and not s.proc.is_alive()]
        if not dead:
            return
        for slot in dead:
            if slot.conn is not None and slot.conn.poll():
                self._read(slot, drain=True)  # every message it managed to send
            if slot.conn is not None:
                slot.conn.close()
                slot.conn = None
        for slot in dead:
            code = slot.proc.exitcode
            slot.proc, slot.ready = None, False
            slot.deaths += 1
            name, slot.current = slot.current, None
            if name is not None:
                self.exit_codes.setdefault(name, []).append(code)
                codes = ", ".join(map(str, self.exit_codes[name]))
                self.retries.lost(name, f"worker process died (exit code {codes})")
            if (self.pending or any(s.current for s in self.slots)) and \
                    self.retries.may_replace(name is not None, slot.deaths):
                self._start(slot)
        if self.pending and all(s.proc is None for s in self.slots):
            seen = sorted({s for s in (c for cs in self.exit_codes.values() for c in cs) if s is not None})
            self.retries.fail_pending(f"no worker process left to run it (exit codes {seen})" if seen
                                      else "no worker process left")


def run_pool(job: Job, names: list[str], devices: list[str], on_event: EventFn,
             *, max_retries: int = 2, poll: float = 0.2) -> None:
    """One spawned process per entry of `devices` (e.g. cuda:0, cuda:1), fed from one queue."""
    WorkerPool(job, names, devices, on_event, max_retries=max_retries, poll=poll).run()


def _needs_torch(job: Job) -> bool:
    from m3vos.trackers.registry import get_tracker

    return get_tracker(job.tracker.model).capabilities.needs_torch


def _stop(procs: list[Any]) -> None:
    """SIGTERM (a clean stop once a worker is set up), then SIGKILL for any that hang."""
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=10)
        if p.is_alive():
            p.kill()
            p.join(timeout=5)
