"""`run()`: one tracker over a dataset into a resumable output folder.

Everything the user could get wrong is checked before the first video starts (model, weights,
devices, dataset, output folder), so a bad command fails in a second with one line, not after an
hour on a cluster.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from m3vos import __version__
from m3vos.errors import BadInputError, EnvError, M3vosError
from m3vos.runner.job import Job, TrackerArgs
from m3vos.runner.lock import OutputLock
from m3vos.runner.options import _torch_cuda_count, parse_gpus, parse_shard, resolve_device
from m3vos.runner.schedule import longest_first, shard as shard_names
from m3vos.runner.store import RUN_SCHEMA, RunStore
from m3vos.trackers.base import Tracker
from m3vos.utils.signals import sigterm_as_interrupt
from m3vos.utils.workers import default_workers


class RunInterrupted(M3vosError):
    """Ctrl-C / SIGTERM: finished videos are kept, the current ones are discarded."""

    exit_code = 130


@dataclass
class RunSummary:
    out: Path
    model: str
    selected: int = 0
    skipped: list[str] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return sum(r.get("frames", 0) for r in self.done)

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "model": self.model, "selected": self.selected,
                "skipped": self.skipped, "done": [r["video"] for r in self.done],
                "failed": [{"video": r.get("video"), "error": r.get("error")} for r in self.failed],
                "frames": self.frames, "wall_seconds": round(self.wall_seconds, 3), "warnings": self.warnings}


def resolve_weights(cls: type[Tracker], model: str, weights: str | Path | None) -> Path | None:
    """The checkpoint a tracker will load: `m3vos.trackers.weights.resolve_weights` with what the
    tracker class declares (its default `weights_name`, whether it can take random weights and
    whether it needs a checkpoint); a file comes back absolute (it is recorded in run.json)."""
    from m3vos.trackers.random_weights import random_seed, supports_random
    from m3vos.trackers.weights import resolve_weights as resolve

    path = resolve(weights, default=getattr(cls, "weights_name", None), model=model,
                   allow_random=supports_random(cls), required=cls.capabilities.needs_weights)
    if path is None or random_seed(path) is not None:
        return path
    return path.resolve()


def _select(dataset: Any, videos: list[str] | None) -> list[str]:
    if not videos:
        return list(dataset.video_names)
    missing = [v for v in videos if v not in dataset]
    if missing:
        raise BadInputError(f"--videos: {', '.join(missing[:5])} not in split {dataset.split!r} of {dataset.root}",
                            hint=f"the split file {dataset.layout_info.split_file(dataset.split)} lists the videos")
    return list(dict.fromkeys(videos))


def _expected_stems(video: Any) -> list[str] | None:
    try:
        stems = [p.stem for p in video.frame_paths]
        return stems[stems.index(video.mask_paths[0].stem):]
    except (M3vosError, ValueError, IndexError, OSError):
        return None


def _environment(devices: list[str]) -> dict[str, Any]:
    import cv2
    import numpy as np

    env: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "numpy": np.__version__, "opencv": cv2.__version__, "devices": devices}
    if "torch" in sys.modules:
        import torch

        env["torch"] = torch.__version__
        env["torch_threads"] = torch.get_num_threads()
        env["cuda"] = torch.version.cuda
        env["cuda_available"] = bool(torch.cuda.is_available())
        if torch.cuda.is_available():
            env["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return env


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _devices(cls: type[Tracker], device: str, gpus: str | list[str] | None, workers: int,
             executor: str, address: str | None = None) -> list[str]:
    """One entry per worker, checked against what exists (never a run that waits forever)."""
    gpu_list = parse_gpus(",".join(gpus) if isinstance(gpus, list) else gpus)
    if gpu_list and workers > 1:
        raise BadInputError("--workers and --gpus both given",
                            hint="--gpus already starts one worker per GPU; list a GPU twice for two workers on it")
    if executor == "ray":
        from m3vos.runner.ray_executor import ray_devices

        return ray_devices(gpu_list, device=device, workers=workers,
                           needs_torch=cls.capabilities.needs_torch, address=address)
    if gpu_list:
        from m3vos.runner.resources import check_local_gpus

        check_local_gpus(gpu_list, _torch_cuda_count())
        return gpu_list
    return [resolve_device(device, needs_torch=cls.capabilities.needs_torch)] * workers


def _identity(model: str, cls: type[Tracker], spec: Any, *, config: dict[str, Any], weights_sha: str | None,
              amp: bool, late_objects: bool, seed: int, dataset_ident: dict[str, Any]) -> dict[str, Any]:
    """What makes two runs' outputs comparable; a folder only ever holds one identity.
    Devices, workers, executor and shard are left out: they do not change the result."""
    identity = {
        "tracker": model,
        "tracker_class": f"{cls.__module__}:{cls.__qualname__}",
        "tracker_version": str(getattr(cls, "version", "1")),
        "config": config,
        "weights_sha256": weights_sha,
        "amp": amp,
        "input_short_side": getattr(cls, "input_short_side", None),
        "late_objects": late_objects,
        "seed": seed,
        "dataset": {k: dataset_ident.get(k) for k in ("root", "split", "layout")},
    }
    if spec.source == "external":  # an edited command is another tracker
        from m3vos.utils.atomic import sha256_file

        identity["tracker_file_sha256"] = sha256_file(spec.target)
    return identity


def _benchmark_late_objects(data: str | Path | None, split: str, benchmark: str | None,
                            late_objects: bool | None) -> bool:
    """`late_objects`, or the benchmark's default; a `benchmark` that does not fit the root is bad input."""
    from m3vos.data.dataset import benchmark_of

    try:
        bench = benchmark_of(data, split=split, requested=benchmark)
    except M3vosError:
        if benchmark is not None:
            raise
        bench = None       # no readable dataset: run() reports it, after checking model and weights
    return bool(bench and bench.late_objects) if late_objects is None else late_objects


