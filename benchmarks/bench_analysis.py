"""How much the analysis adds to scoring: `m3vos score` with and without `--breakdown all`
(cold and warm attribute cache), `m3vos report`, `m3vos leaderboard` and `m3vos entropy-report`;
then the entropy report's CPU time per frame, fast LBP against the plain skimage path.

Run: python benchmarks/bench_analysis.py [--videos 20] [--frames 60] [--height 240] [--width 320]
     python benchmarks/bench_analysis.py --entropy-only [--entropy-videos 4 --entropy-frames 12]
and what validating results.json (the results contract) costs the leaderboard.

Run: python benchmarks/bench_analysis.py [--videos 20] [--frames 60] [--height 240] [--width 320]
     python benchmarks/bench_analysis.py --validation [--runs 20] [--objects 500] [--repeat 5]

`--validation` writes RUNS results.json files of OBJECTS objects (11 m3vos metrics each, 60
per-frame values of J, F and J_cc, as `m3vos score` writes them) and times the whole
`build_leaderboard` call in-process, with the contract's validation as shipped and with it
replaced by a no-op (parse only), best of REPEAT; the difference is what validation adds.

The command figures are the wall time of a whole command from process start, on a synthetic set
written by `m3vos.data.synth` into a temporary folder; the cache is a fresh temporary
`M3VOS_CACHE`. The entropy figures are CPU seconds (`time.process_time`, so other jobs on a
shared machine do not inflate them) of `compute_entropy(..., workers=1)` in this process, on a
480 x 854 synthetic set, with the default fast LBP counts and inside `lbp_backend("skimage")`
(skimage's `local_binary_pattern` at every pixel, as the official script runs it); the two
reports are checked to be identical.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def timed(args: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "m3vos_cli", *args], env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t
    if proc.returncode not in (0, 1):
        raise SystemExit(f"`m3vos {' '.join(args)}` failed:\n{proc.stderr}")
    return dt


def entropy_cpu(root: Path, videos: int, frames: int, height: int, width: int) -> None:
    """CPU seconds per frame of the entropy report, fast vs skimage, both definitions."""
    from m3vos.analysis import entropy as E
    from m3vos.analysis.entropy_report import compute_entropy
    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset

    data = make_synthetic_dataset(root, videos=videos, frames=frames, height=height, width=width)
    ds = open_dataset(data)
    n_frames = sum(len(v.mask_paths) for v in ds)
    print(f"\nentropy report, {videos} videos x {frames} frames of {height}x{width} ({n_frames} frames), "
          "CPU seconds in this process (workers=1, every frame)")
    print("| definition | fast, CPU ms/frame | skimage path, CPU ms/frame | speed-up | reports identical |")
    print("|---|---:|---:|---:|---|")
    for definition in ("official", "lbp"):
        def run(definition: str = definition):
            c = time.process_time()
            rep = compute_entropy(open_dataset(data), definition=definition, progress=False, workers=1)
            return time.process_time() - c, rep
        compute_entropy(open_dataset(data), definition=definition, progress=False, workers=1,
                        videos=[ds.video_names[0]])          # warm imports
        fast_s, fast = min((run() for _ in range(2)), key=lambda x: x[0])
        with E.lbp_backend("skimage"):
            slow_s, slow = run()
        same = fast.per_video.equals(slow.per_video) and fast.per_object.equals(slow.per_object)
        print(f"| {definition} | {fast_s / n_frames * 1e3:.2f} | {slow_s / n_frames * 1e3:.1f} | "
              f"{slow_s / fast_s:.0f}x | {'yes' if same else 'NO'} |")
def validation_overhead(n_runs: int, n_objects: int, repeat: int, frames: int = 60) -> None:
    import json

    import numpy as np

    from m3vos.analysis.leaderboard import build_leaderboard
    from m3vos.metrics import contract
    from m3vos.metrics.protocols import metric_names

    rng = np.random.default_rng(0)
    names = metric_names("m3vos")
    with tempfile.TemporaryDirectory() as tmp:
        folders = []
        for r in range(n_runs):
            per_object, per_frame = {}, {}
            for i in range(n_objects):
                key = f"{i // 2:04d}_video_{i // 2}_{i % 2 + 1}"
                vals = {m: float(rng.uniform(-0.2, 0.3) if m.endswith("Decay") else rng.uniform(0, 1))
                        for m in names}
                per_object[key] = {"video": key.rsplit("_", 1)[0], "object_id": i % 2 + 1, "n_frames": frames, **vals}
                per_frame[key] = {"frames": [f"{t:05d}" for t in range(frames)],
                                  **{k: rng.uniform(0, 1, frames).round(6).tolist() for k in ("J", "F", "J_cc")}}
            doc = {"schema": contract.SCHEMA, "protocol": "m3vos", "options": {}, "dataset": {},
                   "global": {m: float(np.mean([o[m] for o in per_object.values()])) for m in names},
                   "per_object": per_object, "per_sequence": {}, "per_frame": per_frame, "warnings": []}
            folder = Path(tmp) / f"run{r:02d}"
            folder.mkdir()
            (folder / "results.json").write_text(json.dumps(doc, indent=1))
            folders.append(folder)
        size = sum((f / "results.json").stat().st_size for f in folders) / 1e6

        def once() -> float:
            t = time.perf_counter()
            build_leaderboard(folders, metric="J-Mean")
            return time.perf_counter() - t

        # interleaved, so that load from other processes and cache state hit both variants alike
        shipped = contract.validate_document
        runs_with, runs_without = [], []
        for _ in range(repeat):
            runs_with.append(once())
            contract.validate_document = lambda doc, file: contract.metric_names(doc)    # parse only
            try:
                runs_without.append(once())
            finally:
                contract.validate_document = shipped
        with_validation, without = min(runs_with), min(runs_without)
        docs = [json.loads((f / "results.json").read_text(), parse_constant=contract._NonFinite) for f in folders]
        t = time.perf_counter()
        for _ in range(repeat):
            for f, d in zip(folders, docs):
                shipped(d, f / "results.json")
        validate_only = (time.perf_counter() - t) / repeat
    print(f"leaderboard on {n_runs} runs x {n_objects} objects ({size:.1f} MB of results.json, 2000 resamples), "
          f"best of {repeat}:")
    print("| variant | wall time (s) |\n|---|---:|")
    print(f"| build_leaderboard, validation as shipped | {with_validation:.3f} |")
    print(f"| build_leaderboard, validation replaced by a no-op | {without:.3f} |")
    print(f"| validate_document alone, all {n_runs} documents | {validate_only:.3f} |")
    print(f"\nvalidation adds {(with_validation - without) / without * 100:.1f}% "
          f"(validate_document alone: {validate_only / without * 100:.1f}% of the unvalidated leaderboard)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--validation", action="store_true", help="only the results-validation overhead")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--objects", type=int, default=500)
    ap.add_argument("--videos", type=int, default=20)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--entropy-only", action="store_true", help="only the entropy CPU comparison")
    ap.add_argument("--entropy-videos", type=int, default=4)
    ap.add_argument("--entropy-frames", type=int, default=12)
    a = ap.parse_args()
    if a.entropy_only:
        with tempfile.TemporaryDirectory() as tmp:
            entropy_cpu(Path(tmp) / "ds480", a.entropy_videos, a.entropy_frames, 480, 854)
        return
    if a.validation:
        validation_overhead(a.runs, a.objects, max(a.repeat, 1))
        return

    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset
    from helpers_analysis import write_predictions

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ, M3VOS_CACHE=str(tmp / "cache"), NO_COLOR="1")
        data = make_synthetic_dataset(tmp / "ds", videos=a.videos, frames=a.frames, height=a.height, width=a.width)
        ds = open_dataset(data)
        for kind in ("static", "shift"):
            write_predictions(ds, tmp / kind, kind)
        n_frames = sum(len(v.mask_paths) for v in ds)
        print(f"synthetic set: {a.videos} videos, {n_frames} frames of {a.height}x{a.width}, "
              f"{len(ds.objects())} objects; {os.cpu_count()} CPUs")
        base = ["score", str(tmp / "shift"), "--data", str(data)]
        rows = []
        plain = min(timed(base, env) for _ in range(a.repeat))
        rows.append(("m3vos score (no breakdowns)", plain))
        cold = timed(base + ["--breakdown", "all"], env)
        rows.append(("m3vos score --breakdown all (cold cache: size, velocity, entropy computed)", cold))
        warm = min(timed(base + ["--breakdown", "all"], env) for _ in range(a.repeat))
        rows.append(("m3vos score --breakdown all (warm cache)", warm))
        labels = min(timed(base + ["--breakdown", "transition,group,intra,core,difficulty"], env)
                     for _ in range(a.repeat))
        rows.append(("m3vos score --breakdown transition,group,intra,core,difficulty", labels))
        timed(["score", str(tmp / "static"), "--data", str(data)], env)
        rows.append(("m3vos report (2 runs, warm cache)",
                     timed(["report", str(tmp / "shift"), str(tmp / "static"), "--out", str(tmp / "rep")], env)))
        rows.append(("m3vos leaderboard (2 runs, 2000 resamples)",
                     timed(["leaderboard", str(tmp / "shift"), str(tmp / "static")], env)))
        rows.append(("m3vos entropy-report --definition official (every frame)",
                     timed(["entropy-report", str(data), "--definition", "official", "--out", str(tmp / "e1")], env)))
        rows.append(("m3vos entropy-report --definition lbp (every frame)",
                     timed(["entropy-report", str(data), "--out", str(tmp / "e2")], env)))
        print("| command | wall time (s) |\n|---|---:|")
        for name, dt in rows:
            print(f"| {name} | {dt:.2f} |")
        print(f"\n`--breakdown all` adds {cold - plain:.2f} s on a cold cache and {warm - plain:.2f} s on a warm one "
              f"({(warm - plain) / plain * 100:.0f}% of the plain score).")
        entropy_cpu(tmp / "ds480", a.entropy_videos, a.entropy_frames, 480, 854)


if __name__ == "__main__":
    main()
