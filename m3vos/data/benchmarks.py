"""Which benchmark a dataset root holds, and that benchmark's own protocol.

The layout says where files are; the benchmark says how to judge them. `--dataset NAME` picks
the benchmark; without it, YouTube-VOS and MOSE are recognised from their split folders and
every other layout is read as M3-VOS (which has been distributed in the HF, VOST-like and
DAVIS-style layouts), so the default scoring of an existing M3-VOS root never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from m3vos.errors import BadInputError


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    layouts: tuple[str, ...]     # layouts this benchmark is distributed in
    protocol: str                # the m3vos scoring protocol that reproduces its evaluator
    late_objects: bool           # objects are given at their first appearance, not only at frame 0
    protocol_note: str
    groups: bool = False         # has phase-transition labels (per-group breakdowns make sense)


BENCHMARKS: dict[str, Benchmark] = {b.name: b for b in (
    Benchmark("m3vos", "M3-VOS", ("hf", "vost", "davis"), "m3vos", False,
              "official M3-VOS evaluator: J, J_last, J_cc (F and J&F as an m3vos extension)", groups=True),
    Benchmark("davis2017", "DAVIS 2017 (semi-supervised, 480p)", ("davis",), "davis", False,
              "davis2017-evaluation: J&F, J and F Mean/Recall/Decay"),
    Benchmark("vost", "VOST", ("vost",), "m3vos", False,
              "VOST's evaluator (a davis2017 fork): J and J_last; m3vos also prints J_cc, an M3-VOS addition"),
    Benchmark("ytvos", "YouTube-VOS 2019", ("ytvos", "mose"), "davis", True,
              "J and F over the annotated frames (every 5th), objects given at their first appearance; "
              "the official seen/unseen split is scored on the server only (valid GT is withheld)"),
    Benchmark("mose", "MOSE", ("mose", "ytvos"), "davis", False,
              "MOSEv1: J, F and J&F as davis2017 (valid GT is withheld: only the first frame is given)"),
)}

NAMES = tuple(BENCHMARKS)
#: Layout -> the benchmark assumed when `--dataset` is not given.
DETECTED = {"hf": "m3vos", "vost": "m3vos", "davis": "m3vos", "ytvos": "ytvos", "mose": "mose"}


def resolve_benchmark(layout: str, requested: str | None = None) -> Benchmark:
    """The benchmark for a root of `layout`; `requested` (from `--dataset`) must fit the layout."""
    if requested is None:
        return BENCHMARKS[DETECTED.get(layout, "m3vos")]
    bench = BENCHMARKS.get(requested)
    if bench is None:
        raise BadInputError(f"unknown --dataset {requested!r}", hint=f"use one of {', '.join(NAMES)}")
    if layout not in bench.layouts:
        raise BadInputError(f"--dataset {requested}: the root is in the {layout!r} layout, but {bench.title} "
                            f"comes in {' / '.join(bench.layouts)}",
                            hint="check the root, or drop --dataset to use the detected layout (docs/data.md)")
    return bench


def check_scorable(dataset: Any) -> None:
    """Refuse to score a split whose ground truth is withheld (YouTube-VOS/MOSE valid and test,
    DAVIS 2017 test-dev).

    Those splits hold only the masks that start each object, so there would be nothing to score;
    the official numbers come from the benchmarks' servers.
    """
    bench = dataset.benchmark
    if bench.name not in ("ytvos", "mose", "davis2017") or not dataset.video_names:
        return
    sample = [dataset.video(n) for n in dataset.video_names[:3]]
    if all(len(v.mask_paths) <= (max(1, len(v.object_ids)) if bench.late_objects else 1) for v in sample):
        raise BadInputError(f"{bench.title} split {dataset.split!r} holds only the masks that start each object "
                            f"(its ground truth is withheld), so there is nothing to score",
                            path=dataset.annotations_dir,
                            hint="score a split with full annotations (e.g. --split train), or submit to the "
                                 "benchmark's server")

