"""Key/value token storage shared by Cutie's working and long-term memory.

Objects that first appear in the same memory write share a *bucket*: one key tensor (plus
shrinkage, and selection/usage when long-term memory is on) and one value tensor per object, all
laid out along the last (token) axis. Each bucket's tokens are a permanent prefix (the frame the
bucket was created on) followed by temporary tokens in time order. Selection and the usage
counters only cover the temporary part.

Tensor shapes: keys [B, Ck, N], shrinkage [B, 1, N], selection [B, Ck, N], values per object
[B, Cv, N], usage/life [B, N], where B is 1 (2 with flip augmentation).
"""

from __future__ import annotations

from typing import Literal

import torch

Permanence = Literal["no", "first", "all"]


def _cat_last(store: dict, key: int, value: torch.Tensor, *, front: bool = False) -> None:
    if key in store:
        parts = [value, store[key]] if front else [store[key], value]
        store[key] = torch.cat(parts, -1)
    else:
        store[key] = value


def _drop_range(t: torch.Tensor, start: int, end: int) -> torch.Tensor:
    """t without the token range [start, end) of its last axis (end may be a negative index)."""
    return torch.cat([t[..., :start], t[..., end:]], -1)


class KeyValueMemoryStore:
    """Buckets of key/value tokens with a permanent prefix; optional selection and usage."""

    def __init__(self, *, save_selection: bool = False, save_usage: bool = False) -> None:
        self.save_selection = save_selection
        self.save_usage = save_usage
        self.next_bucket_id = 0              # never reused, even if buckets are removed
        self.buckets: dict[int, list[int]] = {}
        self.key: dict[int, torch.Tensor] = {}
        self.shrinkage: dict[int, torch.Tensor] = {}
        self.selection: dict[int, torch.Tensor] = {}   # temporary part only
        self.value: dict[int, torch.Tensor] = {}       # indexed by object id
        self.perm_end: dict[int, int] = {}
        self.use_count: dict[int, torch.Tensor] = {}   # temporary part only
        self.life_count: dict[int, torch.Tensor] = {}  # temporary part only

    # ------------------------------------------------------------------ writing
    def add(self, key: torch.Tensor, values: dict[int, torch.Tensor], shrinkage: torch.Tensor,
            selection: torch.Tensor | None, *, bucket_id: int = -1,
            as_permanent: Permanence = "no") -> None:
        """Append one frame's tokens.

        `bucket_id` >= 0 forces every value into that bucket (long-term memory mirrors the
        working memory's bucket ids). Otherwise known objects go to their bucket and unknown
        ones together into one new bucket. `as_permanent`: "first" makes the tokens permanent
        only in a bucket that has no permanent part yet; "all" always (prepended).
        """
        bs, n = key.shape[0], key.shape[-1]
        front = as_permanent == "all"
        touched: list[int] = []
        if bucket_id >= 0:
            touched = [bucket_id]
            exists = bucket_id in self.buckets
            for obj, value in values.items():
                if exists:
                    _cat_last(self.value, obj, value, front=front)
                else:
                    self.value[obj] = value
            self.buckets[bucket_id] = list(values)
        else:
            new_bucket = None
            for obj, value in values.items():
                if obj in self.value:
                    _cat_last(self.value, obj, value, front=front)
                    owner = self.bucket_of(obj)
                    if owner not in touched:
                        touched.append(owner)
                else:
                    self.value[obj] = value
                    if new_bucket is None:
                        new_bucket = self.next_bucket_id
                        self.next_bucket_id += 1
                        self.buckets[new_bucket] = []
                        touched.append(new_bucket)
                    self.buckets[new_bucket].append(obj)

        permanent_here: dict[int, bool] = {}
        for b in touched:
            self.perm_end.setdefault(b, 0)
            if as_permanent == "all":
                self.perm_end[b] += n
                permanent_here[b] = True
            elif as_permanent == "first" and self.perm_end[b] == 0:
                self.perm_end[b] = n
                permanent_here[b] = True
            else:
                permanent_here[b] = False

        if self.save_usage and as_permanent != "all":
            new_use = torch.zeros((bs, n), device=key.device, dtype=torch.float32)
            new_life = torch.zeros((bs, n), device=key.device, dtype=torch.float32) + 1e-7
        for b in self.buckets:  # bucket order, as the official code iterates
            if b not in permanent_here:
                continue
            perm = permanent_here[b]
            _cat_last(self.key, b, key, front=perm)
            _cat_last(self.shrinkage, b, shrinkage, front=perm)
            if not perm:
                if self.save_selection:
                    assert selection is not None, "a store that keeps the selection is given one"
                    _cat_last(self.selection, b, selection)
                if self.save_usage:
                    _cat_last(self.use_count, b, new_use)
                    _cat_last(self.life_count, b, new_life)

    def update_bucket_usage(self, bucket_id: int, usage: torch.Tensor) -> None:
        """Add one read's usage ([B, N] over the bucket's tokens) to the temporary counters."""
        if not self.save_usage:
            return
        usage = usage[:, self.perm_end.get(bucket_id, 0):]
        if usage.shape[-1] == 0:
            return
        self.use_count[bucket_id] += usage.view_as(self.use_count[bucket_id])
        self.life_count[bucket_id] += 1

    # ------------------------------------------------------------------ removing
    def sieve_by_range(self, bucket_id: int, start: int, end: int, min_size: int) -> None:
        """Drop temporary tokens [start, end) (end <= 0 counts from the end; 0 means "to the
        end"), unless the bucket holds no more than `min_size` temporary tokens."""
        assert start >= 0 and end <= 0
        perm = self.perm_end.get(bucket_id, 0)
        if self.key[bucket_id].shape[-1] - perm <= min_size:
            return
        if end == 0:
            end = self.key[bucket_id].shape[-1] + 1
        lo = start + perm
        self.key[bucket_id] = _drop_range(self.key[bucket_id], lo, end)
        self.shrinkage[bucket_id] = _drop_range(self.shrinkage[bucket_id], lo, end)
        if self.save_selection:
            self.selection[bucket_id] = _drop_range(self.selection[bucket_id], lo - perm, end)
        if self.save_usage:
            self.use_count[bucket_id] = _drop_range(self.use_count[bucket_id], lo - perm, end)
            self.life_count[bucket_id] = _drop_range(self.life_count[bucket_id], lo - perm, end)
        for obj in self.buckets[bucket_id]:
            self.value[obj] = _drop_range(self.value[obj], lo, end)

    def remove_old_memory(self, bucket_id: int, max_len: int) -> None:
        """FIFO: keep the permanent prefix and the newest `max_len` temporary tokens."""
        self.sieve_by_range(bucket_id, 0, -max_len, max_len)

    def remove_obsolete_features(self, bucket_id: int, max_size: int) -> None:
        """Keep the `max_size` most used tokens (long-term memory, which has no permanent part)."""
        assert self.perm_end.get(bucket_id, 0) == 0
        usage = self.get_usage(bucket_id)
        keep = [torch.topk(usage[bi], k=max_size)[1].flatten() for bi in range(usage.shape[0])]

        def pick(t: torch.Tensor) -> torch.Tensor:
            return torch.stack([t[bi, ..., idx] for bi, idx in enumerate(keep)], 0)

        self.key[bucket_id] = pick(self.key[bucket_id])
        self.shrinkage[bucket_id] = pick(self.shrinkage[bucket_id])
        if self.save_selection:
            self.selection[bucket_id] = pick(self.selection[bucket_id])
        for obj in self.buckets[bucket_id]:
            self.value[obj] = pick(self.value[obj])
        self.use_count[bucket_id] = pick(self.use_count[bucket_id])
        self.life_count[bucket_id] = pick(self.life_count[bucket_id])

    # ------------------------------------------------------------------ reading
    def get_usage(self, bucket_id: int) -> torch.Tensor:
        """Usage normalised by how often each token could have been used."""
        if not self.save_usage:
            raise RuntimeError("this memory store does not count usage")
        return self.use_count[bucket_id] / self.life_count[bucket_id]

    def get_all_sliced(self, bucket_id: int, start: int, end: int):
        """(key, shrinkage, selection, values, usage) of temporary tokens [start, end)."""
        assert start >= 0 and end <= 0
        perm = self.perm_end.get(bucket_id, 0)
        lo = start + perm
        hi = None if end == 0 else end
        k = self.key[bucket_id][:, :, lo:hi]
        sk = self.shrinkage[bucket_id][:, :, lo:hi]
        ek = self.selection[bucket_id][:, :, lo - perm:hi] if self.save_selection else None
        values = {obj: self.value[obj][:, :, lo:hi] for obj in self.buckets[bucket_id]}
        usage = self.get_usage(bucket_id)[:, lo - perm:hi] if self.save_usage else None
        return k, sk, ek, values, usage

    def bucket_of(self, obj: int) -> int:
        owners = [b for b, objs in self.buckets.items() if obj in objs]
        assert len(owners) == 1, f"object {obj} is in {len(owners)} buckets"
        return owners[0]

    def size(self, bucket_id: int) -> int:
        return self.key[bucket_id].shape[-1] if bucket_id in self.key else 0

    def perm_size(self, bucket_id: int) -> int:
        return self.perm_end.get(bucket_id, 0)

    def non_perm_size(self, bucket_id: int) -> int:
        return self.size(bucket_id) - self.perm_size(bucket_id)

    def engaged(self, bucket_id: int | None = None) -> bool:
        return len(self.buckets) > 0 if bucket_id is None else bucket_id in self.buckets

    def num_tokens(self) -> int:
        """Total stored key tokens over all buckets (for memory-growth checks)."""
        return sum(k.shape[-1] for k in self.key.values())

    def __contains__(self, obj: int) -> bool:
        return obj in self.value
