"""`sam2.1-tiny` ... `sam2-large`: SAM 2 / 2.1 video object segmentation behind `Tracker`.

Runs `transformers.Sam2VideoModel` frame by frame through a `Sam2VideoInferenceSession`, with
m3vos's own frame preparation (`frames`): each object is prompted with its first annotated
mask (late objects at the frame they first appear, as for Cutie), and every frame from the
first annotated one yields one id map. Memory is bounded: a frame's pixels and the outputs of
tracked frames older than the model can look back (16 frames) are dropped as it goes.

`--config image_size=N` (multiple of 32; default 1024, the released setting) trades accuracy
for speed. `--weights` takes Meta's `.pt`, a `transformers` `.safetensors`, or `random[:SEED]`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np

from m3vos.errors import BadInputError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput
from m3vos.trackers.sam2.model import ensure_engine
from m3vos.trackers.sam2.variants import get_variant

ensure_engine()

CONFIG_KEYS = ("image_size",)


class Sam2Tracker(Tracker):
    """One SAM 2 variant (`variant` names it); see the module docstring."""

    name: ClassVar[str] = "sam2"
    variant: ClassVar[str] = "sam2.1-tiny"
    capabilities = Capabilities(late_objects=True, needs_torch=True, needs_weights=True)
    input_short_side: ClassVar[int | None] = None   # frames are squashed to image_size here
    weights_name: ClassVar[str | None] = "sam2.1-tiny"
    supports_random_weights: ClassVar[bool] = True
    version = "1"

    def __init__(self, *, device: str = "cpu", weights: Path | None = None,
                 config: dict[str, Any] | None = None, amp: bool = False) -> None:
        super().__init__(device=device, weights=weights, config=config, amp=amp)
        from m3vos.trackers.sam2.model import OFFICIAL_IMAGE_SIZE, check_image_size, require_transformers

        unknown = sorted(set(self.config) - set(CONFIG_KEYS))
        if unknown:
            raise BadInputError(f"unknown --config key(s) for {self.name}: {', '.join(unknown)}",
                                hint=f"known: {', '.join(CONFIG_KEYS)}")
        self.image_size = check_image_size(self.config.get("image_size", OFFICIAL_IMAGE_SIZE))
        require_transformers()
        self._network = None
        _ = self.network   # a wrong checkpoint stops the run before the first video

    def weights_file(self) -> Path:
        if self.weights is not None:
            if not self.weights.is_file():
                raise BadInputError("weights file not found", path=self.weights,
                                    hint=f"pass an existing checkpoint, or run `m3vos weights "
                                         f"download {self.weights_name}`")
            return self.weights
        if self.weights_name is None:
            raise BadInputError(f"{self.name} has no default checkpoint", hint="pass --weights PATH")
        from m3vos.trackers.weights import resolve_weights

        return resolve_weights(self.weights_name)

    @property
    def network(self) -> Any:
        if self._network is None:
            from m3vos.trackers.random_weights import random_seed, seeded_build
            from m3vos.trackers.sam2.checkpoint import load_sam2_weights
            from m3vos.trackers.sam2.model import build_model

            variant = get_variant(self.variant)
            seed = random_seed(self.weights)
            if seed is not None:
                model = seeded_build(lambda: build_model(variant, self.image_size), seed)
            else:
                model = build_model(variant, self.image_size)
                load_sam2_weights(model, self.weights_file())
            self._network = model.to(self.device).eval()
        return self._network

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        import torch

        from m3vos.trackers.sam2 import frames as prep

        model = self.network
        num_frames = len(video.frames)
        given = sorted(video.masks)
        start = given[0] if given else num_frames
        session = _new_session(num_frames, video.size, self.device)
        size = self.image_size
        with torch.inference_mode():
            for t in range(num_frames):
                rgb = np.asarray(video.frames[t])
                if rgb.ndim != 3 or rgb.shape[2] != 3:
                    raise BadInputError(f"video {video.name}: frame {t} has shape {rgb.shape}, "
                                        "expected H x W x 3 RGB", hint="check the frame files")
                shape = rgb.shape[:2]
                if t >= start and t in video.masks:
                    self._prompt(session, t, np.asarray(video.masks[t]), size)
                if t < start or session.get_obj_num() == 0:
                    yield TrackerOutput(frame=t, labels=np.zeros(shape, dtype=np.uint8))
                    continue
                session.add_new_frame(prep.prepare_frame(rgb, size), t)
                out = model(inference_session=session, frame_idx=t)
                labels = prep.logits_to_labels(out.pred_masks, out.object_ids, shape)
                _forget(session, t, keep=max(model.config.num_maskmem,
                                             model.config.max_object_pointers_in_encoder))
                yield TrackerOutput(frame=t, labels=labels)

    @staticmethod
    def _prompt(session: Any, t: int, mask: np.ndarray, size: int) -> None:
        """Add a mask prompt for every object first seen in `mask`."""
        from m3vos.trackers.sam2.frames import prepare_mask

        new = [int(i) for i in np.unique(mask) if i not in (0, 255) and int(i) not in session.obj_ids]
        for oid in new:
            idx = session.obj_id_to_idx(oid)
            session.add_mask_inputs(idx, t, prepare_mask(mask == oid, size))
        if new:
            session.obj_with_new_inputs = new

    def close(self) -> None:
        self._network = None


def _new_session(length: int, size: tuple[int, int], device: str) -> Any:
    """A streaming inference session that reports the video's length (the model normalises
    object-pointer distances by it, as in an offline run) while holding one frame at a time."""
    import torch
    from transformers.models.sam2_video.modeling_sam2_video import Sam2VideoInferenceSession

    class _Session(Sam2VideoInferenceSession):
        total_frames = length

        @property
        def num_frames(self) -> int:  # type: ignore[override]
            return self.total_frames

    return _Session(video_height=size[0], video_width=size[1], inference_device=device,
                    inference_state_device=device, video_storage_device=device,
                    dtype=torch.float32)


def _forget(session: Any, t: int, keep: int) -> None:
    """Drop what no later frame reads: this frame's pixels, high-resolution masks (used only by
    the memory encoder within the step), and tracked outputs older than `keep` frames."""
    session.processed_frames.pop(t, None)
    for outputs in session.output_dict_per_obj.values():
        for kind in ("cond_frame_outputs", "non_cond_frame_outputs"):
            entry = outputs[kind].get(t)
            if entry is not None:
                entry.pop("high_res_masks", None)
        old = [i for i in outputs["non_cond_frame_outputs"] if i < t - keep]
        for i in old:
            del outputs["non_cond_frame_outputs"][i]


def _variant_class(cls_name: str, variant: str) -> type[Sam2Tracker]:
    return type(cls_name, (Sam2Tracker,), {"name": variant, "variant": variant,
                                          "weights_name": variant, "__module__": __name__,
                                          "__doc__": f"{variant} (SAM 2 video predictor)."})


Sam21TinyTracker = _variant_class("Sam21TinyTracker", "sam2.1-tiny")
Sam21SmallTracker = _variant_class("Sam21SmallTracker", "sam2.1-small")
Sam21BasePlusTracker = _variant_class("Sam21BasePlusTracker", "sam2.1-base-plus")
Sam21LargeTracker = _variant_class("Sam21LargeTracker", "sam2.1-large")
Sam2TinyTracker = _variant_class("Sam2TinyTracker", "sam2-tiny")
Sam2SmallTracker = _variant_class("Sam2SmallTracker", "sam2-small")
Sam2BasePlusTracker = _variant_class("Sam2BasePlusTracker", "sam2-base-plus")
Sam2LargeTracker = _variant_class("Sam2LargeTracker", "sam2-large")
