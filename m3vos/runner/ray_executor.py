"""The Ray executor: one actor per device holds the tracker; videos are balanced dynamically.

Same work as the local pool, for clusters (`--address auto` inside a Slurm allocation, or a
Ray/K8s cluster). Actors write straight into `--out` (a shared filesystem), so results,
records and resume are exactly those of a local run. Ray is an optional extra: `m3vos[ray]`.

Nothing waits forever: the request is checked against `ray.cluster_resources()` before any
actor is created (exit 2 saying what exists), actors that do not start within
`startup_timeout` stop the run with a message, and a video whose actor dies (segfault, OOM
killer) is retried on a fresh actor `max_retries` times, then recorded as failed while the
other videos go on. Ray's own warnings are forwarded to the user's terminal.
"""

from __future__ import annotations

import os
import time
from typing import Any

from m3vos.errors import BadInputError, EnvError, M3vosError
from m3vos.runner.job import EventFn, Job
from m3vos.runner.retries import Retries
from m3vos.runner.resources import RayWorker, check_ray_plan, ray_auto_devices, ray_plan

#: Seconds to wait for the first actors to be placed and load their model.
STARTUP_TIMEOUT = float(os.environ.get("M3VOS_STARTUP_TIMEOUT", "600"))
_started_here = False


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInputError("--executor ray needs Ray, which is not installed",
                            hint="pip install 'm3vos[ray]' (or pip install ray)") from None
    return ray


def connect(address: str | None, num_cpus: int | None = None) -> Any:
    """`ray.init` once per process (reusing a session that is already up)."""
    global _started_here
    ray = _import_ray()
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True}
        if address:
            kwargs["address"] = address
        elif num_cpus:
            kwargs["num_cpus"] = num_cpus
        try:
            ray.init(**kwargs)
        except ConnectionError as exc:
            raise BadInputError(f"cannot reach the Ray cluster at {address!r}: {str(exc).splitlines()[0]}",
                                hint="start it (ray start --head) or drop --address for a local Ray") from None
        _started_here = True
    return ray


def ray_devices(gpus: list[str] | None, *, device: str, workers: int, needs_torch: bool,
                address: str | None) -> list[str]:
    """The actors' devices, checked against the cluster before anything is scheduled."""
    ray = connect(address, num_cpus=None if address else max(workers, len(gpus or []), 1))
    resources = ray.cluster_resources()
    devices = gpus or ray_auto_devices(resources, workers=workers, device=device, needs_torch=needs_torch)
    check_ray_plan(ray_plan(devices), resources, flag="--gpus" if gpus else "--device/--workers")
    return devices


def run_ray(job: Job, names: list[str], devices: list[str], on_event: EventFn, *,
            address: str | None = None, max_retries: int = 2,
            startup_timeout: float | None = None) -> None:
    ray = connect(address, num_cpus=max(len(devices), 1))
    try:
        _Scheduler(ray, job, names, ray_plan(devices), on_event, max_retries=max_retries,
                   startup_timeout=STARTUP_TIMEOUT if startup_timeout is None else startup_timeout).run()
    finally:
        shutdown()


def shutdown() -> None:
    """Stop the local Ray this process started (a cluster joined with --address stays up)."""
    global _started_here
    if _started_here:
        import ray

        ray.shutdown()
        _started_here = False


