"""The results contract: what a `results.json` is, how it is read, and when two can be compared.

This is the only module that knows the document's layout. `m3vos.metrics` writes through it
(`SCHEMA`, `null_reason`, `dataset_fingerprint`, `read_run_record`), `m3vos.analysis` reads through
it (`load_results`, `load_many`, `check_comparable`, `provenance`), the CLI never parses the file.

- `Protocol` knows its metric names, each metric's direction (`MetricSpec.higher_is_better`) and
  range, and which scoring options change numbers (`NUMBER_OPTIONS`).
- Reading validates every per-object and global value: a finite number in the metric's range, or
  `null` (undefined, e.g. no scored frame; the writer records why in `null_reasons`). NaN,
  Infinity, strings, booleans, percents (50.0) or out-of-range values are a `BadInputError` naming
  the file, the object and the key.
- Two results are comparable when they were scored under the same protocol, the same
  number-changing options, and the same ground truth on the videos they share (`fingerprint`).

Schema: `m3vos-results/1` (docs/score.md documents it field by field). Everything this module adds
(`scored_at`, `run`, `dataset.fingerprint`, `null_reasons`) is an optional, additive field, so the
version is unchanged: older m3vos reads newer files and this one reads older files (a file without
a fingerprint is compared with a warning instead of a check).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from m3vos.errors import BadInputError

SCHEMA = "m3vos-results/1"
#: Schemas this version reads.
READABLE_SCHEMAS = (SCHEMA,)
RESULTS_NAME = "results.json"
RUN_NAME = "run.json"
#: per_object fields that are not metrics.
ENTRY_FIELDS = frozenset({"video", "object_id", "n_frames", "key", "null_reasons"})
#: Scoring options that change the numbers (others only decide how bad predictions are treated).
NUMBER_OPTIONS = ("jcc", "void_aware", "compat_decay")
OPTION_DEFAULTS = {"jcc": "hungarian", "void_aware": False, "compat_decay": False}
#: The mark every output carries for a run made with random weights.
RANDOM_WEIGHTS_MARK = "random weights: the numbers mean nothing"
#: Slack for float round-off at the ends of a metric's range.
_EPS = 1e-9


@dataclass(frozen=True)
class MetricSpec:
    """One metric: its direction and its range (fractions, as in results.json)."""

    name: str
    higher_is_better: bool = True
    low: float = 0.0
    high: float = 1.0

    @property
    def direction(self) -> str:
        return "higher" if self.higher_is_better else "lower"

    def better(self, a: float, b: float) -> bool:
        """a is strictly better than b."""
        return a > b if self.higher_is_better else a < b


def metric_spec(name: str) -> MetricSpec | None:
    """The spec of an official metric name (`J-Mean`, `F-Decay`, `J_cc-Mean`, ...); None if unknown.

    Decay is the drop from the first to the last quarter: lower is better, and it lies in [-1, 1].
    """
    prefix, sep, stat = name.rpartition("-")
    if not sep or prefix not in ("J", "F", "J_last", "J_cc", "J&F") or stat not in ("Mean", "Recall", "Decay"):
        return None
    if stat == "Decay":
        return MetricSpec(name, higher_is_better=False, low=-1.0, high=1.0)
    return MetricSpec(name)


def directions(names: Iterable[str]) -> dict[str, str]:
    """`{metric: "higher" | "lower"}` for the known metric names among `names`."""
    return {n: s.direction for n in names if (s := metric_spec(n)) is not None}


@dataclass(frozen=True)
class Protocol:
    """A scoring protocol: its metrics (official CSV order, then m3vos extensions) and options."""

    name: str
    official: tuple[str, ...]
    extension: tuple[str, ...] = ()

    @property
    def metrics(self) -> list[str]:
        return [*self.official, *self.extension]

    def spec(self, metric: str) -> MetricSpec:
        s = metric_spec(metric)
        if s is None or metric not in self.metrics:
            raise BadInputError(f"the {self.name} protocol has no metric {metric!r}",
                                hint=f"use one of: {', '.join(self.metrics)}")
        return s

    def number_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The options that change numbers, defaults filled in (J_cc variant only where J_cc exists)."""
        opts = dict(OPTION_DEFAULTS)
        opts.update({k: v for k, v in (options or {}).items() if k in NUMBER_OPTIONS})
        if "J_cc-Mean" not in self.metrics:
            opts.pop("jcc", None)
        return opts

    @classmethod
    def get(cls, name: str) -> "Protocol":
        from m3vos.metrics.protocols import EXTENSION_METRICS, OFFICIAL_METRICS, PROTOCOLS

        if name not in PROTOCOLS:
            raise BadInputError(f"unknown protocol {name!r}", hint=f"use one of {', '.join(PROTOCOLS)}")
        return cls(name, tuple(OFFICIAL_METRICS[name]), tuple(EXTENSION_METRICS[name]))


