"""`m3vos entropy-report`: how disordered the ground-truth shapes become, per video and object.

`official` reproduces the paper's h_LBP numbers (see `entropy.py` for why that statistic is odd);
`lbp` is m3vos's per-object definition. Both report first-half / second-half means and their
change; with scored predictions, the Spearman correlation between an object's entropy change and
its J.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from m3vos.analysis import entropy as E
from m3vos.errors import BadInputError
from m3vos.utils.jsonvalues import nan_to_none

DEFINITIONS = ("official", "lbp")
_INT = re.compile(r"\d+")


@dataclass
class EntropyReport:
    definition: str
    per_video: pd.DataFrame        # video, frames_used, first_half, second_half, change
    per_object: pd.DataFrame       # key, video, object_id, first_half, second_half, change [, J-Mean]
    curves: dict[str, list[tuple[float, float]]]   # video -> (normalised time, entropy)
    summary: dict[str, Any]
    correlation: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)


def _official_video(video: Any, picks: set[int] | None) -> tuple[E.HalfEntropy, dict[int, list[tuple[int, float]]]]:
    """The official per-video halves, plus per-object curves read off the same per-grey values."""
    keep = None if picks is None else (lambda i, n: i in picks)
    return E.official_video_curves(video.mask_paths, frame_filter=keep)


def _video_entropy(vm: Any, *, definition: str, max_frames: int | None
                   ) -> tuple[dict[str, Any], list[dict[str, Any]], list[tuple[float, float]]]:
    """One video's row, its objects' rows and its curve (a process-pool worker)."""
    name = vm.name
    n = len(vm.mask_paths)
    picks = set(E.sample_indices(n, max_frames)) if max_frames else None
    if definition == "official":
        h, obj_curves = _official_video(vm, picks)
        # official frame numbers come from file names; normalise by rank within the video
        order = {f: i for i, f in enumerate(sorted(h.frames))}
        curve = [(order[f] / max(len(order) - 1, 1), v) for f, v in zip(h.frames, h.values)]
    else:
        obj_curves = E.object_lbp_curves(vm.mask_paths, vm.object_ids, picks)
        per_frame: dict[int, list[float]] = {}
        for pts in obj_curves.values():
            for i, e in pts:
                per_frame.setdefault(i, []).append(e)
        frames = sorted(per_frame)
        vals = [float(np.mean(per_frame[i])) for i in frames]
        h = E.split_halves(frames, vals)
        curve = [(i / max(n - 1, 1), v) for i, v in zip(frames, vals)]
    vrow = {"video": name, "frames_used": len(h.values), "first_half": h.first_half,
            "second_half": h.second_half, "change": h.change}
    orows = []
    for k in vm.object_ids:
        pts = obj_curves.get(k, [])
        oh = E.split_halves([i for i, _ in pts], [e for _, e in pts])
        orows.append({"key": f"{name}_{k}", "video": name, "object_id": k, "frames_used": len(pts),
                      "first_half": oh.first_half, "second_half": oh.second_half, "change": oh.change})
    return vrow, orows, curve


def compute_entropy(dataset: Any, *, definition: str = "lbp", max_frames: int | None = None,
                    videos: list[str] | None = None, progress: bool | None = None,
                    workers: int | None = None) -> EntropyReport:
    """Entropy tables for the dataset's ground truth (`max_frames`: evenly sampled frames per video).

    Videos run on `workers` processes (default: all CPUs); the numbers do not depend on it.
    """
    from m3vos.analysis.attributes import VideoMasks, map_videos
    from m3vos.utils.progress import make_progress

    if definition not in DEFINITIONS:
        raise BadInputError(f"unknown entropy definition {definition!r}", hint="use --definition official or lbp")
    names = videos or list(dataset.video_names)
    items = [VideoMasks.of(dataset.video(n)) for n in names]
    with make_progress(enabled=progress, transient=True) as bar:
        task = bar.add_task(f"entropy ({definition})", total=len(items), status="")
        done = map_videos(_video_entropy, items, workers=workers, definition=definition, max_frames=max_frames,
                          on_done=lambda vm: bar.update(task, advance=1, status=vm.name))
    vrows = [v for v, _, _ in done]
    orows = [o for _, os_, _ in done for o in os_]
    curves = {vm.name: c for vm, (_, _, c) in zip(items, done)}
    per_video = pd.DataFrame(vrows, columns=["video", "frames_used", "first_half", "second_half", "change"])
    per_object = pd.DataFrame(orows, columns=["key", "video", "object_id", "frames_used", "first_half",
                                              "second_half", "change"])
    return EntropyReport(definition, per_video, per_object, curves, _summary(definition, per_video, max_frames))


def _summary(definition: str, per_video: pd.DataFrame, max_frames: int | None) -> dict[str, Any]:
    first = per_video["first_half"].dropna()
    second = per_video["second_half"].dropna()
    both = per_video.dropna(subset=["first_half", "second_half"])
    return {
        "definition": definition,
        "official": definition == "official",
        "label": ("official h_LBP (paper procedure, reproduced literally)" if definition == "official"
                  else "m3vos lbp entropy (per object, void excluded; NON-OFFICIAL)"),
        "n_videos": int(len(per_video)),
        # official dataset value: mean over videos, NaN dropped per half separately
        "first_half": float(first.mean()) if len(first) else None,
        "second_half": float(second.mean()) if len(second) else None,
        "mean_change": float(both["change"].mean()) if len(both) else None,
        "videos_increasing": int((both["change"] > 0).sum()),
        "videos_with_both_halves": int(len(both)),
        "max_frames": max_frames or None,
    }


def correlate_with_scores(report: EntropyReport, results: dict[str, Any], metric: str = "J-Mean",
                          dataset: Any = None) -> dict[str, Any]:
    """Spearman rho (video-bootstrap 95% CI) between each object's entropy change and its `metric`."""
    from m3vos.analysis.keys import VideoIndex, resolve_entry
    from m3vos.analysis.stats import spearman_ci

    index = VideoIndex.build(report.per_video["video"])
    score: dict[str, float] = {}
    for key, entry in results.get("per_object", {}).items():
        found = resolve_entry(key, entry, index)
        v = entry.get(metric)
        if found is not None and isinstance(v, (int, float)):
            score[f"{found[0]}_{found[1]}"] = float(v)
    po = report.per_object
    po[metric] = po["key"].map(score)
    ok = po.dropna(subset=["change", metric])
    c = spearman_ci(ok["change"], ok[metric], ok["video"])
    out = {"metric": metric, "x": "entropy change (second half - first half)", "rho": c.rho,
           "ci95": [c.ci_low, c.ci_high], "p_value": c.p_value, "n_objects": c.n,
           "n_videos": int(ok["video"].nunique()), "bootstrap": "videos resampled, seed 0"}
    report.correlation = out
    return out


def write_entropy_report(report: EntropyReport, out_dir: str | Path) -> list[Path]:
    """per_video.csv, per_object.csv, summary.json, curves.json and entropy_over_time.png, atomically."""
    from m3vos.analysis.plots import entropy_curves_plot
    from m3vos.utils.atomic import atomic_write_json, atomic_write_text

    # Each file is written atomically; the folder itself is not replaced, so a user's `--out`
    # folder keeps whatever else it holds.
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "per_video.csv", report.per_video.to_csv(index=False))
    atomic_write_text(out_dir / "per_object.csv", report.per_object.to_csv(index=False))
    doc = {"schema": "m3vos-entropy/1", "summary": report.summary, "correlation": report.correlation}
    atomic_write_json(out_dir / "summary.json", nan_to_none(doc))
    atomic_write_json(out_dir / "curves.json", {v: [[round(t, 4), round(e, 5)] for t, e in pts]
                                                for v, pts in report.curves.items()}, indent=None)
    entropy_curves_plot({"": report.curves}, out_dir / "entropy_over_time.png", title=report.summary["label"])
    report.files = [out_dir / n for n in ("per_video.csv", "per_object.csv", "summary.json", "curves.json",
                                          "entropy_over_time.png")]
    return report.files