def run(model: str, out: str | Path, *, data: str | Path | None = None, split: str = "val",
        videos: list[str] | None = None, device: str = "auto", amp: bool = False,
        weights: str | Path | None = None, config: dict[str, Any] | None = None, workers: int | None = None,
        gpus: str | list[str] | None = None, executor: str = "local", address: str | None = None,
        shard: str | tuple[int, int] | None = None, force: bool = False, late_objects: bool | None = False,
        seed: int = 0, progress: bool | None = None, precision: str | None = None,
        max_retries: int = 2, log: bool | None = None, benchmark: str | None = None) -> RunSummary:
    """Run `model` over the dataset into `out`; finished videos are skipped, failed ones recorded.

    `precision`: fp32 | tf32 | amp-bf16 | amp-fp16 (None: tf32, the official eval's; `amp=True`
    means amp-fp16). `max_retries`: how often a video whose worker process died is retried.
    `log`: plain lines per video and a heartbeat (default: when stderr is not a terminal).
    `workers=None`: one per device for torch trackers (one per GPU with `gpus`), else
    `default_workers` (CPUs this process may use, at most one per video). `benchmark` (`--dataset`) must fit the root; `late_objects` None: the
    benchmark's protocol (on for ytvos only)."""
    from m3vos.runner.precision import check_precision
    from m3vos.data.dataset import open_dataset
    from m3vos.trackers.registry import find_spec, get_tracker

    t_start = time.perf_counter()
    if late_objects is None or benchmark is not None:
        late_objects = _benchmark_late_objects(data, split, benchmark, late_objects)
    out = Path(out).expanduser()
    config = dict(config or {})
    cls = get_tracker(model)
    cls.check_config(config)   # a typo is exit 2 here, before workers start or --out is touched
    spec = find_spec(model)
    if cls.capabilities.needs_torch:
        from m3vos.trackers.registry import torch_missing

        missing = torch_missing(model)
        if missing:
            raise BadInputError(missing)
    explicit_precision = precision is not None or amp
    precision = check_precision(precision if precision is not None else ("amp-fp16" if amp else None))
    amp = precision.startswith("amp")
    if max_retries < 0:
        raise BadInputError(f"--max-retries must be >= 0, got {max_retries}")
    if executor not in ("local", "ray"):
        raise BadInputError(f"unknown --executor {executor!r}", hint="use local or ray")
    auto_workers = workers is None
    # the one rule (docs/cli.md): a torch tracker gets one worker per device, CPU work one per core
    one_per_device = auto_workers and (gpus or cls.capabilities.needs_torch)
    workers = 1 if one_per_device else default_workers(None, workers)
    if executor == "ray":  # refuse before anything is written into --out
        from m3vos.runner.ray_executor import _import_ray

        _import_ray()
    shard_ix = parse_shard(shard) if isinstance(shard, str) or shard is None else shard
    devices = _devices(cls, device, gpus, workers, executor, address)
    weights_file = resolve_weights(cls, model, weights)

    dataset = open_dataset(data, split=split)
    if dataset.images_dir is None:
        raise BadInputError("the dataset has no frames (no JPEGImages folder) to run a tracker on",
                            path=dataset.root, hint="download the full dataset, not only the annotations")
    names = _select(dataset, videos)
    frames = {n: len(dataset.video(n).frame_paths) for n in names}
    if shard_ix is not None:
        names = shard_names(names, frames, *shard_ix)
    names = longest_first(names, frames)
    if auto_workers and not gpus and executor == "local":
        devices = devices[:max(1, min(len(devices), len(names)))]  # never more workers than videos

    from m3vos.utils.atomic import sha256_file

    from m3vos.trackers.random_weights import WARNING, random_seed

    seed_w = random_seed(weights_file)
    weights_sha: str | None
    if seed_w is not None:   # a different seed is a different run; never mixed with real weights
        weights_sha = str(weights_file)
    else:
        weights_sha = sha256_file(weights_file) if weights_file is not None else None
    ident = dataset.identity()
    identity = _identity(model, cls, spec, config=config, weights_sha=weights_sha, amp=amp,
                         late_objects=late_objects, seed=seed, dataset_ident=ident)
    if precision not in ("tf32", "amp-fp16") and cls.capabilities.needs_torch:
        identity["precision"] = precision  # (tf32 and amp-fp16 are the folders' old meaning)
    store = RunStore(out)
    if store.out.exists() and not store.out.is_dir():
        raise BadInputError("--out is a file, not a folder", path=store.out, hint="pass a folder path")
    store.check_compatible(identity, force=force)
    # Build the tracker here for serial runs: bad config or weights fail before anything is
    # touched (workers and Ray actors build their own).
    targs = TrackerArgs(model=model, weights=str(weights_file) if weights_file else None, config=config, amp=amp)
    tracker: Tracker | None = None
    t_load = time.perf_counter()
    if executor == "local" and len(devices) == 1:
        from m3vos.runner.precision import effective

        tracker = targs.build(devices[0], amp=effective(precision, devices[0]).startswith("amp"))
    load_seconds = time.perf_counter() - t_load
    try:
        lock = OutputLock(store.out, shard_ix).acquire()   # one run per folder (or shard); released at the end
    except BaseException:
        if tracker is not None:
            with contextlib.suppress(Exception):
                tracker.close()
        raise
    if force:
        store.reset()
    todo = [n for n in names if not store.is_done(n, _expected_stems(dataset.video(n)))]
    todo_set = set(todo)
    summary = RunSummary(out=Path(out), model=model, selected=len(names),
                         skipped=[n for n in names if n not in todo_set])
    from m3vos.runner.precision import effective, no_effect_warnings

    summary.warnings += no_effect_warnings(precision, explicit_precision, devices, cls.capabilities.needs_torch,
                                           model)
    if seed_w is not None:
        summary.warnings.append(WARNING)
    if late_objects and not cls.capabilities.late_objects:
        summary.warnings.append(f"--late-objects: {model} does not accept masks after frame 0; "
                                "objects that appear later are not given to it")
    if cls.capabilities.needs_torch and "torch" not in sys.modules:
        with contextlib.suppress(ImportError):
            import torch  # noqa: F401  (for the environment record only)

    doc: dict[str, Any] = {
        "schema": RUN_SCHEMA,
        "identity": identity,
        "tracker": {"name": model, "class": identity["tracker_class"], "version": identity["tracker_version"],
                    "source": spec.source, "capabilities": cls.capabilities.flags()},
        "config": config,
        "weights": ({"random": True, "seed": seed_w} if seed_w is not None
                    else {"path": str(weights_file), "sha256": weights_sha} if weights_file else None),
        "dataset": ident,
        "m3vos_version": __version__,
        "environment": _environment(devices),
        "executor": {"kind": executor, "devices": devices, "address": address,
                     "shard": f"{shard_ix[0]}/{shard_ix[1]}" if shard_ix else None, "max_retries": max_retries},
        "precision": {"requested": precision, "explicit": explicit_precision,
                      "effective": {d: effective(precision, d) for d in dict.fromkeys(devices)},
                      "default_reason": "tf32: the official Cutie eval on GPU (amp False, torch's TF32 "
                                        "convolutions); see docs/run.md"},
        "status": "running",
        "started": _now(),
    }
    had_run_file = store.run_file.exists()
    try:
        store.out.mkdir(parents=True, exist_ok=True)
        store.write_run(doc)
    except OSError as exc:
        lock.release()
        raise EnvError(f"cannot write the output folder: {exc.strerror or exc}", path=store.out,
                       hint="pass a writable --out folder with free space") from None

    job = Job(tracker=targs, data_root=str(dataset.root), split=split, out=str(store.out),
              late_objects=late_objects, seed=seed, precision=precision)
    from m3vos.runner.logs import RunLog, log_enabled
    from m3vos.utils.progress import make_progress

    run_log = RunLog(len(todo), sum(frames[n] for n in todo)) if log_enabled(log, progress) else None
    if run_log is not None:
        for warning in summary.warnings:
            run_log.line(f"warning: {warning}")
        run_log.start()

    status = "complete"
    with lock, make_progress(enabled=progress) as bar, sigterm_as_interrupt():
        vid_task = bar.add_task("videos", total=len(todo), status="")
        frm_task = bar.add_task("frames", total=sum(frames[n] for n in todo), status="")
        t_track = time.perf_counter()
        done_frames = [0]

        def on_event(kind: str, name: str, payload: Any) -> None:
            if kind == "frames":
                done_frames[0] += payload
                elapsed = max(time.perf_counter() - t_track, 1e-6)
                bar.update(frm_task, advance=payload, status=f"{done_frames[0] / elapsed:.1f} frames/s")
            elif kind == "start":
                bar.update(vid_task, status=name)
            elif kind == "done":
                summary.done.append(payload)
                bar.update(vid_task, advance=1)
            elif kind == "failed":
                summary.failed.append(payload)
                bar.update(vid_task, advance=1)
            if run_log is not None:
                run_log.event(kind, name, payload)

        try:
            if todo:
                _execute(job, todo, devices, on_event, executor=executor, address=address, tracker=tracker,
                         max_retries=max_retries)
        except KeyboardInterrupt:
            status = "interrupted"
        except BaseException:
            status = "error"
            raise
        finally:
            if tracker is not None:
                with contextlib.suppress(Exception):
                    tracker.close()
            summary.wall_seconds = time.perf_counter() - t_start
            if run_log is not None:
                run_log.beat(force=True)
            if status == "error" and not had_run_file and not summary.done and not summary.failed:
                store.run_file.unlink(missing_ok=True)   # the run never started: leave no run.json
            else:
                _finish_run_doc(store, doc, summary, status, load_seconds, names)
    if status == "interrupted":
        raise RunInterrupted(f"interrupted: {len(summary.done)} video(s) finished this time, "
                             f"{len(todo) - len(summary.done) - len(summary.failed)} left",
                             hint="rerun the same command to resume")
    return summary


