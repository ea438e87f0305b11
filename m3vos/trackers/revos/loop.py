"""The ReVOS loop: boosted forward steps, and every L frames (and after the last one) a reverse
pass over the last T frames, newest first, whose results overwrite the forward ones.

Built on Cutie's `InferenceCore` (`m3vos.trackers.cutie.inference_core`) without copying it:
`ReVOSCore` changes the forward step's flags (as the official ReVOS code does) and adds
`reverse_step`, assembled from the core's own pieces. The official behaviour reproduced here
(`methods/Cutie_ReVOS`, `cutie/eval_vos.py` + `InferenceCore.step(backward=True)`):

- forward steps scale the decoder logits by alpha (`boost_rate`), update the sensory memory on
  every frame but the last (no stagger), and store the frame's readout (None when no
  segmentation ran, e.g. on an annotated frame);
- a reverse pass backs up the frame counter, sensory memory and last mask; walks the window
  newest first, counting the frame index down; reads the *forward* working memory without
  writing anything; fuses the readout with the frame's forward readout; decodes with alpha = 1;
  carries its own sensory memory and last mask backwards; then restores the forward state;
- a reverse step on a frame that has an input mask holding only known objects does not run the
  network: its output is that mask as a one-hot over every known object;
- the window holds the last T forward frames and is not cleared after a pass.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import torch

from m3vos.trackers.cutie.inference_core import InferenceCore, StepFlags
from m3vos.trackers.cutie.settings import EvalSettings
from m3vos.trackers.cutie.tensor_ops import aggregate
from m3vos.trackers.revos.settings import ReVOSSettings

#: (image [3, H, W] float in [0, 1] on the model's device) for a frame index
ImageSource = Callable[[int], torch.Tensor]
#: (mask [H, W] id map or None, sorted object ids in it or None) for a frame index
MaskSource = Callable[[int], tuple[torch.Tensor | None, list[int] | None]]


@dataclass
class Step:
    """One step's result: `kind` is "forward" or "reverse@<t>" (the pass after frame t)."""

    kind: str
    frame: int
    prob: torch.Tensor          # [N+1, H, W], background first, objects in temporary-id order


@dataclass
class WindowEntry:
    """What a reverse pass needs of a past frame (the image is fetched again when needed)."""

    frame: int
    mask: torch.Tensor | None
    objects: list[int] | None
    forward_readout: torch.Tensor | None


class ReVOSCore(InferenceCore):
    """Cutie's inference core with ReVOS's forward flags, booster and reverse step."""

    def __init__(self, network, settings: EvalSettings | None = None,
                 revos: ReVOSSettings | None = None) -> None:
        super().__init__(network, settings)
        self.revos = revos or ReVOSSettings()
        self.logit_scale = self.revos.boost_rate

    def compute_flags(self, has_mask: bool, objects: Sequence[int] | None,
                      end: bool) -> StepFlags:
        """ReVOS disables the staggered sensory updates (every frame but the last) and
        measures the memory interval with abs() (the counter runs down in reverse passes)."""
        flags = super().compute_flags(has_mask, objects, end)
        flags.is_mem_frame = ((abs(self.curr_ti - self.last_mem_ti) >= self.mem_every or has_mask)
                              and not end)
        flags.update_sensory = not end
        return flags

    def reverse_step(self, image: torch.Tensor, mask: torch.Tensor | None,
                     objects: Sequence[int] | None,
                     forward_readout: torch.Tensor | None) -> torch.Tensor:
        """Re-segment a past frame from the forward memory; writes no memory. Returns
        [N+1, H, W] probabilities like `step`."""
        with self.autocast():
            return self._reverse_step(image, mask, objects, forward_readout)

    def _reverse_step(self, image, mask, objects, forward_readout):
        if mask is not None:
            objects = [int(o) for o in (objects if objects is not None
                                        else _nonzero_ids(mask))]
        frame = self.prepare(image, mask)
        self.curr_ti -= 1
        self.pad = frame.pad
        need_segment = mask is None or (self.object_manager.num_obj > 0
                                        and not self.object_manager.has_all(objects))
        feats = self.encode(frame.image)
        prob = None
        if need_segment:
            if not self.memory.engaged:
                h, w = feats.key.shape[-2:]
                prob = torch.zeros((1, h * 16, w * 16), device=feats.key.device,
                                   dtype=feats.key.dtype)
            else:
                readout = self.read_memory(feats)
                readout = self.network.fuse_readouts(readout, forward_readout)
                prob = self.decode(feats, readout, update_sensory=True, logit_scale=1.0)
        if mask is not None:
            if need_segment:
                prob = self.merge_input_mask(prob, frame.mask, objects)
            elif len(objects) == 0:
                self.image_feature_store.delete(self.curr_ti)
                return torch.zeros((1, *image.shape[-2:]), device=image.device,
                                   dtype=feats.key.dtype)
            else:
                # the official reverse step: a one-hot over EVERY known object, so objects
                # absent from this mask get zero here
                self.object_manager.add_new_objects(objects)
                onehot = torch.stack([frame.mask == obj
                                      for obj in self.object_manager.all_obj_ids], dim=0)
                prob = torch.softmax(aggregate(onehot, dim=0), dim=0)
        self.set_last_mask(prob)
        self.image_feature_store.delete(self.curr_ti)
        return self.finish_output(prob, frame)


def revos_steps(core: ReVOSCore, num_frames: int, image_at: ImageSource,
                mask_at: MaskSource) -> Iterator[Step]:
    """Run the ReVOS loop over frames 0..num_frames-1 and yield every step in order.

    Frames before the first input mask are skipped (no output), as in the official loop. A
    consumer keeps the last `Step` per frame: reverse steps overwrite forward ones.
    """
    revos = core.revos
    window: deque[WindowEntry] = deque()
    countdown = revos.polish_every
    started = False
    last = num_frames - 1
    for t in range(num_frames):
        mask, objects = mask_at(t)
        if not started:
            if mask is None:
                continue
            started = True
        prob = core.step(image_at(t), mask, objects, end=(t == last))
        yield Step("forward", t, prob)
        if not revos.reverse:
            continue
        countdown -= 1
        if countdown == 0 or (t == last and window):
            yield from _reverse_pass(core, t, window, image_at)
            countdown = revos.polish_every
        window.append(WindowEntry(t, mask, objects, core.last_readout))
        if len(window) > revos.polish_frames:
            window.popleft()


def _reverse_pass(core: ReVOSCore, t: int, window: deque[WindowEntry],
                  image_at: ImageSource) -> Iterator[Step]:
    state = core.backup_state()
    try:
        for entry in reversed(window):
            prob = core.reverse_step(image_at(entry.frame), entry.mask, entry.objects,
                                     entry.forward_readout)
            yield Step(f"reverse@{t}", entry.frame, prob)
    finally:
        core.restore_state(state)


def _nonzero_ids(mask: torch.Tensor) -> list[int]:
    return [int(i) for i in torch.unique(mask).tolist() if i != 0]