class _Scheduler:
    """Feeds one video at a time to each actor, replaces dead actors, retries their videos."""

    def __init__(self, ray: Any, job: Job, names: list[str], plan: list[RayWorker], on_event: EventFn, *,
                 max_retries: int, startup_timeout: float) -> None:
        self.ray, self.job, self.plan, self.on_event = ray, job, plan, on_event
        self.retries = Retries(job, names, on_event, max_retries)
        self.pending = self.retries.pending
        self.startup_timeout = startup_timeout
        self.actor_cls = ray.remote(max_restarts=0, max_task_retries=0)(_VideoActor)
        self.actors: list[Any] = [None] * len(plan)
        self.ready: list[bool] = [False] * len(plan)
        self.inflight: dict[Any, tuple[int, str | None]] = {}   # future -> (slot, video or None: ready probe)
        self.deaths = [0] * len(plan)

    def _start(self, slot: int) -> None:
        w = self.plan[slot]
        actor = self.actor_cls.options(num_gpus=w.num_gpus, num_cpus=w.num_cpus,
                                       name=None).remote(self.job, w.device)
        self.actors[slot] = actor
        self.ready[slot] = False
        self.inflight[actor.ready.remote()] = (slot, None)

    def run(self) -> None:
        for slot in range(len(self.plan)):
            self._start(slot)
        last = time.monotonic()  # of the last result (or of the start)
        try:
            while self.pending or any(v is not None for _, v in self.inflight.values()):
                self._assign()
                if not self.inflight:
                    self.retries.fail_pending("no Ray worker left to run it")
                    break
                done, _ = self.ray.wait(list(self.inflight), num_returns=1, timeout=1.0)
                if not done:
                    # no live actor has ever loaded (at the start, or after every one died)
                    if not any(self.ready) and time.monotonic() - last > self.startup_timeout:
                        raise EnvError(
                            f"no Ray worker started within {self.startup_timeout:.0f} s "
                            f"({len(self.plan)} asked for; the cluster has {self._resources()})",
                            hint="check `ray status` for pending actors: the GPUs/CPUs may be held by other jobs")
                    continue
                last = time.monotonic()
                self._collect(done[0])
        finally:
            for actor in self.actors:
                if actor is not None:
                    self.ray.kill(actor, no_restart=True)

    def _resources(self) -> str:
        r = self.ray.cluster_resources()
        a = self.ray.available_resources()
        return (f"{r.get('GPU', 0):g} GPU(s) and {r.get('CPU', 0):g} CPU(s), of which "
                f"{a.get('GPU', 0):g} GPU(s) and {a.get('CPU', 0):g} CPU(s) free")

    def _assign(self) -> None:
        busy = {s for s, v in self.inflight.values()}
        for slot, actor in enumerate(self.actors):
            if actor is not None and self.ready[slot] and slot not in busy and self.pending:
                name = self.pending.popleft()
                self.on_event("start", name, self.plan[slot].label)
                self.inflight[actor.run.remote(name)] = (slot, name)

    def _collect(self, future: Any) -> None:
        slot, name = self.inflight.pop(future)
        try:
            result = self.ray.get(future)
        except self.ray.exceptions.RayActorError as exc:
            self._actor_died(slot, name, _cause(exc))
            return
        except self.ray.exceptions.RayError as exc:
            raise M3vosError(f"a Ray worker failed: {_cause(exc)}",
                             hint="finished videos are kept; rerun to resume") from None
        if name is None:
            if result is not None:  # the actor could not build its tracker: the run cannot work
                raise M3vosError(f"a Ray worker could not start: {result['error']}")
            self.ready[slot] = True
            return
        kind, rec = result
        self.on_event(kind, name, rec)

    def _actor_died(self, slot: int, name: str | None, why: str) -> None:
        self.deaths[slot] += 1
        self.actors[slot] = None
        self.ready[slot] = False
        if name is not None:
            self.retries.lost(name, "Ray worker died", cause=why)
        if self.pending and self.retries.may_replace(name is not None, self.deaths[slot]):
            self._start(slot)  # a fresh actor for the slot


def _cause(exc: BaseException) -> str:
    cause = getattr(exc, "cause", None) or exc
    if isinstance(cause, M3vosError):
        return cause.one_line()
    lines = [ln for ln in str(cause).strip().splitlines() if ln.strip()]
    return lines[0][:300] if lines else type(cause).__name__


class _VideoActor:
    """Holds one loaded tracker; `run(name)` tracks one video into the shared output folder."""

    def __init__(self, job: Job, device: str) -> None:
        from m3vos.runner.job import VideoWorker
        from m3vos.runner.process import failure_record

        # A setup error (bad config, missing weights) is returned by `ready`, not raised: a
        # raising constructor would be reported as a long remote traceback.
        self.worker, self.fatal = None, None
        try:
            self.worker = VideoWorker(job, device)
        except Exception as exc:
            self.fatal = failure_record("", exc)

    def ready(self) -> dict[str, Any] | None:
        return self.fatal

    def run(self, name: str) -> tuple[str, dict[str, Any]]:
        import ray

        kind, rec = self.worker.run(name)  # type: ignore[union-attr]
        rec = dict(rec)
        rec["ray_gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
        return kind, rec
