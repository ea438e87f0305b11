"""Runner overhead per frame (with the `static` tracker, which costs ~nothing itself) and the
`flow` baseline's frames/s, on a synthetic dataset at a chosen resolution.

    python benchmarks/bench_run.py                      # 480 x 854, 4 videos x 40 frames
    python benchmarks/bench_run.py --height 1080 --width 1920 --frames 20
    python benchmarks/bench_run.py --pipeline --stub-ms 30   # does the runner keep a GPU busy?

`--pipeline`: a Cutie stand-in that prepares every frame exactly as Cutie/ReVOS do (decode,
ToTensor, the eval loader's antialiased resize to a 480 short side; `EvalFrames`, prefetched in
a background thread) and then sleeps `--stub-ms` as a GPU step would, at 480p and 720p. If the
runner overlaps the CPU work with the "GPU", frames/s is close to 1000 / stub-ms; the target
is >= 0.9 of it. "no_prefetch" prepares the frames in the model's thread; "no_frames" is a
stub that only sleeps: the best ratio the machine allows then (sleep overshoot under load, the
runner's records and PNGs). `--loader-threads N` prepares frames in N threads (Cutie: 1).
    python benchmarks/bench_run.py --pipeline --stages  # + where the runner's CPU goes, per stage
`--stages` adds a run per resolution that times the CPU of each pipeline stage in the thread
that runs it (the library functions are wrapped for that run only); "other" is the rest of
the process's CPU: thread hand-offs, records, and the helper threads of any OpenMP team.
    python benchmarks/bench_run.py --only-models          # s/frame of cutie-small and sam2.1-tiny

Model trackers (`--models`, default cutie-small,sam2.1-tiny) run with `--weights random` (their
speed does not depend on the values) at their official settings, on `--model-videos` x
`--model-frames` frames of `--model-height` x `--model-width` (240 x 432); model loading is
not counted. A model whose engine is not installed is reported as skipped.
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


class GpuStubTracker(Tracker):
    """Cutie's frame pipeline, then `ms` of sleep per frame in place of the network on a GPU."""

    name = "gpu-stub"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        import torch  # noqa: F401  (loaded with the model, as a real tracker does: not timed per video)

        from m3vos.trackers.cutie import frames  # noqa: F401

    def track(self, video):
        import torch

        from m3vos.trackers.cutie.frames import EvalFrames

        ms = float(self.config.get("ms", 30))
        with EvalFrames(video, 480, torch.device("cpu"), depth=int(self.config.get("depth", 3)),
                        workers=int(self.config.get("workers", 1))) as frames:
            for t in range(len(video.frames)):
                frames.image(t)
                time.sleep(ms / 1000)  # the GPU step; the host thread is free meanwhile
                yield TrackerOutput(frame=t, labels=video.masks[0])


class StageClock:
    """CPU seconds spent inside the pipeline's stages, each in the thread that runs it."""

    STAGES = (("m3vos.runner.video", "FrameSequence._load", "decode JPEG"),
              ("m3vos.trackers.cutie.eval_io", "image_to_tensor", "ToTensor"),
              ("m3vos.trackers.cutie.eval_io", "resize_image", "resize"),
              ("m3vos.runner.process", "restore_output", "restore_output"),
              ("m3vos.runner.video", "IdMap.to_dataset", "IdMap.to_dataset"),
              ("m3vos.runner.writer", "encode_mask", "PNG encode"))

    def __init__(self) -> None:
        import threading

        self.cpu = {label: 0.0 for _, _, label in self.STAGES}
        self._lock = threading.Lock()
        self._saved: list[tuple[object, str, object]] = []

    def __enter__(self) -> "StageClock":
        import importlib

        for module, attr, label in self.STAGES:
            owner: object = importlib.import_module(module)
            *path, name = attr.split(".")
            for part in path:
                owner = getattr(owner, part)
            fn = getattr(owner, name)
            self._saved.append((owner, name, fn))
            setattr(owner, name, self._timed(fn, label))
        return self

    def _timed(self, fn, label):
        def timed(*a, **kw):
            t = time.thread_time()
            try:
                return fn(*a, **kw)
            finally:
                with self._lock:
                    self.cpu[label] += time.thread_time() - t
        return timed

    def __exit__(self, *exc) -> None:
        for owner, name, fn in reversed(self._saved):
            setattr(owner, name, fn)


