"""`m3vos dev replay` for Cutie references (`model: cutie-small` / `cutie-base`): build the
network the reference names and run its steps with `InferenceCore.step`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.parity.reference import (Reference, StepRecord, frame_tensor,
                                             input_masks_by_frame, load_weights_file,
                                             mask_tensor, pack_outputs, variant_settings)


def build_cutie_network(reference: Reference, weights: Path, device: Any) -> Any:
    """Our CutieNetwork for the reference's model (manifest config when present), loaded
    strictly from `weights`."""
    from m3vos.trackers.cutie.config import CutieModelConfig
    from m3vos.trackers.cutie.network import CutieNetwork

    manifest = reference.manifest()
    if manifest and isinstance(manifest.get("model_config"), dict):
        cfg = CutieModelConfig.from_dict(manifest["model_config"])
    else:
        try:
            cfg = CutieModelConfig.named(reference.model)
        except ValueError:
            raise BadInputError(f"unknown model {reference.model!r} in the reference",
                                path=reference.json_path,
                                hint="expected cutie-small, cutie-base or a ReVOS model") from None
    network = CutieNetwork(cfg)
    load_weights_file(network, weights)
    return network.to(device).eval()


def run_cutie_variant(network: Any, variant: Mapping[str, Any],
                      arrays: Mapping[str, np.ndarray], *, device: Any,
                      keep_float: bool = False) -> dict[str, np.ndarray]:
    """Replay one Cutie variant: every step is `InferenceCore.step` on the given frame, with
    the input mask of that frame (if any) and end = (last frame of the clip). `keep_float`
    adds `step_prob` (float32, unquantised) for finer comparisons."""
    import torch

    from m3vos.trackers.cutie.inference_core import InferenceCore

    settings = variant_settings(variant)
    frames = np.asarray(arrays["frames"])
    num_frames = frames.shape[0]
    masks = input_masks_by_frame(arrays)
    steps = list(variant.get("steps") or [])
    if not steps:
        first = min(masks) if masks else 0
        steps = [{"kind": "forward", "frame": t} for t in range(first, num_frames)]
    core = InferenceCore(network, settings)
    records: list[StepRecord] = []
    with torch.inference_mode():
        for step in steps:
            kind, t = str(step["kind"]), int(step["frame"])
            if kind != "forward":
                raise BadInputError(f"variant '{variant.get('name')}' has a '{kind}' step, which "
                                    "plain Cutie does not do",
                                    hint="replay ReVOS references with a ReVOS model name")
            if not 0 <= t < num_frames:
                raise BadInputError(f"step frame {t} outside the clip's {num_frames} frames",
                                    hint="fix the reference's steps")
            mask = masks.get(t)
            m = mask_tensor(mask, device) if mask is not None else None
            objects = (sorted(int(i) for i in np.unique(mask) if i != 0)
                       if mask is not None else None)
            prob = core.step(frame_tensor(frames, t, device), m, objects,
                             end=(t == num_frames - 1))
            records.append(StepRecord(kind, t, prob.float().cpu().numpy(),
                                      core.output_prob_to_mask(prob).cpu().numpy()
                                      .astype(np.uint8)))
    return pack_outputs(records, num_frames, keep_float=keep_float)
