"""`m3vos dev replay` for ReVOS references (`model: cutie-revos-base`).

Called by `m3vos.trackers.parity.replay` (the command); the npz layout and the comparison
live in `m3vos.trackers.parity.reference`. The variant's `effective_settings` give both the Cutie eval settings and the
ReVOS ones (`boost_rate`, `polish_frames`, `polish_every`, `use_reverse_prop`); the loop
itself (`m3vos.trackers.revos.loop`) decides when reverse passes run, so the step sequence we
write is ours and the comparison checks it equals the reference's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.parity.reference import (Reference, StepRecord, frame_tensor,
                                             input_masks_by_frame, load_weights_file,
                                             mask_tensor, pack_outputs, variant_settings)
from m3vos.trackers.revos.settings import ReVOSSettings


def build_network(reference: Reference, weights: Path, device: Any) -> Any:
    """ReVOSNetwork with the manifest's model config (Cutie-base without one), loaded
    strictly from `weights`."""
    from m3vos.trackers.cutie.config import CutieModelConfig
    from m3vos.trackers.revos.network import DEFAULT_BOOST_RATE, ReVOSNetwork

    manifest = reference.manifest()
    model_cfg = manifest.get("model_config") if manifest else None
    if isinstance(model_cfg, dict):
        cfg = CutieModelConfig.from_dict(model_cfg)
        boost = float(model_cfg.get("boost_rate", DEFAULT_BOOST_RATE))
    else:
        cfg, boost = CutieModelConfig.base(), DEFAULT_BOOST_RATE
    network = ReVOSNetwork(cfg, boost_rate=boost)
    load_weights_file(network, weights)
    return network.to(device).eval()


def revos_settings(variant: Mapping[str, Any], network: Any) -> ReVOSSettings:
    """The variant's ReVOS settings; alpha falls back to the network's (manifest) boost rate."""
    from m3vos.trackers.revos.network import ReVOSNetwork

    effective = dict(variant.get("effective_settings") or {})
    if effective.get("boost_rate") is None and isinstance(network, ReVOSNetwork):
        effective["boost_rate"] = network.boost_rate
    settings, _ = ReVOSSettings.from_config(effective)
    return settings


def run_variant(network: Any, variant: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *,
                device: Any, keep_float: bool = False) -> dict[str, np.ndarray]:
    """Replay one ReVOS variant with the official loop (forward and `reverse@t` steps)."""
    import torch

    from m3vos.trackers.revos.loop import ReVOSCore, revos_steps
    from m3vos.trackers.revos.network import ReVOSNetwork

    if not isinstance(network, ReVOSNetwork):
        raise BadInputError("a ReVOS reference needs the ReVOS network (with its readout fuser)",
                            hint="replay it through `m3vos dev replay`, which builds it")
    settings = variant_settings(variant)
    revos = revos_settings(variant, network)
    frames = np.asarray(arrays["frames"])
    num_frames = frames.shape[0]
    masks = input_masks_by_frame(arrays)
    for t in masks:
        if not 0 <= t < num_frames:
            raise BadInputError(f"input mask for frame {t} outside the clip's {num_frames} frames",
                                hint="fix the reference's input_frames")
    mask_cache = {t: (mask_tensor(m, device), sorted(int(i) for i in np.unique(m) if i != 0))
                  for t, m in masks.items()}

    def image_at(t: int):
        return frame_tensor(frames, t, device)

    def mask_at(t: int):
        return mask_cache.get(t, (None, None))

    core = ReVOSCore(network, settings, revos)
    records: list[StepRecord] = []
    with torch.inference_mode():
        for step in revos_steps(core, num_frames, image_at, mask_at):
            records.append(StepRecord(step.kind, step.frame, step.prob.float().cpu().numpy(),
                                      core.output_prob_to_mask(step.prob).cpu().numpy()
                                      .astype(np.uint8)))
    return pack_outputs(records, num_frames, keep_float=keep_float)
