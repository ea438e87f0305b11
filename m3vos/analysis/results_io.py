"""Reading results folders (`results.json`, schema `m3vos-results/1`) with one-line errors."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError

SCHEMA = "m3vos-results/1"
RESULTS_NAME = "results.json"
#: per_object fields that are not metrics.
ENTRY_FIELDS = {"video", "object_id", "n_frames", "key"}


@dataclass
class ResultsFolder:
    """One scored run: where it is, what to call it, and its `results.json` document."""

    path: Path            # the folder holding results.json
    name: str             # display name (the folder name, made unique among those loaded)
    doc: dict[str, Any]
    file: Path | None = None   # the JSON file read (results.json, or a renamed copy)

    @property
    def per_object(self) -> dict[str, dict[str, Any]]:
        return self.doc["per_object"]

    @property
    def per_frame(self) -> dict[str, dict[str, Any]]:
        return self.doc.get("per_frame") or {}

    def metrics(self) -> list[str]:
        return metric_names(self.doc)


def metric_names(doc: dict[str, Any]) -> list[str]:
    """Numeric per-object metric names, in the order the first object lists them."""
    names: list[str] = []
    for entry in doc.get("per_object", {}).values():
        for k, v in entry.items():
            if k not in ENTRY_FIELDS and k not in names and isinstance(v, (int, float)) \
                    and not isinstance(v, bool):
                names.append(k)
    return names


def load_results(path: str | Path) -> ResultsFolder:
    """A results folder (or a `results.json` path); BadInputError naming the file otherwise."""
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
        doc = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInputError("results file is not UTF-8 JSON", path=file, hint="re-run `m3vos score`") from None
    except json.JSONDecodeError as exc:
        raise BadInputError(f"results file is not valid JSON ({exc.msg} at line {exc.lineno})", path=file,
                            hint="re-run `m3vos score`; it writes results atomically") from None
    if not isinstance(doc, dict):
        raise BadInputError("results file is not a JSON object", path=file, hint="re-run `m3vos score`")
    schema = doc.get("schema")
    if schema != SCHEMA:
        raise BadInputError(f"unsupported results schema {schema!r} (expected {SCHEMA!r})", path=file,
                            hint="re-score with this m3vos version")
    per_object = doc.get("per_object")
    if not isinstance(per_object, dict) or not per_object:
        raise BadInputError("results hold no scored objects (per_object is empty)", path=file,
                            hint="score a predictions folder that covers at least one video")
    for key, entry in per_object.items():
        if not isinstance(entry, dict):
            raise BadInputError(f"per_object[{key!r}] is not an object", path=file, hint="re-run `m3vos score`")
    name = (folder.resolve().name or str(folder)) if file.name == RESULTS_NAME else file.stem
    return ResultsFolder(folder, name, doc, file)


def load_many(paths: list[str | Path]) -> list[ResultsFolder]:
    """Several results folders, with unique display names (`preds`, `preds#2`, ...)."""
    if not paths:
        raise BadInputError("no results folders given", hint="pass one or more folders written by `m3vos score`")
    out: list[ResultsFolder] = []
    seen: dict[str, int] = {}
    for p in paths:
        r = load_results(p)
        base = r.name
        if base in seen:
            # Two folders with the same last name: qualify with the parent.
            parent = r.path.resolve().parent.name
            r.name = f"{parent}/{base}" if parent and f"{parent}/{base}" not in seen else f"{base}#{seen[base] + 1}"
        seen[base] = seen.get(base, 0) + 1
        seen.setdefault(r.name, 1)
        out.append(r)
    return out
