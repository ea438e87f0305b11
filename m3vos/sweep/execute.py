"""Running a sweep: each point is `m3vos.runner.run` into `<out>/points/<id>/`, then scored.

A point is finished when its `point.json` (written last, atomically) matches the point: a rerun
skips it without starting the runner, a killed point resumes video by video through the
runner's own resume, and a new grid value runs only the new points.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from m3vos.errors import BadInputError, M3vosError
from m3vos.sweep.plan import Point, SweepSpec

POINT_FILE = "point.json"
POINT_SCHEMA = "m3vos-sweep-point/1"
POINTS_DIR = "points"


class SweepFailed(M3vosError):
    """Some points failed; the others are in the table."""

    exit_code = 1


@dataclass
class SweepResult:
    out: Path
    table: Any                       # pandas DataFrame (m3vos.sweep.table.build_table)
    reference: str
    metric: str
    ran: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    wall_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from m3vos.utils.jsonvalues import nan_to_none

        return nan_to_none({"out": str(self.out), "reference": self.reference, "metric": self.metric,
                            "ran": self.ran, "skipped": self.skipped, "failed": self.failed,
                            "files": [str(f) for f in self.files], "wall_seconds": round(self.wall_seconds, 3),
                            "rows": json.loads(self.table.to_json(orient="records"))})


def _marker(point_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((point_dir / POINT_FILE).read_text())
    except (OSError, ValueError):
        return None


def _identity(spec: SweepSpec, point: Point, *, protocol: str, dataset: Any, videos: list[str] | None,
              late_objects: bool) -> dict[str, Any]:
    """What must match for a finished point to be reused."""
    ident = dataset.identity()
    return {"model": spec.model, "config": point.config, "protocol": protocol, "videos": videos,
            "late_objects": late_objects,
            "dataset": {k: ident.get(k) for k in ("root", "split", "layout", "benchmark", "n_videos",
                                                  "manifest_sha256")}}


def _memory_mb(point_dir: Path) -> float | None:
    from m3vos.runner.store import RunStore

    peaks = [max(r.get("peak_cuda_mb") or 0.0, r.get("peak_rss_mb") or 0.0) for r in RunStore(point_dir).done_records()]
    return max(peaks) if peaks else None


def _fps(point_dir: Path) -> float | None:
    try:
        doc = json.loads((point_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    return ((doc.get("timings") or {}).get("selected") or {}).get("fps")


def _per_object(point_dir: Path, metric: str) -> dict[str, tuple[str, float]]:
    doc = json.loads((point_dir / "results.json").read_text())
    out = {}
    for key, entry in (doc.get("per_object") or {}).items():
        v = entry.get(metric)
        if isinstance(v, (int, float)):
            out[key] = (str(entry.get("video")), float(v))
    return out


def _resolve_videos(dataset: Any, videos: list[str] | None) -> list[str] | None:
    """`core` (unless a video is called that) means the M3-VOS core subset, from the labels."""
    if not videos or "core" not in videos or "core" in dataset:
        return videos
    core = [n for n in dataset.video_names if any(o.core for o in dataset.video(n).objects)]
    if not core:
        raise BadInputError("--videos core: no video of this dataset is labelled core", path=dataset.root,
                            hint="fetch the labels (`m3vos data labels`) or list the videos by name")
    return list(dict.fromkeys([*(v for v in videos if v != "core"), *core]))


def run_sweep(spec: SweepSpec, out: str | Path, *, data: str | Path | None = None, split: str = "val",
              videos: list[str] | None = None, benchmark: str | None = None, protocol: str | None = None,
              metric: str = "J-Mean", device: str = "auto", workers: int | None = None, gpus: str | None = None,
              executor: str = "local", address: str | None = None, late_objects: bool | None = None,
              progress: bool | None = None, log: Callable[[str], None] | None = None) -> SweepResult:
    """Run and score every point of `spec` not yet finished, then write the table and the plot.
    `workers` None: the runner's and the scorer's own defaults."""
    from m3vos.data.benchmarks import check_scorable
    from m3vos.data.dataset import open_dataset
    from m3vos.metrics import metric_names, write_results
    from m3vos.metrics.engine import score_predictions
    from m3vos.runner import run
    from m3vos.sweep.table import PointResult, build_table, speed_accuracy_plot, write_tables
    from m3vos.trackers.registry import get_tracker
    from m3vos.utils.atomic import atomic_write_json

    t0 = time.perf_counter()
    say = log or (lambda s: None)
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise BadInputError("--out is a file, not a folder", path=out, hint="pass a folder path")
    points = spec.expand()
    reference = spec.reference_point(points)
    cls = get_tracker(spec.model)
    for p in points:                     # every point's config is checked before any work starts
        cls.check_config(p.config)
    dataset = open_dataset(data, split=split, benchmark=benchmark)
    check_scorable(dataset)
    protocol = protocol or dataset.benchmark.protocol
    if metric not in metric_names(protocol):
        raise BadInputError(f"--metric {metric!r} is not reported by the {protocol} protocol",
                            hint=f"use one of: {', '.join(metric_names(protocol))}")
    late = dataset.benchmark.late_objects if late_objects is None else late_objects
    videos = _resolve_videos(dataset, videos)
    result = SweepResult(out=out, table=None, reference=reference.id, metric=metric)
    finished: list[PointResult] = []
    for i, p in enumerate(points, start=1):
        pdir = out / POINTS_DIR / p.id
        ident = _identity(spec, p, protocol=protocol, dataset=dataset, videos=videos, late_objects=late)
        marker = _marker(pdir)
        if marker is not None and marker.get("identity") == ident and (pdir / "results.json").is_file():
            result.skipped.append(p.id)
            say(f"[{i}/{len(points)}] {p.id}: done earlier, skipped")
        else:
            say(f"[{i}/{len(points)}] {p.id}: running {spec.model} with {p.config or 'defaults'}")
            summary = run(spec.model, pdir, data=dataset.root, split=split, videos=videos, device=device,
                          config=p.config, workers=workers, gpus=gpus, executor=executor, address=address,
                          late_objects=late, progress=progress)
            if summary.failed:
                result.failed[p.id] = f"{len(summary.failed)} video(s) failed (see {pdir / '.m3vos' / 'failed'})"
                say(f"[{i}/{len(points)}] {p.id}: FAILED ({result.failed[p.id]})")
                continue
            scored = score_predictions(pdir, dataset, protocol=protocol, videos=videos, workers=workers)
            write_results(scored, pdir, split)
            atomic_write_json(pdir / POINT_FILE, {
                "schema": POINT_SCHEMA, "point": p.id, "varied": p.varied, "identity": ident,
                "global": scored.to_dict().get("global"), "fps": _fps(pdir), "peak_memory_mb": _memory_mb(pdir)})
            result.ran.append(p.id)
        marker = _marker(pdir) or {}
        finished.append(PointResult(id=p.id, varied=p.varied, per_object=_per_object(pdir, metric),
                                    fps=marker.get("fps"), peak_memory_mb=marker.get("peak_memory_mb"),
                                    folder=str(pdir)))
    keys = list(dict.fromkeys(k for p in points for k in p.varied))
    result.table = build_table(finished, reference=reference.id, metric=metric, keys=keys)
    if len(result.table):
        result.files = write_tables(result.table, out)
        result.files.append(speed_accuracy_plot(result.table, out / "speed_accuracy.png", metric=metric,
                                                title=f"sweep of {spec.model} ({protocol} protocol)"))
    result.wall_seconds = time.perf_counter() - t0
    if result.failed:
        raise SweepFailed(f"{len(result.failed)} of {len(points)} point(s) failed: "
                          + "; ".join(f"{k}: {v}" for k, v in result.failed.items()),
                          hint="rerun the same command to retry them (finished points are kept)")
    return result
