"""Which videos run where: longest first, and deterministic shards balanced by frame count."""

from __future__ import annotations

from m3vos.errors import BadInputError


def longest_first(names: list[str], frames: dict[str, int]) -> list[str]:
    """Long videos first so the last worker to finish is not stuck with the longest one."""
    return sorted(names, key=lambda n: (-frames.get(n, 0), n))


def shard(names: list[str], frames: dict[str, int], index: int, count: int) -> list[str]:
    """Shard `index` of `count`: greedy longest-processing-time assignment by frame count.

    It depends only on the names and frame counts, so every shard of a Slurm array computes the
    same split independently; together the shards cover every video exactly once.
    """
    if not 0 <= index < count:
        raise BadInputError(f"shard {index}/{count} out of range", hint="use 0 <= i < N")
    load = [0] * count
    mine = []
    for name in longest_first(names, frames):
        k = min(range(count), key=lambda j: (load[j], j))
        load[k] += max(frames.get(name, 0), 1)
        if k == index:
            mine.append(name)
    return mine