class SleepStubTracker(Tracker):
    """The same sleeps and outputs as `GpuStubTracker` without reading a frame: what the
    machine allows at that moment (sleep overshoot, the runner's own records and PNGs)."""

    name = "sleep-stub"

    def track(self, video):
        ms = float(self.config.get("ms", 30))
        for t in range(len(video.frames)):
            time.sleep(ms / 1000)
            yield TrackerOutput(frame=t, labels=video.masks[0])


def pipeline_check(args) -> dict:
    """frames/s of `GpuStubTracker` at 480p and 720p against 1000 / stub-ms."""
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.runner import run

    out: dict = {"stub_ms": args.stub_ms, "ideal_fps": round(1000 / args.stub_ms, 2), "cpus": os.cpu_count(),
                 "loader_threads": args.loader_threads,
                 "load_average": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="m3vos-bench-warm-") as tmp:  # one-time costs (lazy imports)
        data = make_synthetic_dataset(Path(tmp) / "data", videos=1, frames=3, height=120, width=160)
        run("__main__:GpuStubTracker", Path(tmp) / "out", data=data, config={"ms": 1}, workers=1, progress=False,
            log=False)
    for h, w in ((480, 854), (720, 1280)):
        with tempfile.TemporaryDirectory(prefix="m3vos-bench-pipe-") as tmp:
            data = make_synthetic_dataset(Path(tmp) / "data", videos=args.videos, frames=args.frames,
                                          height=h, width=w)
            # depth 0: frames prepared in the model's thread (the old behaviour), for comparison;
            # no frames: the sleeps alone, the best ratio the machine allows at that moment
            for label, depth in (("", 3), ("_no_prefetch", 0), ("_no_frames", -1)):
                cpu0 = time.process_time()
                summary = run("__main__:SleepStubTracker" if depth < 0 else "__main__:GpuStubTracker",
                              Path(tmp) / f"out{depth}", data=data,
                              config={"ms": args.stub_ms, "depth": depth, "workers": args.loader_threads},
                              workers=1, progress=False, log=False)   # one model = one GPU, in this process
                cpu = time.process_time() - cpu0
                assert summary.ok
                tracking = sum(r["seconds"] for r in summary.done)
                fps = summary.frames / tracking
                out[f"{h}p{label}"] = {"frames": summary.frames, "frames_per_s": round(fps, 2),
                                       "ratio_to_ideal": round(fps * args.stub_ms / 1000, 3),
                                       "cpu_ms_per_frame": round(1000 * cpu / summary.frames, 1)}
            if args.stages:  # a separate run: the wrappers cost a little themselves
                with StageClock() as clock:
                    cpu0 = time.process_time()
                    summary = run("__main__:GpuStubTracker", Path(tmp) / "out_stages", data=data,
                                  config={"ms": args.stub_ms, "workers": args.loader_threads},
                                  workers=1, progress=False, log=False)
                    cpu = time.process_time() - cpu0
                assert summary.ok
                per = {k: round(1000 * v / summary.frames, 1) for k, v in clock.cpu.items()}
                per["other"] = round(1000 * (cpu - sum(clock.cpu.values())) / summary.frames, 1)
                per["total"] = round(1000 * cpu / summary.frames, 1)
                out[f"{h}p_stages_cpu_ms_per_frame"] = per
    out["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


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
    ap.add_argument("--models", default="cutie-small,sam2.1-tiny",
                    help="model trackers to time with random weights (comma-separated; '' for none)")
    ap.add_argument("--model-videos", type=int, default=1)
    ap.add_argument("--model-frames", type=int, default=8)
    ap.add_argument("--model-height", type=int, default=240)
    ap.add_argument("--model-width", type=int, default=432)
    ap.add_argument("--only-models", action="store_true", help="skip the runner/baseline part")
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--pipeline", action="store_true",
                    help="only the pipeline check: a Cutie-like stub sleeping --stub-ms per frame, 480p and 720p")
    ap.add_argument("--stub-ms", type=float, default=30.0, help="GPU step time of the --pipeline stub")
    ap.add_argument("--loader-threads", type=int, default=1,
                    help="with --pipeline: threads preparing frames (EvalFrames workers; Cutie/ReVOS use 1)")
    ap.add_argument("--stages", action="store_true",
                    help="with --pipeline: one more run per resolution timing each stage's CPU")
    ap.add_argument("--sweep", action="store_true", help="also time `m3vos sweep` against plain runs")
    ap.add_argument("--sweep-only", action="store_true", help="time only the sweep overhead")
    ap.add_argument("--sweep-presets", default="ultrafast,fast", help="flow presets the sweep runs")
    args = ap.parse_args()
    if args.pipeline:
        res = pipeline_check(args)
        if args.json:
            print(json.dumps(res, indent=2))
        else:
            print(f"stub {args.stub_ms:g} ms/frame (ideal {res['ideal_fps']} frames/s), {res['cpus']} CPUs, "
                  f"load {res['load_average']}")
            for k in ("480p", "720p", "480p_no_prefetch", "720p_no_prefetch", "480p_no_frames", "720p_no_frames"):
                print(f"{k}: {res[k]['frames_per_s']} frames/s = {res[k]['ratio_to_ideal']:.3f} x ideal "
                      f"({res[k]['frames']} frames; runner CPU {res[k]['cpu_ms_per_frame']} ms/frame)")
            for k in ("480p", "720p"):
                if f"{k}_stages_cpu_ms_per_frame" in res:
                    print(f"{k} CPU ms/frame by stage: " +
                          ", ".join(f"{s} {v}" for s, v in res[f"{k}_stages_cpu_ms_per_frame"].items()))
            print(f"load average after: {res['load_average_after']}")
        return
    if args.only_models:
        models = _bench_models(args)
        print(json.dumps(models, indent=2) if args.json else _models_text(models, args))
        return

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
            summary = run(model, tmp_path / model.split(":")[-1], data=data, config=config, workers=1,
                          progress=False)
            wall = time.perf_counter() - t
            assert summary.ok and summary.frames == frames_total
            tracking = sum(r["seconds"] for r in summary.done)
            model = model.split(":")[-1]
            results[model] = {"wall_s": round(wall, 3), "tracking_s": round(tracking, 3),
                              "ms_per_frame": round(1000 * tracking / frames_total, 2),
                              "frames_per_s": round(frames_total / tracking, 1)}
            # resume cost: a second run that only verifies the records
            t = time.perf_counter()
            run(summary.model, tmp_path / model, data=data, config=config, workers=1, progress=False)
            results[model]["resume_check_s"] = round(time.perf_counter() - t, 3)

    results["models"] = _bench_models(args)
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
    if results["models"]:
        print(_models_text(results["models"], args))
    if "sweep" in results:
        w = results["sweep"]
        print(f"sweep of {w['points']} flow points: {w['sweep_s']} s against {w['plain_s']} s of plain runs + "
              f"scoring ({w['overhead_pct']:+.1f} %); rerunning the finished sweep: {w['rerun_finished_s']} s")


