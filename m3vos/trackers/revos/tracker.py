"""`revos`: ReVOS (Cutie-base + booster + readout fuser + windowed reverse passes) behind the
`Tracker` interface.

It reuses Cutie's official eval I/O path (`m3vos.trackers.cutie.eval_io`: 480 short side with
antialiasing, PIL-nearest masks, bilinear upsampling back) and the M3-VOS eval settings
(`roves-val`: mem_every 5, no long-term memory). It is offline: after every L forward frames
(and after the last one) it re-emits the last T frames with their reverse results, and the
runner keeps the last write per frame, as the official saver does.

`--config` takes the ReVOS settings (`boost_rate`/`alpha`, `polish_frames`/`T`,
`polish_every`/`L`, `reverse`; see `m3vos.trackers.revos.settings`) and every Cutie eval
setting (`mem_every`, `top_k`, `max_internal_size`, `flip_aug`, `size`, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput
from m3vos.trackers.cutie.tracker import CutieTracker


class ReVOSTracker(CutieTracker):
    """ReVOS with the official M3-VOS eval settings; see the module docstring."""

    name: ClassVar[str] = "revos"
    model_kind: ClassVar[str] = "revos"
    weights_name: ClassVar[str | None] = "revos"
    capabilities = Capabilities(late_objects=True, offline=True, needs_torch=True,
                                needs_weights=True)
    input_short_side: ClassVar[int | None] = None   # the official resize happens in eval_io
    version = "1"

    @classmethod
    def valid_config_keys(cls) -> list[str] | None:
        from m3vos.trackers.cutie.settings import EvalSettings
        from m3vos.trackers.revos.settings import ALIASES

        return sorted(set(ALIASES) | set(EvalSettings.config_keys()))

    def __init__(self, *, device: str = "cpu", weights: Path | None = None,
                 config: dict[str, Any] | None = None, amp: bool = False) -> None:
        Tracker.__init__(self, device=device, weights=weights, config=config, amp=amp)
        from m3vos.trackers.cutie.settings import EvalSettings
        from m3vos.trackers.revos.settings import ReVOSSettings

        self.revos, rest = ReVOSSettings.from_config(self.config)
        try:
            settings = EvalSettings.from_dict(rest, source="--config")
        except BadInputError as exc:
            hint = "ReVOS keys: boost_rate (alpha), polish_frames (T), polish_every (L), reverse"
            raise BadInputError(exc.message, path=exc.path,
                                hint=f"{hint}; Cutie keys: {exc.hint}" if exc.hint else hint) from None
        if amp:
            settings = settings.replace(amp=True)
        self.settings = settings
        self._network = None
        # Load now, so a wrong checkpoint (e.g. plain Cutie, without the fuser) stops the run
        # before the first video instead of failing every video.
        _ = self.network

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        import torch

        from m3vos.trackers.cutie import eval_io
        from m3vos.trackers.cutie.frames import EvalFrames
        from m3vos.trackers.revos.loop import ReVOSCore, revos_steps

        device = torch.device(self.device)
        num_frames = len(video.frames)
        # keep the reverse window's prepared frames: a reverse pass decodes nothing again
        keep = self.revos.polish_frames + 1 if self.revos.reverse else 0
        with EvalFrames(video, self.settings.size, device, keep=keep) as frames:
            for t in range(min(frames.start, num_frames)):   # the official loop skips these frames
                yield TrackerOutput(frame=t, labels=np.zeros(frames.shape(t), dtype=np.uint8))
            core = ReVOSCore(self.network, self.settings, self.revos)
            with torch.inference_mode(), eval_io.no_cpu_autocast(device):
                for step in revos_steps(core, num_frames, frames.image, frames.mask):
                    labels = eval_io.prob_to_labels(step.prob.float(), core.object_manager.tmp_to_obj(),
                                                    frames.shape(step.frame))
                    yield TrackerOutput(frame=step.frame, labels=labels)
