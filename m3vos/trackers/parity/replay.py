"""`m3vos dev replay`: run our model exactly as a parity reference describes and compare.

The command above both model families: it opens the reference (`reference.py`), picks the
family's builder and step runner (`cutie.py`, or `revos.py` when the model name contains
"revos"), writes our outputs in the reference's npz layout and compares them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.parity import cutie, revos
from m3vos.trackers.parity.reference import (INPUT_KEYS, OUTPUT_KEYS, Reference,
                                             VariantComparison, compare_variant, load_reference)


def runner_for(reference: Reference) -> tuple[Callable[..., Any], Callable[..., dict]]:
    """(build_network, run_variant) for the reference's model family."""
    if reference.is_revos:
        return revos.build_network, revos.run_variant
    return cutie.build_cutie_network, cutie.run_cutie_variant


# ---------------------------------------------------------------------------- the command
@dataclass
class ReplayResult:
    out: Path
    model: str
    variants: list[str]
    comparisons: list[VariantComparison]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.comparisons)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "model": self.model, "variants": self.variants,
                "passed": self.passed, "comparisons": [c.to_dict() for c in self.comparisons]}


def replay(reference_path: str | Path, weights: str | Path, out: str | Path, *,
           variants: Sequence[str] | None = None, device: str = "cpu",
           on_variant: Callable[[str], None] | None = None) -> ReplayResult:
    """Replay the reference's variants (all, or `variants`) and write OUT.npz atomically."""
    import torch

    from m3vos.utils.atomic import atomic_path

    reference = load_reference(reference_path)
    names = list(variants) if variants else reference.variant_names
    for name in names:
        reference.variant(name)  # validates the name
    out = Path(out)
    if out.suffix != ".npz":
        raise BadInputError("the output must be an .npz file", path=out,
                            hint="pass --out OURS.npz")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise BadInputError(f"unknown device {device!r}", hint="use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise BadInputError(f"device {device} requested but CUDA is not available",
                            hint="use --device cpu")
    build, run = runner_for(reference)
    network = build(reference, Path(weights), dev)
    arrays: dict[str, np.ndarray] = {"variants": np.array(names)}
    comparisons = []
    for name in names:
        if on_variant:
            on_variant(name)
        inputs = reference.variant_arrays(name)
        ours = run(network, reference.variant(name), inputs, device=dev)
        for key in OUTPUT_KEYS:
            arrays[f"{name}/{key}"] = ours[key]
        for key in INPUT_KEYS:
            arrays[f"{name}/{key}"] = inputs[key]
        if all(k in inputs for k in OUTPUT_KEYS):
            comparisons.append(compare_variant(name, inputs, ours))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # numpy's stub
    return ReplayResult(out, reference.model, names, comparisons)
