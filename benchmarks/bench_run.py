"""Runner overhead per frame (with the `static` tracker, which costs ~nothing itself) and the
`flow` baseline's frames/s, on a synthetic dataset at a chosen resolution.

    python benchmarks/bench_run.py                      # 480 x 854, 4 videos x 40 frames
    python benchmarks/bench_run.py --height 1080 --width 1920 --frames 20
    python benchmarks/bench_run.py --sweep-only         # `m3vos sweep` against the same plain runs

What the overhead covers: JPEG decoding, resizing to the tracker's input size (none for static),
id remapping, PNG encoding with the GT palette, the atomic folder rename and the done record.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


from m3vos.trackers.base import Tracker, TrackerOutput  # noqa: E402


class BusyTracker(Tracker):
    """Stands in for a GPU model: reads each frame, then waits `ms` as if the GPU were busy.
    What the runner adds on top of `ms` is the overhead a real model pays."""

    name = "busy"

    def track(self, video):
        ms = float(self.config.get("ms", 20))
        for t in range(len(video.frames)):
            video.frames[t]
            time.sleep(ms / 1000)
            yield TrackerOutput(frame=t, labels=video.masks[0])


def _time_per_frame(fn, n: int) -> float:
    t = time.perf_counter()
    for i in range(n):
        fn(i)
    return (time.perf_counter() - t) / n


def sweep_overhead(data: Path, tmp_path: Path, presets: list[str]) -> dict[str, object]:
    """Wall time of a sweep over flow presets against the same points as plain `run()` + scoring.

    The sweep goes first, so the plain runs get the warmer page cache: the overhead is not
    flattered. What the sweep adds: point markers, the video-bootstrap CIs and paired
    differences, four table files and the plot (matplotlib).
    """
    from m3vos.data.dataset import open_dataset
    from m3vos.metrics import write_results
    from m3vos.metrics.engine import score_predictions
    from m3vos.runner import run
    from m3vos.sweep import run_sweep
    from m3vos.sweep.plan import load_spec

    spec = load_spec(None, model="flow", grid=[f"preset={','.join(presets)}"], base={}, reference=None)
    t = time.perf_counter()
    res = run_sweep(spec, tmp_path / "sweep", data=data, progress=False)
    sweep_s = time.perf_counter() - t
    assert len(res.ran) == len(presets)
    t = time.perf_counter()
    ds = open_dataset(data)
    for preset in presets:
        out = tmp_path / "plain" / preset
        run("flow", out, data=data, config={"preset": preset}, progress=False)
        write_results(score_predictions(out, ds, protocol="m3vos", workers=1), out, "val")
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    run_sweep(spec, tmp_path / "sweep", data=data, progress=False)
    rerun_s = time.perf_counter() - t
    return {"points": len(presets), "plain_s": round(plain_s, 3), "sweep_s": round(sweep_s, 3),
            "overhead_pct": round(100 * (sweep_s - plain_s) / plain_s, 2), "rerun_finished_s": round(rerun_s, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--width", type=int, default=854)
    ap.add_argument("--preset", default="medium", help="flow preset (ultrafast | fast | medium)")
    ap.add_argument("--busy-ms", type=float, default=20.0,
                    help="per-frame time of the emulated model (what a GPU tracker spends)")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--sweep", action="store_true", help="also time `m3vos sweep` against plain runs")
    ap.add_argument("--sweep-only", action="store_true", help="time only the sweep overhead")
    ap.add_argument("--sweep-presets", default="ultrafast,fast", help="flow presets the sweep runs")
    args = ap.parse_args()

    from m3vos.data.masks import encode_mask, read_mask
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.runner import run

    with tempfile.TemporaryDirectory(prefix="m3vos-bench-run-") as tmp:
        tmp_path = Path(tmp)
        data = make_synthetic_dataset(tmp_path / "data", videos=args.videos, frames=args.frames,
                                      height=args.height, width=args.width)
        frames_total = args.videos * args.frames
        results: dict[str, object] = {
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
            "resolution": f"{args.height}x{args.width}", "videos": args.videos, "frames": frames_total,
        }
        if args.sweep or args.sweep_only:
            results["sweep"] = sweep_overhead(data, tmp_path, args.sweep_presets.split(","))
        if args.sweep_only:
            print(json.dumps(results, indent=2))
            return
        # The parts: decoding one JPEG and encoding one palette PNG.
        from m3vos.data.dataset import open_dataset

        video = next(iter(open_dataset(data)))
        jpgs, pngs = video.frame_paths, video.mask_paths
        results["jpeg_decode_ms"] = 1000 * _time_per_frame(
            lambda i: np.asarray(Image.open(jpgs[i % len(jpgs)]).convert("RGB")), 20)
        ids = read_mask(pngs[-1])
        results["png_encode_ms"] = 1000 * _time_per_frame(lambda i: encode_mask(ids), 20)

        for model, config in (("static", {}), ("flow", {"preset": args.preset}),
                              ("__main__:BusyTracker", {"ms": args.busy_ms})):
            t = time.perf_counter()
            summary = run(model, tmp_path / model.split(":")[-1], data=data, config=config, progress=False)
            wall = time.perf_counter() - t
            assert summary.ok and summary.frames == frames_total
            tracking = sum(r["seconds"] for r in summary.done)
            model = model.split(":")[-1]
            results[model] = {"wall_s": round(wall, 3), "tracking_s": round(tracking, 3),
                              "ms_per_frame": round(1000 * tracking / frames_total, 2),
                              "frames_per_s": round(frames_total / tracking, 1)}
            # resume cost: a second run that only verifies the records
            t = time.perf_counter()
            run(summary.model, tmp_path / model, data=data, config=config, progress=False)
            results[model]["resume_check_s"] = round(time.perf_counter() - t, 3)

    results["jpeg_decode_ms"] = round(results["jpeg_decode_ms"], 2)  # type: ignore[arg-type]
    results["png_encode_ms"] = round(results["png_encode_ms"], 2)  # type: ignore[arg-type]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    s, f = results["static"], results["flow"]
    print(f"{results['resolution']}, {results['videos']} videos, {results['frames']} frames, {results['machine']}")
    print(f"runner overhead (static): {s['ms_per_frame']} ms/frame ({s['frames_per_s']} frames/s); "
          f"of which JPEG decode {results['jpeg_decode_ms']} ms, PNG encode {results['png_encode_ms']} ms")
    print(f"flow ({args.preset}): {f['ms_per_frame']} ms/frame ({f['frames_per_s']} frames/s)")
    b = results["BusyTracker"]
    print(f"overhead beside a {args.busy_ms:g} ms/frame model (reads frames; PNGs written in the background): "
          f"{b['ms_per_frame'] - args.busy_ms:.2f} ms/frame")
    print(f"resume check of a finished run: static {s['resume_check_s']} s, flow {f['resume_check_s']} s")
    if "sweep" in results:
        w = results["sweep"]
        print(f"sweep of {w['points']} flow points: {w['sweep_s']} s against {w['plain_s']} s of plain runs + "
              f"scoring ({w['overhead_pct']:+.1f} %); rerunning the finished sweep: {w['rerun_finished_s']} s")


if __name__ == "__main__":
    main()
