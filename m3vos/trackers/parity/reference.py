"""The parity reference format, our outputs in its layout, and the pass criterion.

A parity reference is an npz plus a JSON beside it (schema `m3vos-parity-reference/1`, see
`../shared/fixtures/parity/README.md`): the model and its manifest, per variant the effective
eval settings, the input frames and masks and the ordered list of step() calls. Replaying runs
every step with our code and writes the same npz layout (per variant `<v>/step_kind`,
`step_frame`, `step_prob_u16`, `step_channels`, `step_mask`, `final_step`, `final_mask`), so the
two files can be compared array by array (`compare_variant`).

Nothing here is specific to a model family or to the shipped variants: settings, clip shapes,
late objects (any `input_frames` / `input_masks`), chunking and step orders come from the
reference. Each family (`parity.cutie`, `parity.revos`) provides, with the same meaning:

    build_network(reference: Reference, weights: Path, device: torch.device) -> torch.nn.Module
        the network with the checkpoint loaded strictly (`load_weights_file`).
    run_variant(network, variant: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *,
                device: torch.device) -> dict[str, np.ndarray]
        `variant` is the JSON entry (name, effective_settings, steps, ...), `arrays` the
        variant's npz arrays WITHOUT the "<v>/" prefix (frames, input_frames, input_masks,
        ...); returns the OUTPUT_KEYS arrays, unprefixed, in the layout of the reference (use
        `pack_outputs` to build them from per-step results).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from m3vos.errors import BadInputError

SCHEMA = "m3vos-parity-reference/1"
OUTPUT_KEYS = ("step_kind", "step_frame", "step_prob_u16", "step_channels", "step_mask",
               "final_step", "final_mask")
INPUT_KEYS = ("frames", "input_frames", "input_masks")
PASS_PROB_TOL = 1e-3
PASS_MARGIN = 1e-3


# ---------------------------------------------------------------------------- the reference
@dataclass
class Reference:
    """A parity reference: the JSON document and the npz arrays beside it."""

    json_path: Path
    npz_path: Path
    doc: dict[str, Any]
    arrays: Mapping[str, np.ndarray] = field(repr=False)

    @property
    def model(self) -> str:
        return str(self.doc.get("model", ""))

    @property
    def is_revos(self) -> bool:
        return "revos" in self.model.lower()

    @property
    def variant_names(self) -> list[str]:
        return [str(v["name"]) for v in self.doc["variants"]]

    def variant(self, name: str) -> dict[str, Any]:
        for v in self.doc["variants"]:
            if v["name"] == name:
                return v
        raise BadInputError(f"reference has no variant '{name}'", path=self.json_path,
                            hint=f"pick one of: {', '.join(self.variant_names)}")

    def variant_arrays(self, name: str) -> dict[str, np.ndarray]:
        prefix = f"{name}/"
        out = {k[len(prefix):]: self.arrays[k] for k in self.arrays if k.startswith(prefix)}
        missing = [k for k in INPUT_KEYS if k not in out]
        if missing:
            raise BadInputError(f"variant '{name}' lacks {', '.join(prefix + k for k in missing)}",
                                path=self.npz_path, hint="regenerate the reference npz")
        return out

    def manifest(self) -> dict[str, Any] | None:
        """The manifest JSON named by the reference, if it sits beside it."""
        name = self.doc.get("manifest")
        if not name:
            return None
        path = self.json_path.parent / str(name)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise BadInputError(f"unreadable manifest ({exc})", path=path,
                                hint="restore the manifest JSON beside the reference") from None


def load_reference(path: str | Path) -> Reference:
    """Open REFERENCE.npz (or .json) and the file of the same stem beside it."""
    path = Path(path)
    if path.suffix not in (".npz", ".json"):
        raise BadInputError("a parity reference is an .npz with a .json beside it", path=path,
                            hint="pass e.g. cutie_small_reference.npz")
    npz_path, json_path = path.with_suffix(".npz"), path.with_suffix(".json")
    for p in (npz_path, json_path):
        if not p.is_file():
            raise BadInputError("parity reference file not found", path=p,
                                hint="keep the .npz and .json of a reference side by side")
    try:
        doc = json.loads(json_path.read_text())
    except (OSError, ValueError) as exc:
        raise BadInputError(f"not a readable JSON document ({exc})", path=json_path,
                            hint="restore the reference JSON") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        got = doc.get("schema") if isinstance(doc, dict) else type(doc).__name__
        raise BadInputError(f"schema is {got!r}, expected {SCHEMA!r}", path=json_path,
                            hint="pass a parity reference written for this schema")
    if not isinstance(doc.get("variants"), list) or not doc["variants"]:
        raise BadInputError("reference lists no variants", path=json_path,
                            hint="regenerate the reference JSON")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile/ValueError/OSError: a corrupt or truncated file
        raise BadInputError(f"cannot read npz ({type(exc).__name__}: {exc})", path=npz_path,
                            hint="re-download or regenerate the reference npz") from None
    return Reference(json_path, npz_path, doc, arrays)


def load_weights_file(network: Any, weights: Path) -> None:
    """Safe (`weights_only`) and strict loading, with one-line errors naming file and keys."""
    from m3vos.trackers.checkpoint import load_state_dict_strict, read_checkpoint

    load_state_dict_strict(network, read_checkpoint(weights), source=weights)


# ---------------------------------------------------------------------------- running
@dataclass
class StepRecord:
    """One step() call's result, before packing into the npz layout."""

    kind: str
    frame: int
    prob: np.ndarray   # [C, H, W] float32
    mask: np.ndarray   # [H, W] uint8 object ids


