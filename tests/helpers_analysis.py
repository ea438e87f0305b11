"""Small real datasets and results documents for the analysis tests.

Masks are real palette PNGs written with `m3vos.data.masks.write_mask`; results documents follow
the `m3vos-results/1` schema of `m3vos score`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from m3vos.data.masks import write_mask

META_VIDEOS = {
    # numbered names from the official all_phase_label.json (one with two objects) ...
    "0049_clipoff_wood_1": 1,
    "0052_assemble_firework_2": 2,
    "0169_Melting_cans_1": 1,
}


def disc(h: int, w: int, cy: float, cx: float, r: float, value: int = 1) -> np.ndarray:
    y, x = np.ogrid[:h, :w]
    return np.where((y - cy) ** 2 + (x - cx) ** 2 <= r * r, value, 0).astype(np.uint8)


def write_video(root: Path, name: str, frames: list[np.ndarray], *, images: bool = True) -> None:
    """Annotations/<name>/00000.png ... (+ JPEGImages) in the VOST-like layout."""
    for t, ids in enumerate(frames):
        write_mask(root / "Annotations" / name / f"{t:05d}.png", ids)
        if images:
            rgb = np.full((*ids.shape, 3), 90, np.uint8)
            rgb[..., 0] = (ids.astype(np.int64) * 60 % 256).astype(np.uint8)
            (root / "JPEGImages" / name).mkdir(parents=True, exist_ok=True)
            Image.fromarray(rgb).save(root / "JPEGImages" / name / f"{t:05d}.jpg")


def moving_disc_video(n: int = 8, h: int = 48, w: int = 64, *, r0: float = 8, dr: float = 0.0,
                      speed: float = 1.0, objects: int = 1) -> list[np.ndarray]:
    frames = []
    for t in range(n):
        ids = np.zeros((h, w), np.uint8)
        for k in range(1, objects + 1):
            d = disc(h, w, 12 + 20 * (k - 1), 12 + speed * t, max(r0 + dr * t, 1), k)
            ids = np.where(d > 0, d, ids)
        frames.append(ids)
    return frames


def make_dataset(root: Path, videos: dict[str, list[np.ndarray]]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, frames in videos.items():
        write_video(root, name, frames)
    (root / "ImageSets").mkdir(exist_ok=True)
    (root / "ImageSets" / "val.txt").write_text("\n".join(videos) + "\n")
    return root


def results_doc(per_object: dict[str, dict[str, Any]], *, per_frame: dict | None = None,
                dataset: dict | None = None) -> dict[str, Any]:
    """A `m3vos-results/1` document; global means are the plain object means."""
    po = {}
    for key, metrics in per_object.items():
        video, k = key.rsplit("_", 1)
        po[key] = {"video": video, "object_id": int(k), "n_frames": 6, **metrics}
    names = sorted({m for e in per_object.values() for m in e})
    glob = {m: float(np.mean([e[m] for e in per_object.values() if m in e])) for m in names}
    return {"schema": "m3vos-results/1", "protocol": "m3vos", "options": {}, "m3vos_version": "test",
            "dataset": dataset or {}, "global": glob, "per_object": po, "per_sequence": {},
            "per_frame": per_frame or {}, "warnings": []}


def write_results(folder: Path, doc: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(doc))
    return folder


def write_predictions(dataset: Any, out: Path, kind: str) -> Path:
    """Real prediction PNGs: `static` repeats the first mask (a weak tracker), `shift` moves the GT by
    2 px (a good one), `drop` is `shift` with one video left out."""
    from m3vos.data.masks import read_mask

    names = list(dataset.video_names)
    if kind == "drop":
        names = names[:-1]
    for name in names:
        video = dataset.video(name)
        first = read_mask(video.mask_paths[0])
        for p in video.mask_paths:
            ids = first if kind == "static" else np.roll(read_mask(p), 2, axis=1)
            write_mask(out / name / f"{p.stem}.png", ids)
    return out


def scored_synth(root: Path, *, videos: int = 4, frames: int = 10,
                 runs: tuple[str, ...] = ("static", "shift")) -> tuple[Path, dict[str, Path]]:
    """A synthetic dataset (m3vos data synth) and scored prediction folders (results.json inside)."""
    from m3vos.data.dataset import open_dataset
    from m3vos.data.synth import make_synthetic_dataset
    from m3vos.metrics import score_predictions, write_results

    data = make_synthetic_dataset(root / "ds", videos=videos, frames=frames, seed=3)
    ds = open_dataset(data)
    out = {}
    for kind in runs:
        preds = write_predictions(ds, root / kind, kind)
        names = [n for n in ds.video_names if (preds / n).is_dir()]
        result = score_predictions(preds, ds, videos=names, workers=1)
        write_results(result, preds, "val")
        out[kind] = preds
    return data, out