def _execute(job: Job, todo: list[str], devices: list[str], on_event: Any, *, executor: str,
             address: str | None, tracker: Tracker | None, max_retries: int = 2) -> None:
    """Serial in this process, a pool of worker processes, or Ray: the same per-video code."""
    if executor == "ray":
        from m3vos.runner.ray_executor import run_ray

        run_ray(job, todo, devices, on_event, address=address, max_retries=max_retries)
    elif len(devices) == 1:
        from m3vos.runner.local import run_serial

        run_serial(job, todo, devices[0], on_event, tracker=tracker)
    else:
        from m3vos.runner.local import run_pool

        run_pool(job, todo, devices, on_event, max_retries=max_retries)


def _finish_run_doc(store: RunStore, doc: dict[str, Any], summary: RunSummary, status: str,
                    load_seconds: float, names: list[str]) -> None:
    records = {r["video"]: r for r in store.done_records()}
    selected = [records[n] for n in names if n in records]
    frames = sum(r.get("frames", 0) for r in selected)
    seconds = sum(r.get("seconds", 0.0) for r in selected)
    failed = store.failed_names()
    if status == "complete" and summary.failed:
        status = "failed"
    doc.update({
        "status": status,
        "finished": _now(),
        "timings": {
            "wall_seconds": round(summary.wall_seconds, 3),
            "model_load_seconds": round(load_seconds, 3),
            "this_invocation": {"videos": len(summary.done), "frames": summary.frames,
                                "skipped": len(summary.skipped), "failed": len(summary.failed)},
            "all_videos": {"videos": len(records), "frames": sum(r.get("frames", 0) for r in records.values()),
                           "tracking_seconds": round(sum(r.get("seconds", 0.0) for r in records.values()), 3)},
            "selected": {"videos": len(names), "done": len(selected), "frames": frames,
                         "tracking_seconds": round(seconds, 3),
                         "fps": round(frames / seconds, 3) if seconds > 0 else None},
        },
        "failed": failed,
    })
    store.write_run(doc)