# --- writing helpers (used by m3vos.metrics.results / engine) ------------------------------------

def null_reason(metric: str, n_frames: int) -> str:
    """Why a statistic has no value (written next to the null in `null_reasons`)."""
    if n_frames == 0:
        return "no scored frame (a video needs 3 annotated frames: the first and last are not scored)"
    if metric.startswith("J_cc"):
        return "J_cc was not computed for this object"
    return f"undefined over {n_frames} scored frame(s)"


def dataset_fingerprint(dataset: Any, videos: Sequence[str]) -> dict[str, Any]:
    """What ground truth was scored: a sha256 per video over its annotation files (names and bytes),
    and one over the whole list. Comparing per video lets runs scored on different `--videos`
    subsets of the same dataset still be compared on the videos they share."""
    per_video: dict[str, str] = {}
    total = hashlib.sha256()
    for name in videos:
        h = hashlib.sha256()
        for p in dataset.video(name).mask_paths:
            p = Path(p)
            h.update(p.name.encode() + b"\0")
            h.update(p.read_bytes())
        per_video[name] = h.hexdigest()
        total.update(f"{name}\0{per_video[name]}\n".encode())
    return {"algorithm": "sha256 of annotation file names and bytes, per video", "n_videos": len(videos),
            "sha256": total.hexdigest(), "videos": per_video}


def read_run_record(preds: str | Path) -> dict[str, Any] | None:
    """The provenance part of `preds/run.json` (tracker, config, weights), or None without one.

    An unreadable run.json gives None: provenance is a courtesy, never a reason to refuse scoring.
    """
    file = Path(preds) / RUN_NAME
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    tracker = doc.get("tracker")
    weights = doc.get("weights")
    return {
        "file": str(file),
        "tracker": tracker.get("name") if isinstance(tracker, dict) else tracker,
        "config": doc.get("config"),
        "weights": weights if isinstance(weights, dict) or weights is None else {"path": str(weights)},
        "status": doc.get("status"),
    }


def random_weights(run: Mapping[str, Any] | None) -> bool:
    w = (run or {}).get("weights")
    return isinstance(w, dict) and bool(w.get("random"))


# --- reading -------------------------------------------------------------------------------------

class _NonFinite(float):
    """What `NaN`, `Infinity` and `-Infinity` parse to: kept, so validation can name where it is."""

    text: str

    def __new__(cls, text: str) -> "_NonFinite":
        obj = super().__new__(cls, float(text.replace("Infinity", "inf")))
        obj.text = text
        return obj


