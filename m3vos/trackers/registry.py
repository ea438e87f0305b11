"""Finding trackers by name without importing model code until one is used.

Four sources, in this order:
- built-ins, declared as `"name": "module:Class"` strings (`BUILTINS`);
- third-party packages, through the `m3vos.trackers` entry-point group;
- a path to a `.yaml`/`.yml` file: an external-command tracker (`m3vos.trackers.external`);
- the wrapper form `revos:<backbone>` (ReVOS around any registered tracker), and, for quick
  experiments, a direct `package.module:Class` reference.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from m3vos.errors import BadInputError, M3vosError

if TYPE_CHECKING:  # pragma: no cover
    from m3vos.trackers.base import Tracker

ENTRY_POINT_GROUP = "m3vos.trackers"

#: Built-in trackers. Strings, so that listing them imports nothing.
BUILTINS: dict[str, str] = {
    "static": "m3vos.trackers.static:StaticTracker",
    "flow": "m3vos.trackers.flow:FlowTracker",
    "cutie-small": "m3vos.trackers.cutie.tracker:CutieSmallTracker",
    "cutie-base": "m3vos.trackers.cutie.tracker:CutieBaseTracker",
    "revos": "m3vos.trackers.revos.tracker:ReVOSTracker",
    # SAM 2 / 2.1 (optional engine: `pip install 'm3vos[sam2]'`)
    "sam2.1-tiny": "m3vos.trackers.sam2.tracker:Sam21TinyTracker",
    "sam2.1-small": "m3vos.trackers.sam2.tracker:Sam21SmallTracker",
    "sam2.1-base-plus": "m3vos.trackers.sam2.tracker:Sam21BasePlusTracker",
    "sam2.1-large": "m3vos.trackers.sam2.tracker:Sam21LargeTracker",
    "sam2-tiny": "m3vos.trackers.sam2.tracker:Sam2TinyTracker",
    "sam2-small": "m3vos.trackers.sam2.tracker:Sam2SmallTracker",
    "sam2-base-plus": "m3vos.trackers.sam2.tracker:Sam2BasePlusTracker",
    "sam2-large": "m3vos.trackers.sam2.tracker:Sam2LargeTracker",
}

#: `revos:<backbone>` wraps a registered tracker with the ReVOS reverse pass.
WRAPPERS: dict[str, str] = {
    "revos": "m3vos.trackers.reverse:wrap",
}

YAML_SUFFIXES = (".yaml", ".yml")
_MODULE_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass(frozen=True)
class TrackerSpec:
    """Where a tracker comes from; `load()` imports it."""

    name: str
    target: str          # "module:Class", or the YAML path for external trackers
    source: str          # "builtin", "entry-point:<distribution>", "external", "wrapper", "module"

    def load(self) -> type[Tracker]:
        if self.source == "external":
            from m3vos.trackers.external import load_external_tracker

            return load_external_tracker(Path(self.target))
        cls = _import_target(self.target, self.name)
        _check_tracker_class(cls, self.name, self.target)
        return cls


def _import_target(target: str, name: str) -> Any:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or module_name
        if missing == module_name or module_name.startswith(missing + "."):
            raise BadInputError(
                f"tracker '{name}' is declared as {target} but module {module_name} is not installed",
                hint="update m3vos, or reinstall the package that provides this tracker") from None
        raise BadInputError(
            f"tracker '{name}' needs the Python package '{missing}', which is not installed",
            hint=f"pip install {missing.split('.')[0]}") from None
    except ImportError as exc:
        raise BadInputError(f"tracker '{name}' failed to import ({target}): {exc}",
                            hint="check the tracker's installation") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise BadInputError(f"tracker '{name}': {module_name} has no attribute '{attr}'",
                            hint="check the entry point / module:Class reference") from None
    return obj


def _check_tracker_class(cls: Any, name: str, target: str) -> None:
    from m3vos.trackers.base import Tracker

    if not (isinstance(cls, type) and issubclass(cls, Tracker)):
        raise BadInputError(f"tracker '{name}' ({target}) is not a subclass of m3vos.trackers.base.Tracker",
                            hint="derive the class from m3vos.trackers.base.Tracker")


def _entry_point_specs() -> list[TrackerSpec]:
    from importlib.metadata import entry_points

    specs = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", None) or "?"
        specs.append(TrackerSpec(ep.name, ep.value, f"entry-point:{dist}"))
    return sorted(specs, key=lambda s: s.name)


def list_trackers() -> list[TrackerSpec]:
    """Built-ins then plug-ins. Imports no tracker code; built-in names win over plug-ins."""
    specs = [TrackerSpec(n, t, "builtin") for n, t in BUILTINS.items()]
    seen = set(BUILTINS)
    for spec in _entry_point_specs():
        if spec.name not in seen:
            seen.add(spec.name)
            specs.append(spec)
    return specs


def known_names() -> list[str]:
    return [s.name for s in list_trackers()]


def find_spec(name: str) -> TrackerSpec:
    """Resolve a model name (or YAML path, or `revos:<backbone>`) to a spec, importing nothing."""
    name = str(name).strip()
    if not name:
        raise BadInputError("empty model name", hint="pass --model NAME; see `m3vos trackers list`")
    if name.lower().endswith(YAML_SUFFIXES):
        path = Path(name).expanduser()
        if not path.is_file():
            raise BadInputError("external tracker description not found", path=path,
                                hint="pass the path of an existing tracker YAML file")
        return TrackerSpec(path.stem, str(path.resolve()), "external")
    for spec in list_trackers():
        if spec.name == name:
            return spec
    prefix, sep, rest = name.partition(":")
    if sep and prefix in WRAPPERS and rest:
        return TrackerSpec(name, WRAPPERS[prefix], "wrapper")
    if _MODULE_REF.match(name):
        return TrackerSpec(name, name, "module")
    raise BadInputError(f"unknown model '{name}'; known: {', '.join(known_names())}",
                        hint="pick one of these, pass a tracker .yaml file, or see `m3vos trackers list`")


def get_tracker(name: str) -> type[Tracker]:
    """The tracker class for a name; one-line `BadInputError` when it cannot be had."""
    spec = find_spec(name)
    if spec.source == "wrapper":
        prefix, _, backbone = spec.name.partition(":")
        wrap = _import_target(spec.target, spec.name)
        inner = get_tracker(backbone)
        cls = wrap(inner)
        _check_tracker_class(cls, spec.name, spec.target)
        return cls
    return spec.load()


def weights_status(cls: type[Tracker]) -> tuple[str | None, bool | None]:
    """(weights name, present?) for a tracker class; (None, None) when it needs none."""
    wname = getattr(cls, "weights_name", None)
    if not wname:
        return None, None
    try:
        from m3vos.trackers.weights import weights_path

        path = weights_path(wname)
        return wname, Path(path).is_file()
    except M3vosError:  # the weights table may not know it (yet): report "unknown"
        return wname, False


def torch_missing(name: str) -> str | None:
    """The one-line message for a torch tracker when PyTorch cannot be imported, else None."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return (f"{name} needs PyTorch: pip install torch (CPU) or the CUDA build, "
                "then pip install 'm3vos[torch]'")
    return None


def describe(spec: TrackerSpec) -> dict[str, Any]:
    """A row for `m3vos trackers list`: imports the tracker, and reports (not raises) failures."""
    row: dict[str, Any] = {"name": spec.name, "source": spec.source, "target": spec.target,
                           "available": False, "capabilities": [], "weights": None,
                           "weights_present": None, "error": None}
    try:
        cls = spec.load()
    except BadInputError as exc:
        row["error"] = exc.message
        return row
    except Exception as exc:  # a broken plug-in must not break the listing
        row["error"] = f"{type(exc).__name__}: {exc}"
        return row
    row["capabilities"] = cls.capabilities.flags()
    missing = torch_missing(spec.name) if cls.capabilities.needs_torch else None
    if missing:
        row["error"] = missing
        return row
    row["available"] = True
    row["weights"], row["weights_present"] = weights_status(cls)
    row["input_short_side"] = getattr(cls, "input_short_side", None)
    return row