def _bench_models(args: argparse.Namespace) -> dict[str, object]:
    """Seconds per frame of model trackers (random weights, official settings, CPU unless a GPU
    is visible), tracking time only: what a researcher waits per frame once the model is loaded."""
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.errors import M3vosError
    from m3vos.runner import run

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    out: dict[str, object] = {}
    if not names:
        return out
    with tempfile.TemporaryDirectory(prefix="m3vos-bench-models-") as tmp:
        data = make_synthetic_dataset(Path(tmp) / "data", videos=args.model_videos,
                                      frames=args.model_frames, height=args.model_height,
                                      width=args.model_width)
        for name in names:
            t = time.perf_counter()
            try:
                summary = run(name, Path(tmp) / name, data=data, weights="random", progress=False)
            except M3vosError as exc:
                out[name] = {"skipped": exc.one_line()}
                continue
            tracking = sum(r["seconds"] for r in summary.done)
            out[name] = {"s_per_frame": round(tracking / max(summary.frames, 1), 3),
                         "frames": summary.frames, "wall_s": round(time.perf_counter() - t, 2)}
    import torch

    out["_setup"] = {"size": f"{args.model_height}x{args.model_width}", "torch_threads": torch.get_num_threads(),
                     "device": "cuda" if torch.cuda.is_available() else "cpu"}
    return out


def _models_text(models: dict[str, object], args: argparse.Namespace) -> str:
    lines = []
    setup = models.get("_setup", {})
    for name, r in models.items():
        if name == "_setup":
            continue
        if "skipped" in r:  # type: ignore[operator]
            lines.append(f"{name}: skipped ({r['skipped']})")  # type: ignore[index]
        else:
            lines.append(f"{name}: {r['s_per_frame']} s/frame over {r['frames']} frames "  # type: ignore[index]
                         f"({setup.get('size')}, {setup.get('device')}, {setup.get('torch_threads')} "  # type: ignore[union-attr]
                         f"threads, random weights)")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