@dataclass
class ResultsFolder:
    """One scored run: where it is, what to call it, and its validated `results.json` document."""

    path: Path            # the folder holding results.json
    name: str             # display name (the folder name, made unique among those loaded)
    doc: dict[str, Any]
    file: Path | None = None   # the JSON file read (results.json, or a renamed copy)
    _metrics: list[str] = field(default_factory=list, repr=False)

    @property
    def per_object(self) -> dict[str, dict[str, Any]]:
        return self.doc["per_object"]

    @property
    def per_frame(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("per_frame") or {}

    @property
    def protocol(self) -> Protocol:
        return Protocol.get(self.doc.get("protocol") or "m3vos")

    def metrics(self) -> list[str]:
        return list(self._metrics) if self._metrics else metric_names(self.doc)

    @property
    def run(self) -> dict[str, Any] | None:
        """Tracker provenance: recorded at scoring time, else the predictions folder's run.json."""
        if isinstance(self.doc.get("run"), dict):
            return self.doc["run"]
        for folder in (self.doc.get("predictions"), self.path):
            if folder and (rec := read_run_record(folder)) is not None:
                return rec
        return None


def metric_names(doc: dict[str, Any]) -> list[str]:
    """Per-object metric names, in the order the first objects list them."""
    names: list[str] = []
    for entry in (doc.get("per_object") or {}).values():
        if isinstance(entry, dict):
            for k in entry:
                if k not in ENTRY_FIELDS and k not in names:
                    names.append(k)
    return names


def _bad(file: Path, where: str, what: str) -> BadInputError:
    return BadInputError(f"{where} {what}", path=file,
                         hint="results values are fractions in the metric's range or null; re-run `m3vos score`")


def _check_value(file: Path, where: str, spec: MetricSpec, v: Any, reasons: Any) -> None:
    if v is None:
        return
    if isinstance(v, _NonFinite):
        raise _bad(file, where, f"is {v.text}, not a finite number (an undefined value is written as null)")
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _bad(file, where, f"is {json.dumps(v)[:40]}, not a number")
    if not (spec.low - _EPS <= v <= spec.high + _EPS):
        hint = " (it looks like a percent: results hold fractions, 0.756 not 75.6)" if 1 < abs(v) <= 100 else ""
        raise _bad(file, where, f"is {v:g}, outside [{spec.low:g}, {spec.high:g}]{hint}")


def validate_document(doc: Any, file: Path) -> list[str]:
    """Check a parsed results document; return its metric names. BadInputError at the first fault."""
    if not isinstance(doc, dict):
        raise BadInputError("results file is not a JSON object", path=file, hint="re-run `m3vos score`")
    schema = doc.get("schema")
    if schema not in READABLE_SCHEMAS:
        raise BadInputError(f"unsupported results schema {schema!r} (this m3vos reads {', '.join(READABLE_SCHEMAS)})",
                            path=file, hint="re-score with this m3vos version")
    protocol = doc.get("protocol") or "m3vos"
    if not isinstance(protocol, str):
        raise _bad(file, "protocol", "is not a protocol name")
    proto = Protocol.get(protocol)
    known = set(proto.metrics)
    per_object = doc.get("per_object")
    if not isinstance(per_object, dict) or not per_object:
        raise BadInputError("results hold no scored objects (per_object is empty)", path=file,
                            hint="score a predictions folder that covers at least one video")
    entries = list(per_object.items())
    dicts = [e for _, e in entries]
    if set(map(type, dicts)) != {dict}:
        key = next(k for k, e in entries if not isinstance(e, dict))
        raise BadInputError(f"per_object[{key!r}] is not an object", path=file, hint="re-run `m3vos score`")
    first = list(dicts[0])
    extra = set().union(*dicts).difference(first)          # keys the first object lacks (rare)
    names = [m for m in first + sorted(extra) if m not in ENTRY_FIELDS]
    for m in names:
        spec = metric_spec(m)
        if spec is None or m not in known:
            key = next(k for k, e in entries if m in e)
            raise BadInputError(f"per_object[{key!r}] has {m!r}, which is not a {proto.name} metric",
                                path=file, hint=f"metrics of the {proto.name} protocol: {', '.join(proto.metrics)}")
        try:
            values = list(map(itemgetter(m), dicts))        # C speed when every object has m
        except KeyError:
            values = [e.get(m) for e in dicts]
        # fast path, vectorised: plain numbers, all finite and in range (the common case by far)
        if set(map(type, values)) <= {float, int}:
            arr = np.asarray(values, dtype=float)
            if np.isfinite(arr).all() and arr.min() >= spec.low - _EPS and arr.max() <= spec.high + _EPS:
                continue
        for (key, entry), v in zip(entries, values):     # slow path: find and name the first fault
            if m in entry:
                _check_value(file, f"per_object[{key!r}][{m!r}]", spec, v, entry.get("null_reasons"))
    glob = doc.get("global")
    if isinstance(glob, dict):
        for m, v in glob.items():
            spec = metric_spec(m)
            if spec is not None:
                _check_value(file, f"global[{m!r}]", spec, v, None)
    return names


def load_results(path: str | Path, *, name: str | None = None) -> ResultsFolder:
    """A results folder (or a `results.json` path), validated; BadInputError naming the file otherwise."""
    path = Path(path).expanduser()
    file = path if path.is_file() else path / RESULTS_NAME
    folder = file.parent
    if not file.is_file():
        if not path.exists():
            raise BadInputError("no such results folder", path=path,
                                hint="pass a folder written by `m3vos score` (it holds results.json)")
        raise BadInputError("no results.json here", path=path,
                            hint="run `m3vos score PREDS` first; it writes results.json into the predictions folder")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"), parse_constant=_NonFinite)
    except UnicodeDecodeError:
        raise BadInputError("results file is not UTF-8 JSON", path=file, hint="re-run `m3vos score`") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"results file is not valid JSON ({exc.msg} at line {exc.lineno})", path=file,
                            hint="re-run `m3vos score`; it writes results atomically") from None
    except OSError as exc:
        raise BadInputError(f"cannot read the results file ({exc.strerror or exc})", path=file,
                            hint="check the path and its permissions") from None
    names = validate_document(doc, file)
    if name is None:
        name = (folder.resolve().name or str(folder)) if file.name == RESULTS_NAME else file.stem
    return ResultsFolder(folder, name, doc, file, names)


