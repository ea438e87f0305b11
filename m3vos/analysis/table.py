"""The per-object table: one row per scored object, its metrics and its attributes.

Every breakdown, plot and leaderboard column is a group-by or a column of this one table, so a
new analysis never re-reads results or labels on its own.
"""

from __future__ import annotations

from typing import Any, Iterable

import pandas as pd

from m3vos.analysis.keys import VideoIndex, resolve_entry, split_key
from m3vos.analysis.results_io import metric_names

#: Group of a labelled object whose transition is not one of the 23 (`seperate`, `separate_out`).
OUTSIDE_TAXONOMY = "(outside the 23)"

#: Attribute columns taken from the dataset model's `TargetObject`.
LABEL_COLUMNS = ("transition", "group", "intra", "before", "after", "phase_pair", "core",
                 "difficulty", "challenges")


def _label_row(obj: Any) -> dict[str, Any]:
    from m3vos.data.taxonomy import phase_top

    before, after = getattr(obj, "before", None), getattr(obj, "after", None)
    intra = getattr(obj, "intra", None)
    b_top, a_top = phase_top(before), phase_top(after)
    transition = getattr(obj, "transition", None)
    group = getattr(obj, "group", None)
    if transition is not None and group is None:
        group = OUTSIDE_TAXONOMY
    return {
        "labelled": getattr(obj, "transition", None) is not None,
        "transition": getattr(obj, "transition", None),
        "group": group,
        "intra": (OUTSIDE_TAXONOMY if transition is not None else None) if intra is None
        else ("intra" if intra else "cross"),
        "before": b_top,
        "after": a_top,
        "phase_pair": f"{b_top} -> {a_top}" if b_top and a_top else None,
        "core": getattr(obj, "core", None),
        "difficulty": getattr(obj, "difficulty", None),
        "challenges": tuple(getattr(obj, "challenges", ()) or ()),
    }


def object_table(results: dict[str, Any], dataset: Any = None, *,
                 gt: Iterable[str] = (), gt_attributes: dict[str, dict[str, Any]] | None = None,
                 progress: bool | None = None) -> pd.DataFrame:
    """One row per `per_object` entry of a results document.

    With a dataset, rows get the dataset's labels (`matched` False when the object's video is
    not in the dataset, `labelled` False when it is but carries no transition label) and the GT
    attributes named in `gt` (`geometry`: size, velocity, length; `entropy`: lbp entropy), computed
    or read from the cache unless `gt_attributes` is given.
    """
    per_object = results.get("per_object") or {}
    metrics = metric_names(results)
    index = VideoIndex.build(dataset.video_names) if dataset is not None else None
    rows: list[dict[str, Any]] = []
    for key, entry in per_object.items():
        parsed = split_key(key)
        row: dict[str, Any] = {
            "key": key,
            "video": entry.get("video", parsed[0] if parsed else key),
            "object_id": entry.get("object_id", parsed[1] if parsed else None),
            "n_frames": entry.get("n_frames"),
        }
        for m in metrics:
            v = entry.get(m)
            row[m] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else float("nan")
        row["dataset_key"] = None
        row["matched"] = False
        row["labelled"] = False
        if index is not None:
            found = resolve_entry(key, entry, index)
            if found is not None:
                video, obj_id = found
                row["matched"] = True
                row["dataset_key"] = f"{video}_{obj_id}"
                row.update(_label_row(dataset.target_object(video, obj_id)))
        rows.append(row)
    df = pd.DataFrame(rows)
    for col in LABEL_COLUMNS:
        if col not in df.columns:
            df[col] = None
    df.attrs["metrics"] = metrics
    kinds = tuple(gt)
    if dataset is not None and (kinds or gt_attributes is not None):
        if gt_attributes is None:
            videos = sorted({k.rsplit("_", 1)[0] for k in df["dataset_key"].dropna()})
            gt_attributes = _gt(dataset, kinds, videos, progress)
        extra = pd.DataFrame.from_dict(gt_attributes, orient="index")
        extra.index.name = "dataset_key"
        df = df.merge(extra, how="left", left_on="dataset_key", right_index=True)
        df.attrs["metrics"] = metrics
    return df


def _gt(dataset: Any, kinds: tuple[str, ...], videos: list[str] | None, progress: bool | None):
    from m3vos.analysis.attributes import gt_attributes

    return gt_attributes(dataset, kinds, videos=videos, progress=progress)
