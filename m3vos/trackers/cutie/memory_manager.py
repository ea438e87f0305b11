"""Cutie's memory: working memory, optional long-term memory, sensory and object memory.

What is kept, per the official inference code:
- working memory (`KeyValueMemoryStore`): one bucket per group of objects that first appeared
  together; the bucket's first frame is permanent; at most `max_mem_frames - 1` temporary frames
  survive (FIFO), or, with long-term memory, old temporary frames are consolidated into
  prototypes once `long_term.max_mem_frames - 1` are stored;
- long-term memory: prototypes with usage counters, pruned by usage when full;
- sensory memory: one [B, C, h, w] tensor per object, replaced (never summed);
- object memory: per object a running SUM of the object summaries (the last channel is the
  accumulated area); the object transformer divides.

The similarity and top-k softmax (`memory_ops`) keep the official arithmetic order, because
outputs are compared to the official code at 1e-5. Unlike the official code, top-k is capped at
the number of memory tokens (tiny frames would otherwise crash).
"""

from __future__ import annotations

from typing import Any

import torch

from m3vos.errors import BadInputError
from m3vos.trackers.cutie.kv_memory_store import KeyValueMemoryStore, Permanence
from m3vos.trackers.cutie.memory_ops import do_softmax, get_similarity
from m3vos.trackers.cutie.object_manager import ObjectManager
from m3vos.trackers.cutie.settings import EvalSettings


