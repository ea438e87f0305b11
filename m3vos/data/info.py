"""What a dataset holds: videos, frames, objects, resolutions and label counts."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from m3vos.utils.workers import default_workers


def dataset_info(root: str | os.PathLike[str] | None = None, *, split: str = "val",
                 labels_dir: str | os.PathLike[str] | None = None, workers: int | None = None) -> dict[str, Any]:
    """A JSON-ready summary; reads one mask header and the first mask of each video, no more."""
    from m3vos.data.dataset import open_dataset
    from m3vos.errors import BadInputError

    ds = open_dataset(root, split=split, labels_dir=labels_dir)

    def one(video: Any) -> dict[str, Any]:
        try:
            return {"name": video.name, "frames": len(video.frame_paths), "masks": len(video.mask_paths),
                    "size": list(video.size), "objects": video.objects, "error": None}
        except BadInputError as exc:
            return {"name": video.name, "frames": 0, "masks": 0, "size": None, "objects": [],
                    "error": exc.one_line()}

    with ThreadPoolExecutor(max_workers=default_workers(len(ds), workers)) as pool:
        rows = list(pool.map(one, ds))
    objects = [o for r in rows for o in r["objects"]]
    labels = ds.labels
    coverage = labels.coverage(objects)

    def count(values: Any) -> dict[str, int]:
        c = Counter("unlabelled" if v is None else str(v) for v in values)
        return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))

    frames = [r["frames"] for r in rows]
    return {
        "schema": "m3vos-data-info/1",
        "dataset": ds.identity(),
        "n_videos": len(ds),
        "n_frames": sum(frames),
        "n_masks": sum(r["masks"] for r in rows),
        "frames_per_video": {"min": min(frames, default=0), "max": max(frames, default=0),
                             "mean": round(sum(frames) / len(frames), 1) if frames else 0},
        "n_objects": len(objects),
        "resolutions": count(f"{r['size'][0]}x{r['size'][1]}" for r in rows if r["size"]),
        "objects_per_video": count(len(r["objects"]) for r in rows),
        "transition": count(o.transition for o in objects),
        "group": count(o.group if o.transition is not None else None for o in objects),
        "intra_cross": count(None if o.intra is None else ("intra" if o.intra else "cross") for o in objects),
        "core": count(None if o.core is None else ("core" if o.core else "not core") for o in objects),
        "difficulty": count(o.difficulty for o in objects),
        "challenges": dict(Counter(c for o in objects for c in o.challenges).most_common()),
        "labels": {"sources": coverage["sources"], "n_labelled": coverage["n_labelled"],
                   "unlabelled": coverage["unlabelled"], "ungrouped": coverage["ungrouped"]},
        "errors": [r["error"] for r in rows if r["error"]],
    }
