"""The built-in networks by name: build, load strictly, check a weights file against one.

This module sits above both model packages (it builds Cutie and ReVOS networks); the
model-neutral file reading and strict loading it uses live in `m3vos.trackers.checkpoint`,
which the networks themselves import.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from m3vos.errors import BadInputError
from m3vos.trackers.checkpoint import (LoadReport, StateDictDiff, compare_state_dict,
                                       diff_state_dicts, load_hint, load_state_dict_strict,
                                       read_checkpoint)

#: Model kinds `build_model` knows.
MODEL_KINDS = ("cutie-small", "cutie-base", "revos")


def build_model(kind: str, *, device: str | torch.device | None = None) -> nn.Module:
    """An un-loaded network (random init, eval mode) for `cutie-small`, `cutie-base` or
    `revos` (ReVOS = Cutie-base + the readout fuser; imported lazily), built on `device`."""
    if device is not None:
        with torch.device(device):
            return build_model(kind)
    if kind in ("cutie-small", "cutie-base"):
        from m3vos.trackers.cutie.config import CutieModelConfig
        from m3vos.trackers.cutie.network import CutieNetwork

        return CutieNetwork(CutieModelConfig.named(kind))
    if kind == "revos":
        from m3vos.trackers.revos.network import ReVOSNetwork

        return ReVOSNetwork()
    raise BadInputError(f"unknown model '{kind}'", hint=f"use one of {', '.join(MODEL_KINDS)}")


def load_model(kind: str, path: str | os.PathLike[str], *, device: str | torch.device = "cpu"
               ) -> nn.Module:
    """Build `kind`, load `path` strictly, put it on `device` in eval mode."""
    path = Path(path)
    state = read_checkpoint(path)
    model = build_model(kind)
    load_state_dict_strict(model, state, source=path)
    return model.to(device).eval()


FUSER_PREFIX = "readout_fuser."


@dataclass
class CheckReport:
    """`m3vos weights check`: how a file loads into a model, optionally against another file."""

    model: str
    path: str
    num_tensors: int
    load: LoadReport
    against: str | None = None
    diff: StateDictDiff | None = None
    #: revos vs a Cutie file: do all non-fuser tensors equal it (training froze them)?
    non_fuser_equal: bool | None = None

    @property
    def ok(self) -> bool:
        return self.load.ok

    def to_dict(self) -> dict[str, object]:
        return {"model": self.model, "path": self.path, "num_tensors": self.num_tensors,
                "ok": self.ok, "load": self.load.to_dict(), "against": self.against,
                "diff": self.diff.to_dict() if self.diff else None,
                "non_fuser_equal": self.non_fuser_equal}


def check_checkpoint(kind: str, path: str | Path, against: str | Path | None = None
                     ) -> CheckReport:
    """Strict-load report of `path` for model `kind`; with `against`, a tensor-by-tensor
    comparison (for revos vs a Cutie-base file: whether every non-fuser tensor is equal)."""
    state = read_checkpoint(path)
    model = build_model(kind)
    report = CheckReport(model=kind, path=str(path), num_tensors=len(state),
                         load=compare_state_dict(model, state))
    del model
    if against is not None:
        other = read_checkpoint(against)
        report.against = str(against)
        report.diff = diff_state_dicts(state, other)
        if kind == "revos":
            report.non_fuser_equal = non_fuser_equal(state, other)
    return report


def non_fuser_equal(revos_state: Mapping[str, torch.Tensor],
                    cutie_state: Mapping[str, torch.Tensor]) -> bool:
    """Whether every non-`readout_fuser.*` tensor of a ReVOS state_dict is present in the
    Cutie one and bit-equal to it (ReVOS training froze everything but the fuser)."""
    for key, value in revos_state.items():
        if key.startswith(FUSER_PREFIX):
            continue
        other = cutie_state.get(key)
        if other is None or other.shape != value.shape or not torch.equal(value, other):
            return False
    return True


def load_error(report: CheckReport) -> BadInputError:
    """The one-line error for a report that does not load."""
    return BadInputError(f"checkpoint does not fit {report.model}: {report.load.message()}",
                         path=report.path, hint=load_hint(report.load))