def variant_settings(variant: Mapping[str, Any], settings_cls: Any = None) -> Any:
    """The variant's `effective_settings` as EvalSettings (or a subclass); unknown keys
    (another model's settings) are ignored."""
    from m3vos.trackers.cutie.settings import EvalSettings

    cls = settings_cls or EvalSettings
    return cls.from_dict(variant.get("effective_settings") or {}, ignore_unknown=True,
                         source="effective_settings")


def input_masks_by_frame(arrays: Mapping[str, np.ndarray]) -> dict[int, np.ndarray]:
    frames = np.asarray(arrays["input_frames"]).reshape(-1)
    masks = np.asarray(arrays["input_masks"])
    if masks.shape[0] != frames.shape[0]:
        raise BadInputError(f"{frames.shape[0]} input_frames but {masks.shape[0]} input_masks",
                            hint="regenerate the reference npz")
    return {int(t): masks[i] for i, t in enumerate(frames)}


def frame_tensor(frames: np.ndarray, t: int, device: Any):
    """frames[t] uint8 [H, W, 3] -> float32 [3, H, W] in [0, 1] (frames/255, as the reference)."""
    import torch

    return (torch.from_numpy(np.ascontiguousarray(frames[t])).to(device).permute(2, 0, 1)
            .float() / 255)


def mask_tensor(mask: np.ndarray, device: Any):
    import torch

    return torch.from_numpy(mask.astype(np.int64)).to(device)


def pack_outputs(records: Sequence[StepRecord], num_frames: int, *,
                 keep_float: bool = False) -> dict[str, np.ndarray]:
    """Per-step results -> the reference's npz arrays (unprefixed); last write wins per frame.
    `keep_float` adds `step_prob` [S, C, H, W] float32 (not part of the npz layout)."""
    if not records:
        raise BadInputError("the variant has no steps", hint="fix the reference's steps")
    h, w = records[0].mask.shape
    channels = np.array([r.prob.shape[0] for r in records], dtype=np.int64)
    probs = np.zeros((len(records), int(channels.max()), h, w), dtype=np.uint16)
    for i, r in enumerate(records):
        probs[i, :r.prob.shape[0]] = np.clip(np.round(r.prob * 65535.0), 0, 65535)
    step_mask = np.stack([r.mask for r in records]).astype(np.uint8)
    final_step = np.full(num_frames, -1, dtype=np.int64)
    for i, r in enumerate(records):
        final_step[r.frame] = i
    final_mask = np.zeros((num_frames, h, w), dtype=np.uint8)
    for t, s in enumerate(final_step):
        if s >= 0:
            final_mask[t] = step_mask[s]
    out = {
        "step_kind": np.array([r.kind for r in records]),
        "step_frame": np.array([r.frame for r in records], dtype=np.int64),
        "step_prob_u16": probs,
        "step_channels": channels,
        "step_mask": step_mask,
        "final_step": final_step,
        "final_mask": final_mask,
    }
    if keep_float:
        fprob = np.zeros(probs.shape, dtype=np.float32)
        for i, r in enumerate(records):
            fprob[i, :r.prob.shape[0]] = r.prob
        out["step_prob"] = fprob
    return out


