"""Benchmark `m3vos score` against the PNG decode floor (and the anchors, when available).

What it measures, on the same cores, as whole commands from process start:
  floor      decoding every GT and prediction PNG of the set once with PIL, one process
  read_mask  the same files decoded by m3vos's `read_mask` (its fast PNG path), one process
  davis      `m3vos score --protocol davis`
  m3vos      `m3vos score` (J, J_last, J_cc Hungarian, F extension)
  greedy     `m3vos score --jcc greedy`
  particulate J_cc stress: ~370 blobs per frame for one object vs the same frames with one blob
  anchors    davis2017-evaluation / vos-benchmark, when `--davis2017 DIR` / `--vos-benchmark DIR`
             point at checkouts of them (run unmodified, outside the project)

Usage (from the repository root; the set is generated outside the project):
  python benchmarks/bench_score.py --num-seqs 30 --work /tmp/m3vos-bench
  python benchmarks/bench_score.py --davis2017 /tmp/davis2017-evaluation --vos-benchmark /tmp/vos-benchmark

Every timing is the best of --repeat runs (the machine may be shared); the median is printed too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = Path(os.environ.get("M3VOS_SHARED", REPO.parent / "shared"))

FLOOR_CODE = r"""
import sys, time, glob, numpy as np
from PIL import Image
files = sorted(glob.glob(sys.argv[1] + '/Annotations/*/*.png') + glob.glob(sys.argv[2] + '/*/*.png'))
t = time.perf_counter()
c = time.process_time()
for f in files:
    np.asarray(Image.open(f))
print(len(files), time.perf_counter() - t, time.process_time() - c)
"""
READ_MASK_CODE = FLOOR_CODE.replace("from PIL import Image", "from m3vos.data.masks import read_mask").replace(
    "np.asarray(Image.open(f))", "read_mask(f)")


_CPU: list[float] = []  # CPU seconds (user + sys, whole process tree) of the last run_timed


def run_timed(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS of the process tree's largest child (MiB), stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU[:] = [(ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)]
    if proc.returncode not in (0,):
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-3000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024, proc.stdout


def best_of(n: int, cmd: list[str], **kw) -> dict:
    walls, cpus = [], []
    for _ in range(n):
        wall, _, _ = run_timed(cmd, **kw)
        walls.append(wall)
        cpus.append(_CPU[0])
    return {"best_s": round(min(walls), 3), "median_s": round(statistics.median(walls), 3),
            "cpu_s": round(min(cpus), 3), "runs": len(walls)}


def generate(shared: Path, out: Path, num_seqs: int) -> None:
    if (out / "ImageSets").is_dir():
        return
    gen = shared / "fixtures" / "scoring" / "synth_vos.py"
    subprocess.run([sys.executable, str(gen), "--seed", "1", "--num-seqs", str(num_seqs), "--out", str(out),
                    "--jobs", "2"], check=True)


def particulate_sets(root: Path, frames: int = 40, seed: int = 0) -> tuple[Path, Path]:
    """Two 40-frame 480x854 sequences: object 1 is ~370 small disks (radius 1-3 on a jittered
    12-px grid, drifting; spreading in the second), object 2 a solid ellipse. The prediction
    jitters every particle, drops ~8 % and adds 30 spurious ones. The `oneblob` twin has the
    same frames with object 1 drawn as one disk of similar area."""
    import cv2

    from m3vos.data.masks import write_mask

    many, one = root / "particulate", root / "oneblob"
    if (many / "ImageSets").is_dir() and (one / "ImageSets").is_dir():
        return many, one
    h, w = 480, 854
    for s, mode in enumerate(("drift", "spread")):
        rng = np.random.default_rng(seed + s)
        gy, gx = np.mgrid[0:20, 0:19]
        base = np.stack([gy.ravel() * 12.0, gx.ravel() * 12.0], 1) + rng.uniform(-3, 3, (380, 2))
        radii = rng.integers(1, 4, len(base))
        keep = rng.random(len(base)) > 0.03
        base, radii = base[keep], radii[keep]
        name = f"part{s:03d}-{mode}"
        for t in range(frames):
            scale = 1.0 + (0.006 * t if mode == "spread" else 0.0)
            centre = np.array([110.0 + 1.5 * t, 90.0 + 3.0 * t])
            pts = centre + (base - base.mean(0)) * scale
            for dst, tree in ((many, True), (one, False)):
                gt = np.zeros((h, w), np.uint8)
                pr = np.zeros((h, w), np.uint8)
                cv2.ellipse(gt, (620, 300), (90, 60), 15, 0, 360, 2, -1)
                cv2.ellipse(pr, (623, 302), (88, 61), 15, 0, 360, 2, -1)
                if tree:
                    prng = np.random.default_rng(1000 * s + t)
                    for (y, x), r in zip(pts, radii):
                        cv2.circle(gt, (int(x), int(y)), int(r), 1, -1)
                        if prng.random() < 0.92:
                            j = prng.integers(-1, 2, 2)
                            cv2.circle(pr, (int(x + j[1]), int(y + j[0])), int(r), 1, -1)
                    for _ in range(30):
                        cv2.circle(pr, (int(prng.uniform(0, w)), int(prng.uniform(0, 200))), 2, 1, -1)
                else:
                    radius = int(np.sqrt((radii ** 2).sum()))  # same total area as the particles
                    cy, cx = map(int, centre)
                    cv2.circle(gt, (cx, cy), radius, 1, -1)
                    cv2.circle(pr, (cx + 2, cy + 1), radius, 1, -1)
                write_mask(dst / "Annotations" / name / f"{t:05d}.png", gt)
                write_mask(dst / "Predictions" / name / f"{t:05d}.png", pr)
    for dst in (many, one):
        (dst / "ImageSets" / "2017").mkdir(parents=True, exist_ok=True)
        (dst / "ImageSets" / "2017" / "val.txt").write_text("part000-drift\npart001-spread\n")
    return many, one


def m3vos_cmd(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "m3vos_cli", "score", str(root / "Predictions"), "--data", str(root),
            "--out", str(out), "--format", "json", *extra]


def _has_unknown_ids(root: Path, name: str) -> bool:
    """Does the prediction hold an id above the GT's object count (davis2017 exits on it)?"""
    from m3vos.data.masks import read_mask

    gt = sorted((root / "Annotations" / name).glob("*.png"))
    first = read_mask(gt[0])
    n = int(first[first != 255].max(initial=0))
    return any(int(read_mask(root / "Predictions" / name / p.name).max()) > n for p in gt[1:-1])


