"""Cutie inference speed and memory (our port, `m3vos.trackers.cutie`).

Measures, each case in a fresh subprocess (so peak RSS belongs to that case alone):

1. CPU seconds per frame (wall and process CPU) for cutie-small and cutie-base at a 480p-like
   size (480 x 854) and a small size (240 x 432), official eval settings, after warm-up;
2. peak memory (RSS, and bytes held by the memory stores) after 100 and after 1,000 frames
   with long-term memory ON (cutie-small at 64 x 112, mem_every 1 so consolidation and
   pruning run often). Long-term limits are shrunk ("small" preset: 1,000 tokens) so the
   steady state is reached within the first 100 frames; the "official" preset keeps the
   official limits (10,000 tokens) and is reported too;
3. on CUDA (when present): frames/s at 480 x 854 with and without AMP.

Weights: `--weights-small/--weights-base` (e.g. seeded weights from
../shared/fixtures/parity/seeded_weights.py); without them the networks keep their random
init, which is as fast. Frames are synthetic (moving textured shapes).

    python benchmarks/bench_cutie.py                      # everything (several minutes on CPU)
    python benchmarks/bench_cutie.py --only speed --threads 1
    python benchmarks/bench_cutie.py --only memory --json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


# ---------------------------------------------------------------------------- child side
def _frames(n: int, h: int, w: int, seed: int = 0):
    """n synthetic RGB frames [3, h, w] in [0, 1] and a 2-object first mask."""
    import numpy as np
    import torch

    rng = np.random.default_rng(seed)
    base = rng.random((3, h, w), dtype=np.float32) * 0.3
    yy, xx = np.mgrid[:h, :w]
    frames = []
    for t in range(n):
        img = base.copy()
        cx, cy = (w * (0.3 + 0.4 * ((t % 60) / 60))), h * 0.5
        disk = (xx - cx) ** 2 + (yy - cy) ** 2 < (min(h, w) * 0.2) ** 2
        box = (abs(xx - w * 0.7 + t % 30) < w * 0.1) & (abs(yy - h * 0.3) < h * 0.15)
        img[0][disk] += 0.6
        img[2][box] += 0.6
        frames.append(torch.from_numpy(np.clip(img, 0, 1)))
    mask = np.zeros((h, w), dtype=np.int64)
    mask[(xx - w * 0.3) ** 2 + (yy - h * 0.5) ** 2 < (min(h, w) * 0.2) ** 2] = 1
    mask[(abs(xx - w * 0.7) < w * 0.1) & (abs(yy - h * 0.3) < h * 0.15)] = 2
    return frames, torch.from_numpy(mask)


def _network(kind: str, weights: str | None, device: str):
    from m3vos.trackers.models import build_model, load_model

    if weights:
        return load_model(kind, weights, device=device)
    return build_model(kind).to(device).eval()


def _store_bytes(core) -> int:
    mem = core.memory
    total = 0
    for store in (mem.work_mem, mem.long_mem):
        if store is None:
            continue
        for d in (store.key, store.shrinkage, store.selection, store.value, store.use_count,
                  store.life_count):
            total += sum(t.numel() * t.element_size() for t in d.values())
    total += sum(t.numel() * t.element_size() for t in mem.sensory.values())
    total += sum(t.numel() * t.element_size() for t in mem.obj_v.values())
    return total


def child_speed(kind: str, h: int, w: int, frames: int, warmup: int, weights: str | None,
                device: str, amp: bool, threads: int) -> dict:
    import torch

    from m3vos.trackers.cutie.inference_core import InferenceCore
    from m3vos.trackers.cutie.settings import EvalSettings

    if threads > 0:
        torch.set_num_threads(threads)
    net = _network(kind, weights, device)
    images, mask = _frames(frames + warmup, h, w)
    core = InferenceCore(net, EvalSettings(amp=amp))
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.inference_mode():
        core.step(images[0].to(device), mask.to(device), [1, 2])
        for t in range(1, warmup):
            core.step(images[t].to(device))
        sync()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for t in range(warmup, warmup + frames):
            core.step(images[t].to(device), end=(t == warmup + frames - 1))
        sync()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"kind": kind, "size": [h, w], "frames": frames, "device": device, "amp": amp,
            "threads": torch.get_num_threads(), "wall_s_per_frame": wall / frames,
            "cpu_s_per_frame": cpu / frames, "fps": frames / wall}


LT_PRESETS = {
    "small": {"max_mem_frames": 4, "min_mem_frames": 2, "num_prototypes": 32,
              "max_num_tokens": 1000, "buffer_tokens": 200},
    "official": {},
}


def child_memory(frames: int, h: int, w: int, preset: str, weights: str | None,
                 threads: int) -> dict:
    import torch

    from m3vos.trackers.cutie.inference_core import InferenceCore
    from m3vos.trackers.cutie.settings import EvalSettings

    if threads > 0:
        torch.set_num_threads(threads)
    net = _network("cutie-small", weights, "cpu")
    images, mask = _frames(60, h, w)
    settings = EvalSettings.from_dict({"use_long_term": True, "mem_every": 1,
                                       "long_term": LT_PRESETS[preset]})
    core = InferenceCore(net, settings)
    rss_start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tokens, peak_bytes = [], 0
    t0 = time.perf_counter()
    with torch.inference_mode():
        for t in range(frames):
            img = images[t % 60]
            core.step(img, mask if t == 0 else None, [1, 2] if t == 0 else None)
            tokens.append(core.memory.num_tokens())
            peak_bytes = max(peak_bytes, _store_bytes(core))
    return {"frames": frames, "size": [h, w], "preset": preset,
            "long_term": settings.long_term.__dict__, "tokens_final": tokens[-1],
            "tokens_max": max(tokens), "store_peak_mb": peak_bytes / 2**20,
            "rss_after_load_mb": rss_start / 1024,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "seconds": time.perf_counter() - t0}


# ---------------------------------------------------------------------------- parent side
def _run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark case {args} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["speed", "memory", "cuda"], action="append")
    p.add_argument("--weights-small")
    p.add_argument("--weights-base")
    p.add_argument("--frames", type=int, default=5, help="timed frames per speed case")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.child is not None:
        spec = json.loads(a.child[0])
        fn = {"speed": child_speed, "memory": child_memory}[spec.pop("case")]
        print(json.dumps(fn(**spec)))
        return

    import torch

    parts = set(a.only or ["speed", "memory", "cuda"])
    rows: list[dict] = []
    weights = {"cutie-small": a.weights_small, "cutie-base": a.weights_base}
    if "speed" in parts:
        for kind in ("cutie-small", "cutie-base"):
            for h, w in ((240, 432), (480, 854)):
                rows.append({"bench": "cpu_speed", **_run_child([json.dumps(
                    {"case": "speed", "kind": kind, "h": h, "w": w, "frames": a.frames,
                     "warmup": 2, "weights": weights[kind], "device": "cpu", "amp": False,
                     "threads": a.threads})])})
                _show(rows[-1], a.json)
    if "memory" in parts:
        for preset in ("small", "official"):
            for frames in (100, 1000):
                rows.append({"bench": "lt_memory", **_run_child([json.dumps(
                    {"case": "memory", "frames": frames, "h": 64, "w": 112, "preset": preset,
                     "weights": a.weights_small, "threads": a.threads})])})
                _show(rows[-1], a.json)
    if "cuda" in parts:
        if torch.cuda.is_available():
            for kind in ("cutie-small", "cutie-base"):
                for amp in (False, True):
                    rows.append({"bench": "cuda_speed", **_run_child([json.dumps(
                        {"case": "speed", "kind": kind, "h": 480, "w": 854, "frames": 50,
                         "warmup": 5, "weights": weights[kind], "device": "cuda", "amp": amp,
                         "threads": a.threads})])})
                    _show(rows[-1], a.json)
        elif not a.json:
            print("cuda: not available on this machine (skipped)")
    if a.json:
        print(json.dumps(rows, indent=2))


def _show(row: dict, quiet: bool) -> None:
    if quiet:
        return
    if row["bench"] == "lt_memory":
        print(f"lt_memory {row['preset']:8s} {row['frames']:5d} frames {row['size']}: tokens "
              f"{row['tokens_final']} (max {row['tokens_max']}), "
              f"stores {row['store_peak_mb']:.2f} MB,"
              f" peak RSS {row['peak_rss_mb']:.0f} MB (after load {row['rss_after_load_mb']:.0f}),"
              f" {row['seconds']:.1f} s", flush=True)
    else:
        print(f"{row['bench']} {row['kind']} {row['size']} amp={row['amp']} threads="
              f"{row['threads']}: {row['wall_s_per_frame']:.3f} s/frame wall, "
              f"{row['cpu_s_per_frame']:.3f} s/frame CPU, {row['fps']:.2f} fps", flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