# ---------------------------------------------------------------------------- comparing
@dataclass
class VariantComparison:
    """How close our replay of one variant is to the reference."""

    name: str
    steps: int
    same_steps: bool
    same_channels: bool
    max_abs_prob_diff: float
    worst_step: int
    argmax_mismatch_pixels: int       # where the reference top-2 margin > PASS_MARGIN
    argmax_mismatch_any: int          # anywhere
    final_mask_mismatch_pixels: int   # where the final step's margin > PASS_MARGIN
    unstored_steps: int = 0           # steps whose probabilities the reference did not keep

    @property
    def passed(self) -> bool:
        return (self.same_steps and self.same_channels and
                self.max_abs_prob_diff <= PASS_PROB_TOL and self.argmax_mismatch_pixels == 0
                and self.final_mask_mismatch_pixels == 0)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["passed"] = self.passed
        return d


def top2_margin(prob: np.ndarray) -> np.ndarray:
    """p1 - p2 per pixel of [C, H, W] probabilities (inf with a single channel)."""
    if prob.shape[0] < 2:
        return np.full(prob.shape[1:], np.inf, dtype=np.float64)
    part = np.partition(prob, prob.shape[0] - 2, axis=0)
    return part[-1] - part[-2]


def compare_variant(name: str, ref: Mapping[str, np.ndarray],
                    ours: Mapping[str, np.ndarray]) -> VariantComparison:
    """Compare our arrays with the reference's (both unprefixed) by the pass criterion.

    A reference may leave a step's probabilities unstored (an all-zero row: a stored map sums
    to 1 at every pixel). Such a step has no probabilities to compare, and its masks are
    compared where OUR top-2 margin exceeds PASS_MARGIN + 2 * PASS_PROB_TOL: any reference
    within the tolerance of ours has a margin above PASS_MARGIN there.
    """
    ref_kind = [str(k) for k in ref["step_kind"]]
    our_kind = [str(k) for k in ours["step_kind"]]
    same_steps = (ref_kind == our_kind and
                  np.array_equal(np.asarray(ref["step_frame"]), np.asarray(ours["step_frame"])))
    same_channels = np.array_equal(np.asarray(ref["step_channels"]),
                                   np.asarray(ours["step_channels"]))
    worst, worst_step, strict_bad, any_bad, unstored = 0.0, -1, 0, 0, 0
    margins = []
    n = min(len(ref_kind), len(our_kind))
    for i in range(n):
        c = int(min(ref["step_channels"][i], ours["step_channels"][i]))
        p_ref = ref["step_prob_u16"][i, :c].astype(np.float64) / 65535.0
        if "step_prob" in ours:  # unquantised: the error is ours plus the reference's rounding
            p_our = ours["step_prob"][i, :c].astype(np.float64)
        else:
            p_our = ours["step_prob_u16"][i, :c].astype(np.float64) / 65535.0
        if c and not ref["step_prob_u16"][i, :c].any():  # not stored by the reference
            unstored += 1
            margin = top2_margin(p_our) - 2 * PASS_PROB_TOL
        else:
            diff = float(np.abs(p_ref - p_our).max()) if c else 0.0
            if diff > worst:
                worst, worst_step = diff, i
            margin = top2_margin(p_ref)
        margins.append(margin)
        differs = ref["step_mask"][i] != ours["step_mask"][i]
        any_bad += int(differs.sum())
        strict_bad += int((differs & (margin > PASS_MARGIN)).sum())
    final_bad = 0
    fs_ref = np.asarray(ref["final_step"])
    for t in range(min(len(fs_ref), len(ours["final_step"]))):
        s = int(fs_ref[t])
        if s < 0 or s >= n:
            continue
        differs = ref["final_mask"][t] != ours["final_mask"][t]
        final_bad += int((differs & (margins[s] > PASS_MARGIN)).sum())
    return VariantComparison(name, len(our_kind), bool(same_steps), bool(same_channels), worst,
                             worst_step, strict_bad, any_bad, final_bad, unstored)
