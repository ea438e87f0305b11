"""Strict, safe checkpoint loading, for any network (model-neutral: imports no model).

- Files are read with `torch.load(..., weights_only=True)`: a file that needs pickled code
  is refused, never executed.
- A bare state_dict (the released files) or a training wrapper holding it (under `weights`,
  `network`, `state_dict` or `model`) is accepted; a uniform DDP `module.` prefix is removed.
- Loading is strict: a missing or unexpected key or a wrong shape is a one-line
  `BadInputError` naming the key(s) and the file. Nothing is padded or left random (the
  official loader widens single-object weights with random values and ignores missing keys).
"""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from m3vos.errors import BadInputError

#: Where a training checkpoint keeps the model weights.
WRAPPER_KEYS = ("weights", "network", "state_dict", "model")

_SHOW_KEYS = 20


def read_checkpoint(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a checkpoint file safely and return its flat state_dict (name -> tensor)."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError("checkpoint file not found", path=path,
                            hint="give the path of a .pth file, or run `m3vos weights download`")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        code = re.search(r"GLOBAL\s+([\w.]+)", str(exc))
        if code:
            raise BadInputError(
                f"refusing to load: the file contains pickled Python code or objects "
                f"({code.group(1)}), not only tensors", path=path,
                hint="use an official checkpoint, or re-save it as a plain state_dict of "
                     "tensors from a trusted copy") from None
        raise BadInputError(f"not a readable PyTorch checkpoint ({_unpickling_detail(exc)})",
                            path=path, hint="the file is corrupt or not a checkpoint (an HTML "
                                            "error page?): re-download it") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        raise BadInputError(f"not a readable PyTorch checkpoint ({_short(str(exc))})", path=path,
                            hint="the file is corrupt or truncated: re-download it") from None
    return extract_state_dict(obj, path)


def extract_state_dict(obj: object, path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """The state_dict inside a loaded checkpoint object (bare, or wrapped by training)."""
    if isinstance(obj, Mapping) and not _is_state_dict(obj):
        for key in WRAPPER_KEYS:
            inner = obj.get(key)
            if isinstance(inner, Mapping) and _is_state_dict(inner):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not obj or not _is_state_dict(obj):
        found = (f"a {type(obj).__name__}" if not isinstance(obj, Mapping)
                 else f"a dict with keys {_list(list(obj))}")
        raise BadInputError(f"no model state_dict in the checkpoint (found {found})", path=path,
                            hint="give a Cutie/ReVOS weights file (a state_dict of tensors)")
    state = {str(k): v for k, v in obj.items()}
    if all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


@dataclass
class LoadReport:
    """How a state_dict matches a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(
        default_factory=list)  # (key, expected, found)
    #: tensors holding NaN or inf: such a model loads but predicts background silently
    nonfinite: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.shape_mismatch or self.nonfinite)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "missing": self.missing, "unexpected": self.unexpected,
                "nonfinite": self.nonfinite,
                "shape_mismatch": [{"key": k, "expected": list(e), "found": list(f)}
                                   for k, e, f in self.shape_mismatch]}

    def message(self) -> str:
        """One line describing every problem (the keys are named)."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} missing key(s): {_list(self.missing)}")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected key(s): {_list(self.unexpected)}")
        if self.shape_mismatch:
            shown = ", ".join(f"{k} expected {list(e)} found {list(f)}"
                              for k, e, f in self.shape_mismatch[:_SHOW_KEYS])
            more = len(self.shape_mismatch) - _SHOW_KEYS
            parts.append(f"{len(self.shape_mismatch)} shape mismatch(es): {shown}"
                         + (f" ... and {more} more" if more > 0 else ""))
        if self.nonfinite:
            parts.append(f"{len(self.nonfinite)} tensor(s) hold NaN or inf: {_list(self.nonfinite)}")
        return "; ".join(parts)


def compare_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> LoadReport:
    """Compare a state_dict with a model's: missing, unexpected and wrong-shape keys."""
    expected = model.state_dict()
    report = LoadReport()
    report.missing = [k for k in expected if k not in state]
    report.unexpected = [k for k in state if k not in expected]
    for k, v in expected.items():
        if k in state:
            got = state[k]
            found = tuple(got.shape) if isinstance(got, torch.Tensor) else ("not a tensor",)
            if found != tuple(v.shape):
                report.shape_mismatch.append((k, tuple(v.shape), found))  # type: ignore[arg-type]
    report.nonfinite = [k for k, t in state.items() if isinstance(t, torch.Tensor)
                        and t.is_floating_point() and not bool(torch.isfinite(t).all())]
    return report