def anchors(args: argparse.Namespace, root: Path, work: Path) -> dict:
    out: dict = {}
    if args.davis2017:
        # davis2017 wants <root>/JPEGImages/480p, Annotations/480p, ImageSets/2017; it refuses a
        # sequence whose prediction holds an unknown id (sys.exit), so time it on the others.
        view = work / "davis_view"
        if not view.exists():
            for sub in ("JPEGImages", "Annotations"):
                (view / sub).mkdir(parents=True)
                os.symlink(root / sub, view / sub / "480p")
            (view / "ImageSets" / "2017").mkdir(parents=True)
            names = (root / "ImageSets" / "2017" / "val.txt").read_text().split()
            bad = {n for n in names if _has_unknown_ids(root, n)}
            (view / "ImageSets" / "2017" / "val.txt").write_text("\n".join(n for n in names if n not in bad) + "\n")
        res = work / "davis_results"
        shutil.rmtree(res, ignore_errors=True)
        res.mkdir()
        for n in (view / "ImageSets" / "2017" / "val.txt").read_text().split():
            os.symlink(root / "Predictions" / n, res / n)
        env = dict(os.environ, PYTHONPATH=str(args.davis2017))
        t, rss, _ = run_timed([sys.executable, str(Path(args.davis2017) / "evaluation_method.py"),
                               "--task", "semi-supervised", "--results_path", str(res),
                               "--davis_path", str(view)], env=env)
        out["davis2017_evaluation"] = {"wall_s": round(t, 2), "cpu_s": round(_CPU[0], 2),
                                       "sequences": len([p for p in res.iterdir() if p.is_dir()]),
                                       "note": "sequences with unknown prediction ids left out (it exits on them)"}
    if args.vos_benchmark:
        env = dict(os.environ, PYTHONPATH=str(args.vos_benchmark))
        for n in (1, 2):
            t, rss, _ = run_timed([sys.executable, str(Path(args.vos_benchmark) / "benchmark.py"),
                                   "-g", str(root / "Annotations"), "-m", str(root / "Predictions"), "-n", str(n)],
                                  env=env, cwd=Path(args.vos_benchmark))
            out[f"vos_benchmark_n{n}"] = {"wall_s": round(t, 2), "cpu_s": round(_CPU[0], 2)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED, help="the ../shared folder (generator)")
    ap.add_argument("--num-seqs", type=int, default=30)
    ap.add_argument("--work", type=Path, default=None, help="where the sets go (default: a temp dir, kept)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--davis2017", type=Path, default=None, help="checkout of davis2017-evaluation")
    ap.add_argument("--vos-benchmark", type=Path, default=None, help="checkout of vos-benchmark")
    ap.add_argument("--skip-particulate", action="store_true")
    args = ap.parse_args()

    work = args.work or Path(tempfile.mkdtemp(prefix="m3vos-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    root = work / f"synth{args.num_seqs}"
    generate(args.shared, root, args.num_seqs)
    out = work / "out"
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "loadavg_start": os.getloadavg()},
                    "set": {"num_seqs": args.num_seqs,
                            "gt_pngs": len(list((root / "Annotations").glob("*/*.png"))),
                            "pred_pngs": len(list((root / "Predictions").glob("*/*.png")))}}

    # Rounds: the floor and every configuration once per round, so that each ratio compares
    # runs made under the same machine load (the machine may be shared).
    configs = {"davis": ["--protocol", "davis"], "m3vos": [], "m3vos_greedy": ["--jcc", "greedy"],
               "m3vos_1_worker": ["--workers", "1"]}
    walls: dict[str, list[float]] = {"floor": [], "read_mask": []}
    cpus: dict[str, list[float]] = {"floor": [], "read_mask": []}
    for _ in range(args.repeat):
        for name, code in (("floor", FLOOR_CODE), ("read_mask", READ_MASK_CODE)):
            _, _, txt = run_timed([sys.executable, "-c", code, str(root), str(root / "Predictions")])
            walls[name].append(float(txt.split()[1]))
            cpus[name].append(float(txt.split()[2]))
        for name, extra in configs.items():
            wall, _, _ = run_timed(m3vos_cmd(root, out, *extra))
            walls.setdefault(name, []).append(wall)
            cpus.setdefault(name, []).append(_CPU[0])
        print({k: round(v[-1], 2) for k, v in walls.items()}, flush=True)
    report["floor_pil_decode"] = {"best_s": round(min(walls["floor"]), 3), "cpu_s": round(min(cpus["floor"]), 3)}
    report["read_mask_decode"] = {"best_s": round(min(walls["read_mask"]), 3), "cpu_s": round(min(cpus["read_mask"]), 3),
                                  "cpu_x_floor": round(min(cpus["read_mask"]) / min(cpus["floor"]), 2)}
    for name in configs:
        ratios = [w / f for w, f in zip(walls[name], walls["floor"])]
        report[name] = {"best_s": round(min(walls[name]), 3), "median_s": round(statistics.median(walls[name]), 3),
                        "cpu_s": round(min(cpus[name]), 3),
                        "x_floor_median_of_rounds": round(statistics.median(ratios), 2),
                        "x_floor_best_vs_best": round(min(walls[name]) / min(walls["floor"]), 2),
                        "cpu_x_floor": round(min(cpus[name]) / min(cpus["floor"]), 2)}
        print(name, report[name], flush=True)

    if not args.skip_particulate:
        many, one = particulate_sets(work)
        r_many = {"best_s": 1e9, "cpu_s": 1e9}
        r_one = {"best_s": 1e9, "cpu_s": 1e9}
        ratios = []
        for _ in range(args.repeat):  # alternate, for the same reason as the rounds above
            w_many, _, _ = run_timed(m3vos_cmd(many, work / "out_many"))
            c_many = _CPU[0]
            w_one, _, _ = run_timed(m3vos_cmd(one, work / "out_one"))
            c_one = _CPU[0]
            ratios.append(w_many / w_one)
            r_many = {"best_s": round(min(r_many["best_s"], w_many), 3), "cpu_s": round(min(r_many["cpu_s"], c_many), 3)}
            r_one = {"best_s": round(min(r_one["best_s"], w_one), 3), "cpu_s": round(min(r_one["cpu_s"], c_one), 3)}
        r_many_greedy = best_of(1, m3vos_cmd(many, work / "out_many_greedy", "--jcc", "greedy"))
        _, rss, _ = run_timed(m3vos_cmd(many, work / "out_many", "--workers", "1"))
        blobs = json.loads((work / "out_many" / "results.json").read_text())
        report["particulate"] = {"many_blobs": r_many, "one_blob": r_one,
                                 "ratio_median_of_rounds": round(statistics.median(ratios), 2),
                                 "ratio": round(r_many["best_s"] / r_one["best_s"], 2),
                                 "cpu_ratio": round(r_many["cpu_s"] / r_one["cpu_s"], 2),
                                 "many_blobs_greedy": r_many_greedy,
                                 "peak_rss_MiB_1_worker": round(rss, 1),
                                 "J_cc-Mean": blobs["global"]["J_cc-Mean"]}
        print("particulate", report["particulate"], flush=True)

    report["anchors"] = anchors(args, root, work)
    report["machine"]["loadavg_end"] = os.getloadavg()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