def _readout(affinity: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Values [B, C, N] or [B, O, C, N] weighted by affinity [B, N, HW]."""
    if v.dim() == 3:
        return v @ affinity
    bs, num_objects, c, n = v.shape
    out = v.view(bs, num_objects * c, n) @ affinity
    return out.view(bs, num_objects, c, -1)


class MemoryManager:
    """All of Cutie's memory for one video, read and written by `InferenceCore`."""

    def __init__(self, settings: EvalSettings, object_manager: ObjectManager, *,
                 sensory_dim: int) -> None:
        self.settings = settings
        self.object_manager = object_manager
        self.sensory_dim = sensory_dim
        self.top_k = settings.top_k
        self.chunk_size = settings.chunk_size
        self.use_long_term = settings.use_long_term
        lt = settings.long_term
        self.count_long_term_usage = lt.count_usage
        # The permanent first frame does not count towards the limits (hence the -1).
        if self.use_long_term:
            self.max_mem_frames = lt.max_mem_frames - 1
            self.min_mem_frames = lt.min_mem_frames - 1
            self.num_prototypes = lt.num_prototypes
            self.max_long_tokens = lt.max_num_tokens
            self.buffer_tokens = lt.buffer_tokens
        else:
            self.max_mem_frames = settings.max_mem_frames - 1
        self.CK: int | None = None
        self.CV: int | None = None
        self.HW: int | None = None
        self.max_work_tokens = 0
        self.min_work_tokens = 0
        self.sensory: dict[int, torch.Tensor] = {}
        self.obj_v: dict[int, torch.Tensor] = {}
        self.work_mem = KeyValueMemoryStore(save_selection=self.use_long_term,
                                            save_usage=self.use_long_term)
        self.long_mem = (KeyValueMemoryStore(save_usage=self.count_long_term_usage)
                         if self.use_long_term else None)
        self.engaged = False

    @property
    def _long(self) -> KeyValueMemoryStore:
        """The long-term store, where `use_long_term` guarantees there is one."""
        assert self.long_mem is not None, "long-term memory is off"
        return self.long_mem

    # ------------------------------------------------------------------ per-object lookups
    def _mask_by_ids(self, mask: torch.Tensor, obj_ids: list[int]) -> torch.Tensor:
        return mask[:, [self.object_manager.tmp_id(obj) - 1 for obj in obj_ids]]

    def get_sensory(self, obj_ids: list[int]) -> torch.Tensor:
        """[B, O, C, h, w] sensory memory of `obj_ids`."""
        return torch.stack([self.sensory[obj] for obj in obj_ids], dim=1)

    def _object_memory(self, obj_ids: list[int]) -> torch.Tensor | None:
        if obj_ids[0] not in self.obj_v:
            return None  # only when the object transformer is disabled
        return torch.stack([self.obj_v[obj] for obj in obj_ids], dim=1)

    def _visual_values(self, obj_ids: list[int]) -> torch.Tensor:
        value = torch.stack([self.work_mem.value[obj] for obj in obj_ids], dim=1)
        if self.use_long_term and obj_ids[0] in self._long.value:
            lt_value = torch.stack([self._long.value[obj] for obj in obj_ids], dim=1)
            value = torch.cat([lt_value, value], dim=-1)
        return value

    # ------------------------------------------------------------------ reading
    def _affinity(self, bucket_id: int, query_key: torch.Tensor,
                  selection: torch.Tensor) -> torch.Tensor:
        """Top-k affinity of the query against one bucket; records usage for long-term memory."""
        work = self.work_mem
        if self.use_long_term and self._long.engaged(bucket_id):
            long_size = self._long.size(bucket_id)
            memory_key = torch.cat([self._long.key[bucket_id], work.key[bucket_id]], -1)
            shrinkage = torch.cat([self._long.shrinkage[bucket_id], work.shrinkage[bucket_id]],
                                  -1)
            similarity = get_similarity(memory_key, shrinkage, query_key, selection)
            affinity, usage = do_softmax(similarity, self._k(similarity), inplace=True,
                                         return_usage=True)
            work.update_bucket_usage(bucket_id, usage[:, long_size:])
            if self.count_long_term_usage:
                self._long.update_bucket_usage(bucket_id, usage[:, :long_size])
            return affinity
        similarity = get_similarity(work.key[bucket_id], work.shrinkage[bucket_id], query_key,
                                    selection)
        if self.use_long_term:
            affinity, usage = do_softmax(similarity, self._k(similarity), inplace=True,
                                         return_usage=True)
            work.update_bucket_usage(bucket_id, usage)
            return affinity
        return do_softmax(similarity, self._k(similarity), inplace=True)

    def _k(self, similarity: torch.Tensor) -> int:
        return min(self.top_k, similarity.shape[1])

    def read(self, pix_feat: torch.Tensor, query_key: torch.Tensor, selection: torch.Tensor,
             last_mask: torch.Tensor, network: Any) -> dict[int, torch.Tensor]:
        """Memory readout per object id: [B, C, h, w] after pixel fusion and the object transformer.

        Objects of different buckets never interact; within a bucket they are processed in
        chunks of `chunk_size` (the fuser's "others" and the transformer see only the chunk).
        """
        h, w = pix_feat.shape[-2:]
        bs = pix_feat.shape[0]
        assert self.CV is not None, "read before the first memory frame"
        query_key = query_key.flatten(start_dim=2)
        selection = selection.flatten(start_dim=2)
        readouts: dict[int, torch.Tensor] = {}
        for bucket_id, bucket in self.work_mem.buckets.items():
            affinity = self._affinity(bucket_id, query_key, selection)
            if self.chunk_size < 1:
                chunks = [bucket]
            else:
                chunks = [bucket[i:i + self.chunk_size]
                          for i in range(0, len(bucket), self.chunk_size)]
            for objects in chunks:
                sensory = self.get_sensory(objects)
                mask = self._mask_by_ids(last_mask, objects)
                values = self._visual_values(objects)
                visual = _readout(affinity, values).view(bs, len(objects), self.CV, h, w)
                pixel_readout = network.pixel_fusion(pix_feat, visual, sensory, mask)
                obj_mem = self._object_memory(objects)
                obj_mem = obj_mem.unsqueeze(2) if obj_mem is not None else None
                readout, _ = network.readout_query(pixel_readout, obj_mem)
                for i, obj in enumerate(objects):
                    readouts[obj] = readout[:, i]
        return readouts

    # ------------------------------------------------------------------ writing
    def add_memory(self, key: torch.Tensor, shrinkage: torch.Tensor, msk_value: torch.Tensor,
                   obj_value: torch.Tensor | None, objects: list[int],
                   selection: torch.Tensor | None = None, *, as_permanent: Permanence = "first") -> None:
        """Store one memory frame: key [B, Ck, h, w], values [B, O, Cv, h, w], summaries
        [B, O, Q, C+1]; then FIFO-evict or consolidate every bucket."""
        self.engaged = True
        if self.HW is None:
            h, w = msk_value.shape[-2:]
            self.HW = h * w
            self.max_work_tokens = self.max_mem_frames * self.HW
            if self.use_long_term:
                self.min_work_tokens = self.min_mem_frames * self.HW
        key = key.flatten(start_dim=2)
        shrinkage = shrinkage.flatten(start_dim=2)
        self.CK = key.shape[1]
        msk_value = msk_value.flatten(start_dim=3)
        self.CV = msk_value.shape[2]
        if selection is not None:
            selection = selection.flatten(start_dim=2)

        if obj_value is not None:
            for i, obj in enumerate(objects):
                if obj in self.obj_v:
                    # running sums; the last channel accumulates the area
                    acc = self.obj_v[obj][:, :, -1] + obj_value[:, i, :, -1]
                    summed = self.obj_v[obj][:, :, :-1] + obj_value[:, i, :, :-1]
                    self.obj_v[obj][:, :, :-1] = summed
                    self.obj_v[obj][:, :, -1] = acc
                else:
                    self.obj_v[obj] = obj_value[:, i]

        values = {obj: msk_value[:, i] for i, obj in enumerate(objects)}
        self.work_mem.add(key, values, shrinkage, selection, as_permanent=as_permanent)

        for bucket_id in list(self.work_mem.buckets):
            if self.use_long_term:
                if self.work_mem.non_perm_size(bucket_id) >= self.max_work_tokens:
                    if self._long.non_perm_size(bucket_id) >= (self.max_long_tokens -
                                                                  self.num_prototypes):
                        if not self.count_long_term_usage:  # the official code crashes here
                            raise BadInputError(
                                "long-term memory is full and long_term.count_usage is off, "
                                "so there is no usage to prune it by",
                                hint="set long_term.count_usage=true or raise "
                                     "long_term.max_num_tokens")
                        self._long.remove_obsolete_features(
                            bucket_id,
                            self.max_long_tokens - self.num_prototypes - self.buffer_tokens)
                    self._compress(bucket_id)
            else:
                self.work_mem.remove_old_memory(bucket_id, self.max_work_tokens)

    def _compress(self, bucket_id: int) -> None:
        """Consolidate the oldest temporary tokens into long-term prototypes."""
        key, shrinkage, selection, values, usage = self.work_mem.get_all_sliced(
            bucket_id, 0, -self.min_work_tokens)
        proto_key, proto_value, proto_shrinkage = self._consolidate(
            key, shrinkage, selection, values, usage)
        self.work_mem.sieve_by_range(bucket_id, 0, -self.min_work_tokens,
                                     min_size=self.min_work_tokens)
        self._long.add(proto_key, proto_value, proto_shrinkage, None, bucket_id=bucket_id)

    def _consolidate(self, key, shrinkage, selection, values, usage):
        proto_key, proto_sel = [], []
        for bi in range(key.shape[0]):
            _, idx = torch.topk(usage[bi], k=self.num_prototypes, dim=-1, sorted=True)
            idx = idx.flatten()
            proto_key.append(key[bi, :, idx])
            proto_sel.append(selection[bi, :, idx])
        proto_key = torch.stack(proto_key, 0)
        proto_sel = torch.stack(proto_sel, 0)
        # potentiation: every candidate votes for the prototypes with a full softmax
        similarity = get_similarity(key, shrinkage, proto_key, proto_sel)
        affinity = do_softmax(similarity)
        proto_value = {obj: _readout(affinity, v) for obj, v in values.items()}
        proto_shrinkage = _readout(affinity, shrinkage)
        return proto_key, proto_value, proto_shrinkage

    # ------------------------------------------------------------------ sensory memory
    def initialize_sensory_if_needed(self, sample_key: torch.Tensor, obj_ids: list[int]) -> None:
        for obj in obj_ids:
            if obj not in self.sensory:
                bs, _, h, w = sample_key.shape
                self.sensory[obj] = torch.zeros((bs, self.sensory_dim, h, w),
                                                device=sample_key.device)

    def update_sensory(self, sensory: torch.Tensor, obj_ids: list[int]) -> None:
        for i, obj in enumerate(obj_ids):
            self.sensory[obj] = sensory[:, i]

    # ------------------------------------------------------------------ introspection
    def num_tokens(self) -> int:
        """Key tokens held in working plus long-term memory (flat over a long video)."""
        total = self.work_mem.num_tokens()
        if self.long_mem is not None:
            total += self._long.num_tokens()
        return total
