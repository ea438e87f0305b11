"""Local executors: in this process, or one worker process per device pulling from a queue.

The pool follows DeAOT's multi-GPU eval (workers pull video names from a shared queue, so long
and short videos balance themselves) but each video is still written atomically and recorded,
so a pool run resumes like a serial one.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
from typing import Any

from m3vos.errors import M3vosError
from m3vos.runner.job import EventFn, Job, VideoWorker
from m3vos.runner.process import failure_record
from m3vos.trackers.base import Tracker


def run_serial(job: Job, names: list[str], device: str, on_event: EventFn,
               tracker: Tracker | None = None) -> None:
    worker = VideoWorker(job, device, tracker)
    try:
        for name in names:
            on_event("start", name, device)
            kind, rec = worker.run(name, progress=lambda n, _name=name: on_event("frames", _name, n))
            on_event(kind, name, rec)
    finally:
        worker.close()


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _share_cores(threads: int, torch_too: bool) -> None:
    """N CPU workers each using every core oversubscribe the machine (20x slower for a torch
    model on 2 cores with 2 workers). DIS flow gives the same result with any thread count;
    torch on a CPU does not (float reduction order), which docs/run.md states."""
    import cv2

    cv2.setNumThreads(threads)
    if torch_too:
        import torch

        torch.set_num_threads(threads)


def _worker_main(job: Job, device: str, wid: int, tasks: Any, results: Any, threads: int | None = None,
                 torch_too: bool = False) -> None:
    # Ctrl-C is the main process's business: it stops the workers with SIGTERM, which (once
    # set up) they turn into KeyboardInterrupt so the video in progress removes its temp folder.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if threads:
        _share_cores(threads, torch_too)
    try:
        worker = VideoWorker(job, device)
    except BaseException as exc:  # setup failure: the main process aborts the run
        results.put(("fatal", "", failure_record("", exc), wid))
        return
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while True:
            name = tasks.get()
            if name is None:
                break
            results.put(("start", name, device, wid))
            kind, rec = worker.run(name, progress=lambda n, _name=name: results.put(("frames", _name, n, wid)))
            results.put((kind, name, rec, wid))
    except KeyboardInterrupt:
        pass  # the temp folder is already gone (atomic_dir); the main process reports
    finally:
        worker.close()


def run_pool(job: Job, names: list[str], devices: list[str], on_event: EventFn,
             *, poll: float = 0.2) -> None:
    """One spawned process per entry of `devices` (e.g. cuda:0, cuda:1), fed from one queue."""
    ctx = mp.get_context("spawn")  # fork + CUDA/OpenCV threads is unsafe
    tasks, results = ctx.Queue(), ctx.Queue()
    for name in names:
        tasks.put(name)
    for _ in devices:
        tasks.put(None)
    n_cpu = sum(1 for d in devices if d == "cpu")
    threads = max(1, (os.cpu_count() or 1) // n_cpu) if n_cpu else None
    torch_too = _needs_torch(job)
    procs = [ctx.Process(target=_worker_main, args=(job, dev, wid, tasks, results,
                                                    threads if dev == "cpu" else None, torch_too),
                         daemon=True, name=f"m3vos-worker-{wid}") for wid, dev in enumerate(devices)]
    for p in procs:
        p.start()
    pending = set(names)
    inflight: dict[int, str] = {}  # worker index -> video it is running
    try:
        while pending:
            try:
                kind, name, payload, wid = results.get(timeout=poll)
            except queue.Empty:
                # Nothing arrived for a while: every message a dead worker sent has been read.
                for wid, p in enumerate(procs):
                    if not p.is_alive() and wid in inflight:
                        name = inflight.pop(wid)
                        if name in pending:
                            pending.discard(name)
                            rec = {"video": name, "error": f"worker process died (exit code {p.exitcode}) "
                                                           "while running this video", "kind": "WorkerDied"}
                            job.store().write_failed(name, rec)
                            on_event("failed", name, rec)
                if pending and not any(p.is_alive() for p in procs):
                    # A worker that dies hard can lose its last "start" message (queues flush
                    # from a background thread), so its video is only known as still pending.
                    crashed = sorted({p.exitcode for p in procs if p.exitcode not in (0, None)})
                    why = (f"worker process died (exit code {', '.join(map(str, crashed))}) before "
                           "this video finished" if crashed else "no worker process left to run it")
                    for name in sorted(pending):
                        rec = {"video": name, "error": why, "kind": "WorkerDied"}
                        job.store().write_failed(name, rec)
                        on_event("failed", name, rec)
                    pending.clear()
                continue
            if kind == "fatal":
                raise M3vosError(f"a worker could not start: {payload['error']}")
            if kind == "start":
                inflight[wid] = name
            elif kind in ("done", "failed"):
                inflight.pop(wid, None)
                pending.discard(name)
            on_event(kind, name, payload)
    except BaseException:
        _stop(procs)
        raise
    for p in procs:
        p.join(timeout=10)
    _stop(procs)


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
