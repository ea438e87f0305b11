"""Cutie's per-frame inference loop (`InferenceCore.step`), in the official order.

One `step(image, mask, objects, end)` per frame, as the official eval loop calls it:

1. optional internal resize (`max_internal_size`), 2. `curr_ti += 1`, 3. centred zero padding to
multiples of 16, 4. flip-augmentation batch, 5. the three flags (memory frame / segment / sensory
update, with the stagger set), 6. image encoding, 7. memory read -> object transformer ->
*readout* -> decoder (with a logit-scale hook) -> probabilities, 8. merging a given mask with the
prediction, 9. the soft `last_mask`, 10. memory write, 11. unpad (and resize back).

The step is split into small public methods so that ReVOS (`m3vos.trackers.revos`) builds on it
without copying it: it scales the decoder logits (`logit_scale`), reads the readout of each
forward step (`last_readout`), runs reverse steps from `encode` / `read_memory` / `decode`
without writing memory, and saves/restores (`backup_state` / `restore_state`) the running state.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from m3vos.trackers.cutie.image_feature_store import ImageFeatures, ImageFeatureStore
from m3vos.trackers.cutie.memory_manager import MemoryManager
from m3vos.trackers.cutie.object_manager import ObjectManager
from m3vos.trackers.cutie.settings import EvalSettings
from m3vos.trackers.cutie.tensor_ops import aggregate

Pad = tuple[int, int, int, int]  # (left, right, top, bottom), as F.pad takes it


def pad_divide_by(x: torch.Tensor, d: int) -> tuple[torch.Tensor, Pad]:
    """Zero-pad the last two axes to multiples of `d`, centred (low side gets the floor)."""
    h, w = x.shape[-2:]
    new_h = h + (d - h % d) % d
    new_w = w + (d - w % d) % d
    lh, lw = (new_h - h) // 2, (new_w - w) // 2
    pad = (lw, new_w - w - lw, lh, new_h - h - lh)
    return F.pad(x, pad), pad


def unpad(x: torch.Tensor, pad: Pad) -> torch.Tensor:
    left, right, top, bottom = pad
    h, w = x.shape[-2:]
    return x[..., top:h - bottom, left:w - right]


@dataclass
class PreparedFrame:
    """A frame after resize/pad/flip, ready for the network."""

    image: torch.Tensor          # [B, 3, H', W'] (B = 2 with flip aug)
    mask: torch.Tensor | None    # padded [H', W'] id map, or None
    pad: Pad
    original_size: tuple[int, int] | None  # (h, w) to resize back to, when resized


@dataclass
class StepFlags:
    is_mem_frame: bool
    need_segment: bool
    update_sensory: bool


@dataclass
class CoreState:
    """What a reverse pass changes and must give back (ReVOS)."""

    curr_ti: int
    last_mem_ti: int
    sensory: dict[int, torch.Tensor]
    last_mask: torch.Tensor | None


class InferenceCore:
    """Runs a `CutieNetwork` over one video, frame by frame, with its memory."""

    def __init__(self, network: Any, settings: EvalSettings | None = None) -> None:
        self.network = network
        self.settings = settings or EvalSettings()
        self.mem_every = self.settings.mem_every
        self.chunk_size = self.settings.chunk_size
        self.max_internal_size = self.settings.max_internal_size
        self.flip_aug = self.settings.flip_aug
        self.stagger_ti = self.settings.stagger_set()
        #: Decoder logits are multiplied by this before the sigmoid (ReVOS's booster).
        self.logit_scale = 1.0
        self.object_manager = ObjectManager()
        self.memory = MemoryManager(self.settings, self.object_manager,
                                    sensory_dim=network.sensory_dim)
        self.image_feature_store = ImageFeatureStore(network)
        self.curr_ti = -1
        self.last_mem_ti = 0
        self.last_mask: torch.Tensor | None = None
        #: Object-transformer readout [B, N, C, h, w] of the last segmentation (None if none ran).
        self.last_readout: torch.Tensor | None = None
        self.pad: Pad = (0, 0, 0, 0)

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def autocast(self):
        """AMP (float16) only on CUDA and only when `settings.amp`; otherwise any autocast
        around the caller is switched off, so results do not depend on it (parity is float32)."""
        kind = self.device.type
        if kind == "cuda":
            # the runner's `--precision amp-bf16` opens a bfloat16 autocast: keep its dtype
            dtype = _outer_cuda_autocast_dtype() or torch.float16
            return torch.autocast("cuda", dtype=dtype, enabled=self.settings.amp)
        if kind == "cpu":
            return torch.autocast("cpu", enabled=False)
        return contextlib.nullcontext()

    # ------------------------------------------------------------------ the step
    def step(self, image: torch.Tensor, mask: torch.Tensor | None = None,
             objects: Sequence[int] | None = None, *, end: bool = False) -> torch.Tensor:
        """Segment one frame. image [3, H, W] float in [0, 1]; mask [H, W] id map holding
        `objects` (sorted ids present in it), or None. Returns [N+1, H, W] probabilities,
        background first, objects in order of first appearance. `end`: last frame (no memory
        or sensory update)."""
        with self.autocast():
            return self._step(image, mask, objects, end)

    def _step(self, image, mask, objects, end):
        if mask is not None:
            objects = [int(o) for o in (objects if objects is not None else
                                        _nonzero_ids(mask))]
        frame = self.prepare(image, mask)
        self.curr_ti += 1
        self.pad = frame.pad
        flags = self.compute_flags(mask is not None, objects, end)
        feats = self.encode(frame.image)

        self.last_readout = None
        prob = None
        if flags.need_segment:
            prob = self.segment(feats, update_sensory=flags.update_sensory)
        if mask is not None:
            prob = self.merge_input_mask(prob, frame.mask, objects)
            if prob is None:  # an empty first mask: nothing to track
                self.image_feature_store.delete(self.curr_ti)
                return torch.zeros((1, *image.shape[-2:]), device=image.device,
                                   dtype=feats.key.dtype)
        self.set_last_mask(prob)
        if flags.is_mem_frame:
            self.add_memory(frame.image, feats, self.last_mask)
        self.image_feature_store.delete(self.curr_ti)
        return self.finish_output(prob, frame)

    # ------------------------------------------------------------------ pieces of a step
    def prepare(self, image: torch.Tensor, mask: torch.Tensor | None) -> PreparedFrame:
        """Internal resize (if `max_internal_size`), padding to /16 and the flip batch."""
        original_size = None
        if self.max_internal_size > 0:
            h, w = image.shape[-2:]
            min_side = min(h, w)
            if min_side > self.max_internal_size:
                original_size = (h, w)
                new_h = int(h / min_side * self.max_internal_size)
                new_w = int(w / min_side * self.max_internal_size)
                image = F.interpolate(image.unsqueeze(0), size=(new_h, new_w), mode="bilinear",
                                      align_corners=False)[0]
                if mask is not None:
                    mask = F.interpolate(mask[None, None].float(), size=(new_h, new_w),
                                         mode="nearest-exact")[0, 0].round().long()
        image, pad = pad_divide_by(image, 16)
        image = image.unsqueeze(0)
        if self.flip_aug:
            image = torch.cat([image, torch.flip(image, dims=[-1])], dim=0)
        if mask is not None:
            mask, _ = pad_divide_by(mask, 16)
        return PreparedFrame(image, mask, pad, original_size)

    def compute_flags(self, has_mask: bool, objects: Sequence[int] | None,
                      end: bool) -> StepFlags:
        since_mem = self.curr_ti - self.last_mem_ti
        is_mem_frame = (since_mem >= self.mem_every or has_mask) and not end
        need_segment = (not has_mask) or (self.object_manager.num_obj > 0 and
                                          not self.object_manager.has_all(objects or ()))
        update_sensory = (since_mem in self.stagger_ti) and not end
        return StepFlags(is_mem_frame, need_segment, update_sensory)

    def encode(self, image: torch.Tensor, index: int | None = None) -> ImageFeatures:
        """Image features of the prepared batch (cached for the current step)."""
        return self.image_feature_store.get(self.curr_ti if index is None else index, image)

    def read_memory(self, feats: ImageFeatures) -> torch.Tensor:
        """Memory read + pixel fusion + object transformer: readout [B, N, C, h, w] in
        temporary-id order."""
        assert self.last_mask is not None, "a memory read needs the previous frame's mask"
        per_object = self.memory.read(feats.pix_feat, feats.key, feats.selection, self.last_mask,
                                      self.network)
        return torch.stack(self.object_manager.realize(per_object), dim=1)

    def decode(self, feats: ImageFeatures, readout: torch.Tensor, *, update_sensory: bool,
               logit_scale: float | None = None) -> torch.Tensor:
        """Decoder -> [N+1, H', W'] probabilities (flip-averaged); stores the decoder's sensory
        memory when `update_sensory`. `logit_scale` (default `self.logit_scale`) multiplies the
        per-object logits before the sigmoid."""
        obj_ids = self.object_manager.all_obj_ids
        sensory, logits = self.network.mask_decoder(
            feats.ms_feat, readout, self.memory.get_sensory(obj_ids),
            chunk_size=self.chunk_size, update_sensory=update_sensory)
        scale = self.logit_scale if logit_scale is None else logit_scale
        if scale != 1.0:
            logits = logits * scale
        _, prob = self.network.probs_from_logits(logits)
        if self.flip_aug:
            prob = (prob[0] + torch.flip(prob[1], dims=[-1])) / 2
        else:
            prob = prob[0]
        if update_sensory:
            self.memory.update_sensory(sensory, obj_ids)
        return prob

    def segment(self, feats: ImageFeatures, *, update_sensory: bool) -> torch.Tensor:
        """Probabilities of the current frame from memory; keeps the readout in `last_readout`."""
        if not self.memory.engaged:
            h, w = feats.key.shape[-2:]
            return torch.zeros((1, h * 16, w * 16), device=feats.key.device,
                               dtype=feats.key.dtype)
        readout = self.read_memory(feats)
        self.last_readout = readout
        return self.decode(feats, readout, update_sensory=update_sensory)

    def merge_input_mask(self, prob: torch.Tensor | None, mask: torch.Tensor,
                         objects: Sequence[int]) -> torch.Tensor | None:
        """Register the mask's objects and combine it with the prediction (if one was made):
        given objects overwrite their channel and erase others where the mask is set."""
        tmp_ids = self.object_manager.add_new_objects(objects)
        if prob is not None:
            pred = prob[1:]
            pred[:, mask > 0] = 0
            new_masks = []
            for obj, tmp in zip(objects, tmp_ids):
                this = (mask == obj).type_as(pred)
                if tmp > pred.shape[0]:
                    new_masks.append(this.unsqueeze(0))
                else:
                    pred[tmp - 1] = this
            merged = torch.cat([pred, *new_masks], dim=0)
        else:
            if len(objects) == 0:
                return None
            merged = torch.stack([mask == obj for obj in objects], dim=0)
        return torch.softmax(aggregate(merged, dim=0), dim=0)

    def set_last_mask(self, prob: torch.Tensor) -> None:
        """The soft mask of the step (no background), as the next step's fuser input."""
        last = prob[1:].unsqueeze(0)
        if self.flip_aug:
            last = torch.cat([last, torch.flip(last, dims=[-1])], dim=0)
        self.last_mask = last

    def add_memory(self, image: torch.Tensor, feats: ImageFeatures, masks: torch.Tensor, *,
                   deep_update: bool = True) -> None:
        """Encode `masks` [B, N, H', W'] and write a memory frame; the mask encoder's deep
        update replaces the sensory memory."""
        if masks.shape[1] == 0:
            return
        obj_ids = self.object_manager.all_obj_ids
        self.memory.initialize_sensory_if_needed(feats.key, obj_ids)
        msk_value, sensory, obj_value, _ = self.network.encode_mask(
            image, feats.pix_feat, self.memory.get_sensory(obj_ids), masks,
            deep_update=deep_update, chunk_size=self.chunk_size)
        self.memory.add_memory(feats.key, feats.shrinkage, msk_value, obj_value, obj_ids,
                               selection=feats.selection, as_permanent="first")
        self.last_mem_ti = self.curr_ti
        if deep_update:
            self.memory.update_sensory(sensory, obj_ids)

    def finish_output(self, prob: torch.Tensor, frame: PreparedFrame) -> torch.Tensor:
        out = unpad(prob, frame.pad)
        if frame.original_size is not None:
            out = F.interpolate(out.unsqueeze(0), size=frame.original_size, mode="bilinear",
                                align_corners=False)[0]
        return out

    # ------------------------------------------------------------------ results and state
    def output_prob_to_mask(self, prob: torch.Tensor) -> torch.Tensor:
        """Argmax of [N+1, H, W] probabilities mapped from temporary ids to object ids."""
        idx = torch.argmax(prob, dim=0)
        out = torch.zeros_like(idx)
        for tmp, obj in self.object_manager.tmp_to_obj().items():
            out[idx == tmp] = obj
        return out

    def backup_state(self) -> CoreState:
        """Snapshot of curr_ti, sensory memory and last_mask (tensors are replaced, never
        modified in place, so references suffice)."""
        return CoreState(self.curr_ti, self.last_mem_ti, dict(self.memory.sensory),
                         self.last_mask)

    def restore_state(self, state: CoreState) -> None:
        self.curr_ti = state.curr_ti
        self.last_mem_ti = state.last_mem_ti
        self.memory.sensory = dict(state.sensory)
        self.last_mask = state.last_mask


def _outer_cuda_autocast_dtype():
    """The dtype of an enclosing CUDA autocast, or None (torch < 2.4 has other names)."""
    try:
        return torch.get_autocast_dtype("cuda") if torch.is_autocast_enabled("cuda") else None
    except (AttributeError, TypeError):
        return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


def _nonzero_ids(mask: torch.Tensor) -> list[int]:
    ids = torch.unique(mask)
    return [int(i) for i in ids.tolist() if i != 0]
