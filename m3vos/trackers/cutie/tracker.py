"""`cutie-small` and `cutie-base`: our Cutie behind the `Tracker` interface.

The tracker reproduces the official eval I/O path itself (`eval_io`): it takes the frames at
their native size, resizes them to a 480 short side with antialiasing (float, as torchvision
does), masks with PIL nearest, and resizes the probabilities back bilinearly before the argmax.
So it declares no `input_short_side`: the runner's own (uint8 Pillow) resize would differ.

`--config KEY=VALUE` sets any `EvalSettings` key (mem_every, top_k, use_long_term,
long_term.max_mem_frames, max_internal_size, flip_aug, size, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput


class CutieTracker(Tracker):
    """Cutie with the official eval settings and I/O path; see the module docstring."""

    name: ClassVar[str] = "cutie"
    model_kind: ClassVar[str] = "cutie-base"
    capabilities = Capabilities(late_objects=True, needs_torch=True, needs_weights=True)
    input_short_side: ClassVar[int | None] = None  # the official resize happens in eval_io
    weights_name: ClassVar[str | None] = "cutie-base-mega"
    supports_random_weights: ClassVar[bool] = True   # --weights random[:SEED]
    version = "1"

    @classmethod
    def valid_config_keys(cls) -> list[str] | None:
        from m3vos.trackers.cutie.settings import EvalSettings

        return EvalSettings.config_keys()

    def __init__(self, *, device: str = "cpu", weights: Path | None = None,
                 config: dict[str, Any] | None = None, amp: bool = False) -> None:
        super().__init__(device=device, weights=weights, config=config, amp=amp)
        from m3vos.trackers.cutie.settings import EvalSettings

        settings = EvalSettings.from_dict(self.config, source="--config")
        if amp:
            settings = settings.replace(amp=True)
        self.settings = settings
        self._network = None
        # Load now, not on the first video: a wrong or corrupt checkpoint must stop the run
        # before any video starts (exit 2), rather than fail every video one by one.
        _ = self.network

    # ------------------------------------------------------------------ model
    def weights_file(self) -> Path:
        if self.weights is not None:
            if not self.weights.is_file():
                raise BadInputError("weights file not found", path=self.weights,
                                    hint=f"pass an existing .pth, or run `m3vos weights download "
                                         f"{self.weights_name}`")
            return self.weights
        if self.weights_name is None:
            raise BadInputError(f"{self.name} has no default checkpoint", hint="pass --weights PATH")
        from m3vos.trackers.weights import resolve_weights

        return resolve_weights(self.weights_name)

    @property
    def network(self):
        """The loaded network (built on first use)."""
        if self._network is None:
            from m3vos.trackers.models import build_model, load_model
            from m3vos.trackers.random_weights import random_seed, seeded_build

            seed = random_seed(self.weights)
            if seed is not None:
                net = seeded_build(lambda: build_model(self.model_kind), seed)
                self._network = net.to(self.device).eval()
            else:
                self._network = load_model(self.model_kind, self.weights_file(), device=self.device)
        return self._network

    # ------------------------------------------------------------------ tracking
    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        import torch

        from m3vos.trackers.cutie import eval_io
        from m3vos.trackers.cutie.frames import EvalFrames
        from m3vos.trackers.cutie.inference_core import InferenceCore

        network = self.network
        device = torch.device(self.device)
        num_frames = len(video.frames)
        core = InferenceCore(network, self.settings)
        with EvalFrames(video, self.settings.size, device) as frames, torch.inference_mode(), \
                eval_io.no_cpu_autocast(device):
            for t in range(num_frames):
                if t < frames.start:  # the official loop skips frames before the first mask
                    yield TrackerOutput(frame=t, labels=np.zeros(frames.shape(t), dtype=np.uint8))
                    continue
                image = frames.image(t)
                mask_t, objects = frames.mask(t)
                prob = core.step(image, mask_t, objects, end=(t == num_frames - 1))
                labels = eval_io.prob_to_labels(prob.float(), core.object_manager.tmp_to_obj(),
                                                frames.shape(t))
                yield TrackerOutput(frame=t, labels=labels)

    def close(self) -> None:
        self._network = None


class CutieSmallTracker(CutieTracker):
    """Cutie-small (ResNet-18 pixel encoder), released checkpoint cutie-small-mega."""

    name = "cutie-small"
    model_kind = "cutie-small"
    weights_name = "cutie-small-mega"


class CutieBaseTracker(CutieTracker):
    """Cutie-base (ResNet-50 pixel encoder), released checkpoint cutie-base-mega."""

    name = "cutie-base"
    model_kind = "cutie-base"
    weights_name = "cutie-base-mega"
