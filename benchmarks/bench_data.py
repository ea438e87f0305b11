"""Data benchmarks: download throughput from a local HTTP server, and `verify` time per 10,000 frames.

Run: python benchmarks/bench_data.py [--mb 200] [--videos 40 --frames 250 --size 480x854]

The download figure is m3vos' own `download_file` (urllib, 1 MiB chunks, sha256 checked after)
against a threaded `http.server` on 127.0.0.1, so it measures our overhead, not a network.
The verify figure decodes every mask, reads every frame header and JPEG end marker, and
hashes every file against the manifest (plus a `--quick` run), on a synthetic release at the
real M3-VOS resolution (480 x 854) unless told otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def bench_download(mb: int, tmp: Path) -> dict[str, float]:
    from helpers_data import FileServerState, serve_files  # the same server the tests use

    from m3vos.utils.download import download_file

    body = os.urandom(mb << 20)
    digest = hashlib.sha256(body).hexdigest()
    out: dict[str, float] = {}
    with serve_files(FileServerState(files={"/blob": body})) as (url, st):
        t0 = time.perf_counter()
        download_file(f"{url}/blob", tmp / "a.bin", sha256=digest, progress=False)
        out["plain_MBps"] = mb / (time.perf_counter() - t0)
        st.cut_after["/blob"] = len(body) // 3
        st.cuts_left["/blob"] = 2
        t0 = time.perf_counter()
        download_file(f"{url}/blob", tmp / "b.bin", sha256=digest, progress=False)
        out["two_cuts_MBps"] = mb / (time.perf_counter() - t0)   # includes the 0.25 s + 0.5 s backoff
    return out


def bench_verify(videos: int, frames: int, h: int, w: int, tmp: Path) -> dict[str, float]:
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.data.verify import verify_dataset

    t0 = time.perf_counter()
    root = make_synthetic_dataset(tmp / "ds", videos=videos, frames=frames, height=h, width=w, seed=0)
    t_make = time.perf_counter() - t0
    n = videos * frames
    t0, c0 = time.perf_counter(), time.process_time()
    rep = verify_dataset(root, progress=False)
    t_full, c_full = time.perf_counter() - t0, time.process_time() - c0
    assert rep.ok, [p.line() for p in rep.problems[:3]]
    t0, c0 = time.perf_counter(), time.process_time()
    verify_dataset(root, quick=True, progress=False)
    t_quick, c_quick = time.perf_counter() - t0, time.process_time() - c0
    return {"frames": n, "synth_s": t_make, "full_s": t_full, "quick_s": t_quick,
            "full_s_per_10k": t_full / n * 10_000, "quick_s_per_10k": t_quick / n * 10_000,
            "full_cpu_per_10k": c_full / n * 10_000, "quick_cpu_per_10k": c_quick / n * 10_000}


def bench_synth(tmp: Path, repeats: int = 3) -> float:
    """Best of `repeats` for the default synthetic set (6 videos x 24 frames, 120 x 160)."""
    from m3vos.data.synth import make_synthetic_dataset

    best = float("inf")
    for i in range(repeats):
        t0 = time.perf_counter()
        make_synthetic_dataset(tmp / f"s{i}")
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=200, help="download size in MiB")
    ap.add_argument("--videos", type=int, default=10)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--size", default="480x854", help="HxW of the synthetic frames")
    args = ap.parse_args()
    h, w = map(int, args.size.split("x"))
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    with tempfile.TemporaryDirectory() as d:
        dl = bench_download(args.mb, Path(d))
        print(f"download {args.mb} MiB from 127.0.0.1: {dl['plain_MBps']:.0f} MiB/s; "
              f"with 2 cut connections resumed by Range: {dl['two_cuts_MBps']:.0f} MiB/s")
    with tempfile.TemporaryDirectory() as d:
        print(f"synth default set (6 videos x 24 frames, 120x160): {bench_synth(Path(d)):.2f} s (best of 3)")
    with tempfile.TemporaryDirectory() as d:
        v = bench_verify(args.videos, args.frames, h, w, Path(d))
        print(f"verify {v['frames']} frames of {h}x{w} ({args.videos} videos; synth took {v['synth_s']:.1f} s): "
              f"full {v['full_s']:.2f} s = {v['full_s_per_10k']:.1f} s per 10,000 frames; "
              f"--quick {v['quick_s']:.2f} s = {v['quick_s_per_10k']:.1f} s per 10,000 frames")
        print(f"  CPU time (all threads; independent of other load): full {v['full_cpu_per_10k']:.1f} s, "
              f"--quick {v['quick_cpu_per_10k']:.1f} s per 10,000 frames")


if __name__ == "__main__":
    main()
