"""The Ray executor: one actor per device holds the tracker; videos are balanced dynamically.

Same work as the local pool, for clusters (`--address auto` inside a Slurm allocation, or a
Ray/K8s cluster). Actors write straight into `--out` (a shared filesystem), so results,
records and resume are exactly those of a local run. Ray is an optional extra: `m3vos[ray]`.
"""

from __future__ import annotations

from typing import Any

from m3vos.errors import BadInputError, M3vosError
from m3vos.runner.job import EventFn, Job


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BadInputError("--executor ray needs Ray, which is not installed",
                            hint="pip install 'm3vos[ray]' (or pip install ray)") from None
    return ray


def run_ray(job: Job, names: list[str], devices: list[str], on_event: EventFn, *,
            address: str | None = None, retries: int = 2) -> None:
    ray = _import_ray()
    from ray.util import ActorPool

    started = False
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "configure_logging": False}
        if address:
            kwargs["address"] = address
        else:
            kwargs["num_cpus"] = max(len(devices), 1)
        ray.init(**kwargs)
        started = True
    try:
        actor_cls = ray.remote(max_restarts=retries, max_task_retries=retries)(_VideoActor)
        actors = []
        for dev in devices:
            gpu = dev.startswith("cuda")
            # Ray sets CUDA_VISIBLE_DEVICES per actor: inside it, its GPU is always cuda:0.
            actors.append(actor_cls.options(num_gpus=1 if gpu else 0, num_cpus=1).remote(
                job, "cuda" if gpu else dev))
        pool = ActorPool(actors)
        for name in names:
            on_event("start", name, "ray")
        try:
            for kind, rec in pool.map_unordered(lambda a, n: a.run.remote(n), names):
                if kind == "fatal":
                    raise M3vosError(f"a Ray worker could not start: {rec['error']}")
                on_event(kind, rec.get("video", ""), rec)
        except ray.exceptions.RayError as exc:
            # e.g. an actor that cannot load its model: Ray wraps the cause in a long traceback
            cause = getattr(exc, "cause", None) or exc
            text = cause.one_line() if isinstance(cause, M3vosError) else str(cause).strip().splitlines()[-1]
            raise M3vosError(f"a Ray worker failed: {text}",
                             hint="finished videos are kept; rerun to resume") from None
    finally:
        if started:
            ray.shutdown()


class _VideoActor:
    """Holds one loaded tracker; `run(name)` tracks one video into the shared output folder."""

    def __init__(self, job: Job, device: str) -> None:
        from m3vos.runner.job import VideoWorker
        from m3vos.runner.process import failure_record

        # A setup error (bad config, missing weights) is returned, not raised: a raising
        # constructor would be restarted by Ray and reported as a long remote traceback.
        self.worker, self.fatal = None, None
        try:
            self.worker = VideoWorker(job, device)
        except Exception as exc:
            self.fatal = failure_record("", exc)

    def run(self, name: str) -> tuple[str, dict[str, Any]]:
        if self.worker is None:
            return "fatal", self.fatal
        return self.worker.run(name)
