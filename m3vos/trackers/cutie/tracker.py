"""`cutie-small` and `cutie-base`: our Cutie behind the `Tracker` interface.

The tracker reproduces the official eval I/O path itself (`eval_io`): it takes the frames at
their native size, resizes them to a 480 short side with antialiasing (float, as torchvision
does), masks with PIL nearest, and resizes the probabilities back bilinearly before the argmax.
So it declares no `input_short_side`: the runner's own (uint8 Pillow) resize would differ.

`--config KEY=VALUE` sets any `EvalSettings` key (mem_every, top_k, use_long_term,
long_term.max_mem_frames, max_internal_size, flip_aug, size, ...).
"""

from __future__ import annotations

import contextlib
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
        from m3vos.trackers.weights import resolve_weights

        return resolve_weights(self.weights_name)

    @property
    def network(self):
        """The loaded network (built on first use)."""
        if self._network is None:
            from m3vos.trackers.cutie.checkpoint import load_model

            self._network = load_model(self.model_kind, self.weights_file(), device=self.device)
        return self._network

    # ------------------------------------------------------------------ tracking
    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        import torch

        from m3vos.trackers.cutie import eval_io
        from m3vos.trackers.cutie.inference_core import InferenceCore

        network = self.network
        device = torch.device(self.device)
        size = self.settings.size
        num_frames = len(video.frames)
        core = InferenceCore(network, self.settings)
        given = sorted(video.masks)
        start = given[0] if given else num_frames
        # The official AMP is CUDA-only: on CPU, switch off any autocast the caller opened so
        # the resizes and the argmax stay float32 (the core does the same for the network).
        no_cpu_autocast = torch.autocast("cpu", enabled=False) if device.type == "cpu" \
            else contextlib.nullcontext()
        with torch.inference_mode(), no_cpu_autocast:
            for t in range(num_frames):
                rgb = np.asarray(video.frames[t])
                if rgb.ndim != 3 or rgb.shape[2] != 3:
                    raise BadInputError(f"video {video.name}: frame {t} has shape {rgb.shape}, "
                                        "expected H x W x 3 RGB", hint="check the frame files")
                shape = rgb.shape[:2]
                if t < start:  # the official loop skips frames before the first mask
                    yield TrackerOutput(frame=t, labels=np.zeros(shape, dtype=np.uint8))
                    continue
                image = eval_io.resize_image(eval_io.image_to_tensor(rgb), size).to(device)
                mask_t, objects = None, None
                if t in video.masks:
                    mask = eval_io.resize_mask(np.asarray(video.masks[t], dtype=np.uint8), size)
                    objects = [int(i) for i in np.unique(mask) if i not in (0, 255)]
                    if objects or t == start:
                        mask = np.where(mask == 255, 0, mask)
                        mask_t = torch.from_numpy(mask.astype(np.int64)).to(device)
                prob = core.step(image, mask_t, objects, end=(t == num_frames - 1))
                labels = eval_io.prob_to_labels(prob.float(), core.object_manager.tmp_to_obj(),
                                                shape)
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
