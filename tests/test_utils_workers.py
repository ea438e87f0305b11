"""The one default-worker rule (`m3vos.utils.workers`) and the process-pool map."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from m3vos.errors import BadInputError
from m3vos.utils.pool import pool_map
from m3vos.utils.workers import default_workers


def test_default_follows_the_affinity_mask_not_the_machine() -> None:
    # A batch job pinned to one CPU must not start one worker per core of the machine.
    code = ("import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
            "from m3vos.utils.workers import default_workers; print(default_workers(), default_workers(50))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["1", "1"]


def test_default_is_capped_by_items_and_explicit_values_pass() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert default_workers() == cpus
    assert default_workers(1) == 1
    assert default_workers(0) == 1          # nothing to do still means one worker, never zero
    assert default_workers(1, 7) == 7       # an explicit value is the user's choice
    for bad in (0, -2, True, 1.5):
        with pytest.raises(BadInputError, match="--workers must be"):
            default_workers(3, bad)  # type: ignore[arg-type]


def _square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@pytest.mark.parametrize("workers", [1, 2])
def test_pool_map_keeps_order_and_uses_processes(workers: int) -> None:
    started = []
    out = list(pool_map(_square, list(range(7)), workers=workers, on_start=lambda: started.append(1)))
    assert [v for v, _ in out] == [x * x for x in range(7)]
    assert started == [1]
    pids = {pid for _, pid in out}
    assert (pids == {os.getpid()}) == (workers == 1)
    unordered = list(pool_map(_square, list(range(7)), workers=workers, ordered=False))
    assert sorted(v for v, _ in unordered) == [x * x for x in range(7)]
