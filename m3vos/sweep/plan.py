"""Sweep points from `--grid` options or a YAML file.

`--grid KEY=V1,V2` is one axis; axes multiply (a grid). `--grid T,L=5,10` ties keys: they take
the same value together (T=L=5, T=L=10). A YAML file may also list explicit `points`. Values are
typed as YAML (`3` -> int, `true` -> bool), as `--config` is.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from m3vos.errors import BadInputError


@dataclass(frozen=True)
class Axis:
    keys: tuple[str, ...]        # tied keys take the same value
    values: tuple[Any, ...]


@dataclass(frozen=True)
class Point:
    id: str                      # folder name under <out>/points/
    varied: dict[str, Any]       # the swept keys of this point
    config: dict[str, Any]       # base config + varied: what the tracker gets


@dataclass
class SweepSpec:
    model: str
    axes: list[Axis] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)   # explicit points (YAML `points:`)
    base: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] | None = None

    def expand(self) -> list[Point]:
        """Grid points (axis order, first axis slowest) then explicit points; duplicates once."""
        rows: list[dict[str, Any]] = []
        if self.axes:
            for combo in itertools.product(*[a.values for a in self.axes]):
                row: dict[str, Any] = {}
                for axis, value in zip(self.axes, combo):
                    row.update({k: value for k in axis.keys})
                rows.append(row)
        rows.extend(dict(p) for p in self.points)
        if not rows:
            rows = [{}]
        out: list[Point] = []
        seen: set[str] = set()
        for row in rows:
            pid = point_id(row, self.base)
            if pid in seen:
                continue
            seen.add(pid)
            out.append(Point(pid, row, {**self.base, **row}))
        return out

    def reference_point(self, points: list[Point]) -> Point:
        """The point named by `reference` (its swept values), else the first one."""
        if not self.reference:
            return points[0]
        for p in points:
            if all(_same(p.config.get(k), v) for k, v in self.reference.items()):
                return p
        raise BadInputError(f"--reference {_describe(self.reference)} matches no sweep point",
                            hint="name values of one point, e.g. --reference " +
                                 (_describe(points[0].varied) or "KEY=VALUE"))


def _same(a: Any, b: Any) -> bool:
    return a == b or str(a) == str(b)


def _describe(values: dict[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in values.items())


_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


def point_id(varied: dict[str, Any], base: dict[str, Any] | None = None) -> str:
    """A readable, file-safe, deterministic folder name (`T=5_L=5` -> `T5_L5`).

    A base config adds a short digest of it (`T5_L5--1a2b3c`): changing `--config` makes new
    point folders instead of colliding with the runs of the old config.
    """
    parts = [f"{_UNSAFE.sub('-', str(k))}{_UNSAFE.sub('-', str(v))}" for k, v in varied.items()]
    pid = "_".join(parts) or "base"
    if base:
        import hashlib
        import json

        digest = hashlib.sha256(json.dumps(base, sort_keys=True, default=str).encode()).hexdigest()[:6]
        pid += f"--{digest}"
    return pid


def _typed(text: str) -> Any:
    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def parse_grid(items: list[str] | None) -> list[Axis]:
    """`KEY=V1,V2` (or `K1,K2=V1,V2`, tied) strings to axes."""
    axes: list[Axis] = []
    for item in items or []:
        keys_text, sep, values_text = item.partition("=")
        keys = tuple(k.strip() for k in keys_text.split(",") if k.strip())
        values = tuple(_typed(v.strip()) for v in values_text.split(",") if v.strip())
        if not sep or not keys or not values:
            raise BadInputError(f"bad --grid {item!r}",
                                hint="write KEY=V1,V2 (e.g. --grid alpha=1,2), or K1,K2=V1,V2 to tie keys")
        axes.append(Axis(keys, values))
    return axes


def parse_reference(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    out: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"bad --reference {text!r}", hint="write KEY=VALUE[,KEY=VALUE], e.g. T=10,L=10")
        out[key.strip()] = _typed(value.strip())
    return out


def load_spec(path: str | Path | None, *, model: str | None, grid: list[str] | None,
              base: dict[str, Any] | None, reference: str | None) -> SweepSpec:
    """A spec from a YAML file and/or the command line (the command line adds to the file).

    YAML keys: `model`, `config` (base config), `grid` (key -> list; "K1,K2" ties keys),
    `points` (list of key -> value), `reference` (key -> value).
    """
    doc: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise BadInputError("sweep file not found", path=path, hint="pass an existing YAML file") from None
        except yaml.YAMLError as exc:
            raise BadInputError(f"sweep file is not valid YAML ({exc.__class__.__name__})", path=path,
                                hint="see docs/sweep.md for the format") from None
        if not isinstance(doc, dict):
            raise BadInputError("sweep file must be a mapping", path=path, hint="see docs/sweep.md for the format")
        unknown = sorted(set(doc) - {"model", "config", "grid", "points", "reference"})
        if unknown:
            raise BadInputError(f"unknown sweep file key(s) {', '.join(unknown)}", path=path,
                                hint="use model, config, grid, points, reference")
    axes: list[Axis] = []
    for keys, values in (doc.get("grid") or {}).items():
        vals = values if isinstance(values, list) else [values]
        axes.append(Axis(tuple(k.strip() for k in str(keys).split(",")), tuple(vals)))
    axes += parse_grid(grid)
    points = doc.get("points") or []
    if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
        raise BadInputError("`points` must be a list of KEY: VALUE mappings", path=path,
                            hint="see docs/sweep.md for the format")
    name = model or doc.get("model")
    if not name:
        raise BadInputError("no model to sweep", hint="pass --model NAME (or `model:` in the sweep file)")
    ref = parse_reference(reference) if reference else doc.get("reference")
    return SweepSpec(model=str(name), axes=axes, points=points,
                     base={**(doc.get("config") or {}), **(base or {})}, reference=ref)