def load_state_dict_strict(model: nn.Module, state: Mapping[str, torch.Tensor], *,
                           source: str | Path | None = None) -> None:
    """Load with strict=True after checking; any mismatch is one `BadInputError` line."""
    report = compare_state_dict(model, state)
    if not report.ok:
        raise BadInputError(f"checkpoint does not fit {_model_name(model)}: {report.message()}",
                            path=source, hint=_hint(model, report))
    model.load_state_dict(dict(state), strict=True)


@dataclass
class TensorDiff:
    key: str
    max_abs: float
    mean_abs: float

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "max_abs": self.max_abs, "mean_abs": self.mean_abs}


@dataclass
class StateDictDiff:
    """Which tensors of two state_dicts differ, and by how much."""

    compared: int = 0
    differing: list[TensorDiff] = field(default_factory=list)
    shape_differs: list[str] = field(default_factory=list)
    only_in_first: list[str] = field(default_factory=list)
    only_in_second: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"compared": self.compared, "differing": [d.to_dict() for d in self.differing],
                "shape_differs": self.shape_differs, "only_in_first": self.only_in_first,
                "only_in_second": self.only_in_second}


def diff_state_dicts(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]
                     ) -> StateDictDiff:
    """Compare tensors present in both (exact equality; max/mean |a - b| when they differ)."""
    out = StateDictDiff()
    out.only_in_first = [k for k in a if k not in b]
    out.only_in_second = [k for k in b if k not in a]
    for k, ta in a.items():
        if k not in b:
            continue
        tb = b[k]
        if tuple(ta.shape) != tuple(tb.shape):
            out.shape_differs.append(k)
            continue
        out.compared += 1
        if torch.equal(ta, tb):
            continue
        d = (ta.double() - tb.double()).abs()
        out.differing.append(TensorDiff(k, float(d.max()) if d.numel() else 0.0,
                                        float(d.mean()) if d.numel() else 0.0))
    return out


def _model_name(model: nn.Module) -> str:
    cfg = getattr(model, "cfg", None)
    kind = getattr(cfg, "pixel_encoder_type", None)
    name = type(model).__name__
    return f"{name} ({kind})" if kind else name


def _hint(model: nn.Module, report: LoadReport) -> str:
    return load_hint(report)


def load_hint(report: LoadReport) -> str:
    """The fix to suggest for a state_dict that does not fit its model."""
    if report.nonfinite and not (report.missing or report.unexpected or report.shape_mismatch):
        return ("the weights are broken (NaN/inf, e.g. a diverged training run or a corrupt copy): "
                "download the checkpoint again (`m3vos weights download NAME`)")
    if report.missing and all(k.startswith("readout_fuser.") for k in report.missing) \
            and not report.unexpected and not report.shape_mismatch:
        return ("this is a plain Cutie checkpoint without the ReVOS readout fuser; use the "
                "ReVOS checkpoint (`m3vos weights download revos`)")
    if any("pixel_encoder.layer3.5" in k for k in report.missing + report.unexpected):
        return "the file is for the other Cutie size: use cutie-small vs cutie-base accordingly"
    return "use the checkpoint made for this model (see `m3vos weights list`)"


def _is_state_dict(obj: Mapping) -> bool:
    return bool(obj) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                             for k, v in obj.items())


def _list(keys: list) -> str:
    shown = ", ".join(map(str, keys[:_SHOW_KEYS]))
    more = len(keys) - _SHOW_KEYS
    return shown + (f" ... and {more} more" if more > 0 else "")


def _unpickling_detail(exc: BaseException) -> str:
    """The informative line of torch's long weights_only error."""
    skip = ("weights only load failed", "please file an issue", "check the documentation",
            "re-running", "in pytorch 2.6")
    for line in str(exc).splitlines():
        text = line.strip().removeprefix("WeightsUnpickler error:").strip()
        if text and not text.lower().startswith(skip):
            return _short(text)
    return type(exc).__name__


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
