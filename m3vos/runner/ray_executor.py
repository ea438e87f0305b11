"""The Ray executor: one actor per device holds the tracker; videos are balanced dynamically.

Same work as the local pool, for clusters (`--address auto` inside a Slurm allocation, or a
Ray/K8s cluster). Actors write straight into `--out` (a shared filesystem), so results,
records and resume are exactly those of a local run. Ray is an optional extra: `m3vos[ray]`.
"""

from __future__ import annotations

from typing import Any

from m3vos.errors import BadInputError
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
        for kind, rec in pool.map_unordered(lambda a, n: a.run.remote(n), names):
            on_event(kind, rec.get("video", ""), rec)
    finally:
        if started:
            ray.shutdown()


class _VideoActor:
    """Holds one loaded tracker; `run(name)` tracks one video into the shared output folder."""

    def __init__(self, job: Job, device: str) -> None:
        from m3vos.runner.job import VideoWorker

        self.worker = VideoWorker(job, device)

    def run(self, name: str) -> tuple[str, dict[str, Any]]:
        return self.worker.run(name)