def load_many(paths: Sequence[str | Path], *, names: Mapping[str, str] | None = None) -> list[ResultsFolder]:
    """Several results folders, with unique display names (`preds`, `parent/preds`, `preds#2`, ...).

    `names` maps a path as given (or its resolved form) to a display name (`--name runs/a=ReVOS`).
    """
    if not paths:
        raise BadInputError("no results folders given", hint="pass one or more folders written by `m3vos score`")
    wanted = {str(Path(k).expanduser().resolve()): v for k, v in (names or {}).items()}
    out: list[ResultsFolder] = []
    seen: dict[str, int] = {}
    for p in paths:
        r = load_results(p)
        given = wanted.pop(str(Path(p).expanduser().resolve()), None) or wanted.pop(str(r.path.resolve()), None)
        if given:
            r.name = given
        base = r.name
        if base in seen:
            parent = r.path.resolve().parent.name
            r.name = f"{parent}/{base}" if parent and f"{parent}/{base}" not in seen else f"{base}#{seen[base] + 1}"
        seen[base] = seen.get(base, 0) + 1
        seen.setdefault(r.name, 1)
        out.append(r)
    if wanted:
        raise BadInputError(f"--name names {next(iter(wanted))}, which is not one of the results given",
                            hint="write --name PATH=NAME with PATH exactly as passed")
    return out


# --- comparability -------------------------------------------------------------------------------

def _fingerprint(r: ResultsFolder) -> dict[str, str] | None:
    fp = (r.doc.get("dataset") or {}).get("fingerprint")
    return fp.get("videos") if isinstance(fp, dict) and isinstance(fp.get("videos"), dict) else None


def _difference(a: ResultsFolder, b: ResultsFolder) -> str | None:
    """The first field in which two runs were scored differently, as a phrase; None if comparable."""
    pa, pb = a.doc.get("protocol") or "m3vos", b.doc.get("protocol") or "m3vos"
    if pa != pb:
        return f"protocol ({pa} vs {pb})"
    proto = Protocol.get(pa)
    oa, ob = proto.number_options(a.doc.get("options")), proto.number_options(b.doc.get("options"))
    for k in oa:
        if oa[k] != ob.get(k):
            return f"option {k} ({oa[k]} vs {ob.get(k)})"
    fa, fb = _fingerprint(a), _fingerprint(b)
    if fa is not None and fb is not None:
        differ = sorted(v for v in set(fa) & set(fb) if fa[v] != fb[v])
        if differ:
            return f"dataset fingerprint (ground truth of {differ[0]} differs" + \
                (f", and {len(differ) - 1} more video(s))" if len(differ) > 1 else ")")
    return None


def check_comparable(runs: Sequence[ResultsFolder], *, allow_mixed: bool = False) -> list[str]:
    """Refuse (BadInputError, exit 2) runs scored under different protocols, number-changing options
    or ground truth; with `allow_mixed`, return one loud warning per difference instead. Also
    returns the warnings about runs that carry no dataset fingerprint (cannot be checked)."""
    warnings: list[str] = []
    first = runs[0]
    for r in runs[1:]:
        diff = _difference(first, r)
        if diff is None:
            continue
        if not allow_mixed:
            raise BadInputError(f"{first.name} and {r.name} were scored differently: {diff}",
                                path=r.file,
                                hint="re-score both the same way, or pass --allow-mixed to compare anyway (marked MIXED)")
        warnings.append(f"MIXED: {first.name} and {r.name} differ in {diff}; their numbers are not comparable")
    unchecked = [r.name for r in runs if _fingerprint(r) is None]
    if unchecked and len(runs) > 1:
        warnings.append(f"no dataset fingerprint in {', '.join(unchecked)} (scored by an older m3vos): "
                        "could not check that every run was scored on the same ground truth")
    return warnings


def provenance(r: ResultsFolder) -> dict[str, Any]:
    """Per run: protocol, options, J_cc variant, m3vos version, dataset fingerprint, tracker, config,
    weights hash, scoring date; `random_weights` is True for a run made with random weights."""
    doc = r.doc
    proto = doc.get("protocol") or "m3vos"
    options = dict(doc.get("options") or {})
    ds = doc.get("dataset") or {}
    raw_fp = ds.get("fingerprint")
    fp: dict[str, Any] = raw_fp if isinstance(raw_fp, dict) else {}
    run = r.run or {}
    w = run.get("weights")
    if isinstance(w, dict) and w.get("random"):
        weights = f"random (seed {w.get('seed')})"
    elif isinstance(w, dict):
        weights = (w.get("sha256") or "")[:12] or w.get("path") or "unknown"
    else:
        weights = "none" if run else "unknown (no run.json)"
    return {
        "run": r.name,
        "protocol": proto,
        "options": ", ".join(f"{k}={v}" for k, v in Protocol.get(proto).number_options(options).items()),
        "jcc": options.get("jcc", OPTION_DEFAULTS["jcc"]) if proto == "m3vos" else "n/a",
        "m3vos_version": doc.get("m3vos_version") or "unknown",
        "dataset": (fp.get("sha256") or "")[:12] or "unknown (not recorded)",
        "tracker": run.get("tracker") or "unknown",
        "config": json.dumps(run.get("config"), sort_keys=True) if run.get("config") else "default",
        "weights": weights,
        "scored_at": doc.get("scored_at") or "unknown",
        "random_weights": random_weights(run),
    }
