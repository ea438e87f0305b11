"""The results document (`results.json`, schema `m3vos-results/1`) and the official CSVs.

The layout and its validation belong to `m3vos.metrics.contract`; this module fills it in.

Statistics are computed here from the per-frame values the workers return. Means over objects
use `math.fsum`, so they are exactly the same whatever the order of the videos.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from m3vos.errors import EnvError
from m3vos.metrics import statistics as stats
from m3vos.metrics.contract import RANDOM_WEIGHTS_MARK, SCHEMA, null_reason, random_weights
from m3vos.metrics.protocols import EXTENSION_METRICS, OFFICIAL_METRICS, ScoreOptions, metric_names
from m3vos.metrics.video import VideoScore
from m3vos.utils.jsonvalues import nan_to_none

RESULTS_JSON = "results.json"
#: Every file a scoring run writes into its results folder (`{set}` is the split name).
CSV_GLOBAL = "global_results-{set}.csv"
CSV_PER_OBJECT = "per-sequence_results-{set}.csv"


def object_metrics(vs: VideoScore, row: int, options: ScoreOptions) -> dict[str, float]:
    """Every statistic of one object, by official metric name."""
    j, f = vs.J[row], vs.F[row]
    out = stats.summary("J", j, compat_decay=options.compat_decay)
    if options.protocol == "m3vos":
        out.update(stats.summary("J_last", stats.last_part(j), compat_decay=options.compat_decay))
        out["J_cc-Mean"] = stats.mean(vs.J_cc[row]) if vs.J_cc is not None else math.nan
    out.update(stats.summary("F", f, compat_decay=options.compat_decay))
    out["J&F-Mean"] = (out["J-Mean"] + out["F-Mean"]) / 2
    return {name: out[name] for name in metric_names(options.protocol)}


def _fmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return math.fsum(finite) / len(finite) if finite else math.nan


@dataclass
class ScoreResult:
    options: ScoreOptions
    dataset: dict[str, Any]
    videos: list[VideoScore]
    warnings: list[str] = field(default_factory=list)
    predictions: str | None = None
    breakdowns: dict[str, Any] | None = None
    run: dict[str, Any] | None = None          # provenance from the predictions' run.json
    scored_at: str | None = None               # ISO 8601 UTC; set when first written

    def __post_init__(self) -> None:
        if random_weights(self.run) and RANDOM_WEIGHTS_MARK not in self.warnings:
            self.warnings.insert(0, RANDOM_WEIGHTS_MARK)

    @property
    def protocol(self) -> str:
        return self.options.protocol

    @property
    def metrics(self) -> list[str]:
        return metric_names(self.protocol)

    @cached_property
    def per_object(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for vs in self.videos:
            for row, k in enumerate(vs.object_ids):
                entry: dict[str, Any] = {"video": vs.name, "object_id": k, "n_frames": len(vs.frames)}
                entry.update(object_metrics(vs, row, self.options))
                undefined = [m for m in self.metrics if isinstance(entry[m], float) and math.isnan(entry[m])]
                if undefined:
                    entry["null_reasons"] = {m: null_reason(m, len(vs.frames)) for m in undefined}
                out[f"{vs.name}_{k}"] = entry
        return out

    @cached_property
    def global_metrics(self) -> dict[str, float]:
        objs = list(self.per_object.values())
        g = {m: _fmean([o[m] for o in objs]) for m in self.metrics}
        # davis2017: J&F-Mean is the mean of the two global means.
        g["J&F-Mean"] = (g["J-Mean"] + g["F-Mean"]) / 2
        return g

    @cached_property
    def per_sequence(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for vs in self.videos:
            objs = [self.per_object[f"{vs.name}_{k}"] for k in vs.object_ids]
            row: dict[str, Any] = {"n_objects": len(objs), "n_frames": len(vs.frames)}
            row.update({m: _fmean([o[m] for o in objs]) for m in self.metrics})
            out[vs.name] = row
        return out

    def per_frame(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for vs in self.videos:
            for row, k in enumerate(vs.object_ids):
                entry: dict[str, Any] = {"frames": list(vs.frames), "J": vs.J[row].tolist(),
                                         "F": vs.F[row].tolist()}
                if vs.J_cc is not None:
                    entry["J_cc"] = vs.J_cc[row].tolist()
                out[f"{vs.name}_{k}"] = entry
        return out

    def to_dict(self) -> dict[str, Any]:
        """The `results.json` document."""
        from m3vos import __version__

        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "protocol": self.protocol,
            "options": self.options.to_dict(),
            "m3vos_version": __version__,
            "scored_at": self.scored_at,
            "dataset": self.dataset,
            "run": self.run,
            "predictions": self.predictions,
            "metrics": {"official": OFFICIAL_METRICS[self.protocol],
                        "extension": EXTENSION_METRICS[self.protocol],
                        "units": "fractions in [0, 1]"},
            "n_videos": len(self.videos),
            "n_objects": len(self.per_object),
            "global": nan_to_none(self.global_metrics),
            "per_object": nan_to_none(self.per_object),
            "per_sequence": nan_to_none(self.per_sequence),
            "per_frame": self.per_frame(),
            "warnings": list(self.warnings),
        }
        if self.breakdowns is not None:
            doc["breakdowns"] = self.breakdowns
        return doc

    # -- CSVs ------------------------------------------------------------------------------
    def global_csv(self) -> str:
        return _csv(self.metrics, [[self.global_metrics[m] for m in self.metrics]])

    def per_object_csv(self) -> str:
        rows = [[key] + [o[m] for m in self.metrics] for key, o in self.per_object.items()]
        return _csv(["Sequence"] + self.metrics, rows)


def _csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in rows:
        w.writerow([f"{v:.6f}" if isinstance(v, float) else v for v in row])
    return buf.getvalue()


def result_files(out_dir: Path, split: str) -> list[Path]:
    return [out_dir / RESULTS_JSON, out_dir / CSV_GLOBAL.format(set=split),
            out_dir / CSV_PER_OBJECT.format(set=split)]


#: Where a failed or killed scoring moves the results it could not replace (inside --out).
RETIRED_DIR = Path(".m3vos") / "previous-results"


def retire_results(out_dir: str | os.PathLike[str], split: str) -> Path | None:
    """Move an earlier run's results out of the way when new ones could not be made.

    They no longer describe the folder, so they must not be read as current numbers,
    but they are not deleted either: they go to `RETIRED_DIR`, replacing what an older failure
    put there. Returns that folder, or None when there was nothing to move.
    """
    out_dir = Path(out_dir)
    present = [p for p in result_files(out_dir, split) if p.is_file()]
    if not present:
        return None
    dest = out_dir / RETIRED_DIR
    dest.mkdir(parents=True, exist_ok=True)
    for path in present:
        os.replace(path, dest / path.name)
    return dest


def check_writable(out_dir: str | os.PathLike[str]) -> None:
    """EnvError (exit 3) unless results can be written into `out_dir`: call it before scoring.

    Probes with a real temporary file (permission bits say nothing to root or on a read-only
    mount); a missing folder is probed at its nearest existing parent and not created here.
    """
    import tempfile

    out_dir = Path(out_dir)
    probe = out_dir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise EnvError("the results folder is not a folder" if probe == out_dir else
                       f"cannot create the results folder: {probe} is a file", path=out_dir,
                       hint="pass --out a folder (it is created if missing)")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".m3vos-write-probe.", dir=probe)
        os.close(fd)
        os.unlink(tmp)
    except OSError as exc:
        raise EnvError(f"cannot write results here ({exc.strerror or exc})", path=out_dir,
                       hint="pass --out a writable folder") from None


def write_results(result: ScoreResult, out_dir: str | os.PathLike[str], split: str) -> list[Path]:
    """Write results.json and the two CSVs: all to temporary names first, then renamed.

    A failing disk (full, read-only, quota) is an `EnvError` (exit 3); the previous results, if
    any, stay as they were.
    """
    if result.scored_at is None:
        import datetime

        result.scored_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    try:
        return _write_results(result, Path(out_dir), split)
    except OSError as exc:
        raise EnvError(f"could not write the results ({exc.strerror or exc}); the previous results are unchanged",
                       path=out_dir,
                       hint="free disk space or pass --out a writable folder") from None


def _write_results(result: ScoreResult, out_dir: Path, split: str) -> list[Path]:
    import json

    from m3vos.utils.atomic import atomic_path

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, global_path, object_path = result_files(out_dir, split)
    contents = {  # renamed in reverse order: results.json (what marks a results folder) last
        json_path: json.dumps(result.to_dict(), indent=1, allow_nan=False) + "\n",
        global_path: result.global_csv(),
        object_path: result.per_object_csv(),
    }
    # Nest the atomic renames: nothing is renamed until every file is fully written.
    from contextlib import ExitStack

    with ExitStack() as stack:
        for path, text in contents.items():
            tmp = stack.enter_context(atomic_path(path))
            tmp.write_text(text, encoding="utf-8")
    return list(contents)
