"""ReVOS versus Cutie-base: time per frame and peak memory on the same clip.

Each case (model x clip length) runs in a fresh subprocess, so its peak RSS is its own. Both
models run at the core level (`InferenceCore.step` for Cutie-base; the ReVOS loop with its
reverse passes for ReVOS) on the same synthetic clip with the official M3-VOS settings
(mem_every 5, T = L = 30, alpha 2). Time per frame = wall time of the whole clip / frames, so
ReVOS's figure includes its reverse steps (about one extra step per frame when T = L). On a
shared machine the process-CPU ratio is the steadier figure; both are printed.
The networks keep their random init (as fast as real weights), unless `--weights` gives a
ReVOS checkpoint (Cutie-base then gets its non-fuser tensors).

    python benchmarks/bench_revos.py                           # 60/120/300 frames at 64 x 112
    python benchmarks/bench_revos.py --lengths 60 --size 240x432 --threads 2 --json

`--wrapper DIR` instead measures the generic reverse wrapper against its backbone: it makes a
synthetic set (30 videos x 60 frames), runs `flow`, `revos:flow` (T = L = 30) and `revos:flow`
(T = L = 10), scores them and prints `m3vos leaderboard --baseline flow` (bootstrap CIs).

    python benchmarks/bench_revos.py --wrapper /tmp/revos-wrapper
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def _clip(n: int, h: int, w: int):
    """n frames [3, h, w] in [0, 1]: two textured shapes drifting over a textured background."""
    import numpy as np
    import torch

    rng = np.random.default_rng(0)
    bg = rng.integers(0, 120, size=(h, w, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    frames = []
    first = None
    for t in range(n):
        f = bg.copy()
        cx1, cy1 = (w * 0.3 + 2 * t) % w, h * 0.4 + 0.2 * h * np.sin(t / 15)
        cx2, cy2 = (w * 0.7 - 1.5 * t) % w, h * 0.6
        in1 = ((xx - cx1) / (0.18 * w)) ** 2 + ((yy - cy1) / (0.2 * h)) ** 2 <= 1
        in2 = (abs(xx - cx2) < 0.12 * w) & (abs(yy - cy2) < 0.15 * h)
        f[in1] = (210, 80 + (t % 7) * 5, 40)
        f[in2] = (40, 190, 90)
        if t == 0:
            first = np.zeros((h, w), np.int64)
            first[in1] = 1
            first[in2] = 2
        frames.append(torch.from_numpy(f).permute(2, 0, 1).float() / 255)
    return frames, torch.from_numpy(first)


def child(model: str, n: int, h: int, w: int, threads: int, weights: str | None) -> dict:
    import torch

    from m3vos.trackers.checkpoint import read_checkpoint
    from m3vos.trackers.models import build_model

    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    net = build_model("revos" if model == "revos" else "cutie-base")
    if weights:
        state = read_checkpoint(weights)
        if model != "revos":
            state = {k: v for k, v in state.items() if not k.startswith("readout_fuser.")}
        net.load_state_dict(state, strict=True)
    net = net.to(device).eval()
    frames, first = _clip(n, h, w)
    frames = [f.to(device) for f in frames]
    first = first.to(device)
    mask_at = lambda t: (first, [1, 2]) if t == 0 else (None, None)  # noqa: E731
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    steps = 0
    with torch.inference_mode():
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        start, cpu0 = time.perf_counter(), time.process_time()
        if model == "revos":
            from m3vos.trackers.revos.loop import ReVOSCore, revos_steps

            core = ReVOSCore(net)
            for step in revos_steps(core, n, lambda t: frames[t], mask_at):
                step.prob.float().cpu()
                steps += 1
        else:
            from m3vos.trackers.cutie.inference_core import InferenceCore

            core = InferenceCore(net)
            for t in range(n):
                m, objs = mask_at(t)
                core.step(frames[t], m, objs, end=(t == n - 1)).float().cpu()
                steps += 1
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    out = {"model": model, "frames": n, "steps": steps, "size": f"{h}x{w}", "device": device.type,
           "threads": threads, "seconds": round(wall, 3), "s_per_frame": round(wall / n, 4),
           "cpu_s_per_frame": round(cpu / n, 4),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "rss_growth_mb": round((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024, 1)}
    if device.type == "cuda":
        out["peak_cuda_mb"] = round(torch.cuda.max_memory_allocated() / 2 ** 20, 1)
    return out


def wrapper_study(folder: str) -> None:
    """flow vs revos:flow on synthetic data, through the CLI, ranked with bootstrap CIs."""
    from pathlib import Path

    root = Path(folder)
    m3vos = [sys.executable, "-m", "m3vos_cli"]
    synth = root / "synth"
    if not synth.exists():
        subprocess.run(m3vos + ["data", "synth", str(synth), "--videos", "30", "--frames", "60",
                                "--seed", "5"], check=True)
    runs = {"flow": [], "revos_flow_30": ["--config", "reverse.window=30", "--config", "reverse.every=30"],
            "revos_flow_10": ["--config", "reverse.window=10", "--config", "reverse.every=10"]}
    for name, extra in runs.items():
        model = "flow" if name == "flow" else "revos:flow"
        start = time.perf_counter()
        subprocess.run(m3vos + ["run", "--model", model, "--data", str(synth), "--out", str(root / name)]
                       + extra, check=True, capture_output=True)
        print(f"{name}: {time.perf_counter() - start:.1f} s", flush=True)
        subprocess.run(m3vos + ["score", str(root / name), "--data", str(synth)], check=True,
                       capture_output=True)
    subprocess.run(m3vos + ["leaderboard", *(str(root / n) for n in runs), "--baseline",
                            str(root / "flow"), "--format", "md"], check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", default="60,120,300", help="clip lengths, comma-separated")
    ap.add_argument("--size", default="64x112", help="H x W of the frames")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--weights", default=None, help="a ReVOS checkpoint (optional)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--wrapper", metavar="DIR", help="measure revos:flow vs flow in DIR instead")
    ap.add_argument("--child", nargs=2, metavar=("MODEL", "FRAMES"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.wrapper:
        wrapper_study(a.wrapper)
        return
    h, w = (int(v) for v in a.size.lower().split("x"))
    if a.child:
        print(json.dumps(child(a.child[0], int(a.child[1]), h, w, a.threads, a.weights)))
        return
    rows = []
    for n in (int(v) for v in a.lengths.split(",")):
        pair = {}
        for model in ("cutie-base", "revos"):
            cmd = [sys.executable, __file__, "--child", model, str(n), "--size", a.size,
                   "--threads", str(a.threads)] + (["--weights", a.weights] if a.weights else [])
            res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            pair[model] = res
            rows.append(res)
            if not a.json:
                print(json.dumps(res), flush=True)
        ratio = pair["revos"]["s_per_frame"] / pair["cutie-base"]["s_per_frame"]
        cpu_ratio = pair["revos"]["cpu_s_per_frame"] / pair["cutie-base"]["cpu_s_per_frame"]
        rows.append({"frames": n, "ratio_revos_over_cutie": round(ratio, 2),
                     "cpu_ratio_revos_over_cutie": round(cpu_ratio, 2),
                     "step_ratio": round(pair["revos"]["steps"] / pair["cutie-base"]["steps"], 2)})
        if not a.json:
            print(json.dumps(rows[-1]), flush=True)
    if a.json:
        print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
