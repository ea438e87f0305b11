"""Score one video: decode each PNG once and compute J, F and J_cc from the same arrays.

This is the unit of work of the engine's process pool, so it takes and returns only plain,
picklable data (`VideoTask` in, `VideoScore` out) and reads its own files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from m3vos.data.masks import VOID_ID, read_mask
from m3vos.errors import BadInputError
from m3vos.metrics.boundary import f_measure, tolerance_radius, union_box
from m3vos.metrics.components import jcc_greedy, jcc_hungarian
from m3vos.metrics.protocols import ScoreOptions

#: Files that operating systems and tools drop into folders; never masks, never an error.
JUNK_NAMES = {"thumbs.db", "desktop.ini", "icon\r"}
#: Show at most this many frame names in a warning.
MAX_FRAMES_SHOWN = 5


def is_junk(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_NAMES


@dataclass(frozen=True)
class VideoTask:
    name: str
    gt_paths: tuple[Path, ...]
    pred_dir: Path
    options: ScoreOptions
    frame_stems: frozenset[str] = frozenset()  # JPEG frame names (sparse GT allows these)
    gt_dir: Path | None = None                 # the video's annotation folder, for messages


@dataclass
class VideoScore:
    name: str
    object_ids: list[int]
    frames: list[str]                         # stems of the scored frames
    J: np.ndarray                             # objects x frames
    F: np.ndarray
    J_cc: np.ndarray | None
    warnings: list[str] = field(default_factory=list)


def _list_predictions(task: VideoTask) -> tuple[dict[str, Path], dict[str, str]]:
    """PNG files by stem, and other (non-junk) file names by stem, of the video's folder."""
    pngs: dict[str, Path] = {}
    others: dict[str, str] = {}
    with os.scandir(task.pred_dir) as it:
        for entry in it:
            if is_junk(entry.name) or not entry.is_file():
                continue
            stem, ext = os.path.splitext(entry.name)
            if ext.lower() == ".png":
                if stem in pngs:
                    raise BadInputError(f"two predictions for frame {stem}: {pngs[stem].name} and {entry.name}",
                                        path=entry.path, hint="keep one of them (names that differ only "
                                        "in the case of the extension are ambiguous)")
                pngs[stem] = Path(entry.path)
            else:
                others.setdefault(stem, entry.name)
    return pngs, others


def _missing_frame_error(task: VideoTask, stem: str, n_found: int, others: dict[str, str]) -> BadInputError:
    path = task.pred_dir / f"{stem}.png"
    if stem in others:
        return BadInputError(f"prediction frame is missing; found {others[stem]} instead (masks must be PNG)",
                             path=path, hint="save masks as palette or grayscale PNGs, one per frame")
    if n_found == 0:
        return BadInputError(f"prediction folder of video {task.name} holds no PNG masks", path=task.pred_dir,
                             hint="write one <frame>.png per ground-truth frame, or pass --missing empty "
                                  "to score the video as empty")
    return BadInputError(f"prediction frame is missing (video {task.name}, {n_found} PNGs present)",
                         path=path, hint="write every frame the ground truth has, or pass --missing empty "
                                         "to score missing frames as empty")


def score_video(task: VideoTask) -> VideoScore:
    opts = task.options
    gt_paths = list(task.gt_paths)
    n_total = len(gt_paths)
    if n_total < 3:
        where = gt_paths[0].parent if gt_paths else task.gt_dir
        raise BadInputError(f"video {task.name} has {n_total} annotated frame(s); the protocol skips the "
                            "first and the last, so nothing is left to score", path=where,
                            hint="score videos with at least 3 annotated frames (leave it out with --videos)")
    warnings: list[str] = []
    if task.pred_dir.is_dir():
        pngs, others = _list_predictions(task)
    elif opts.missing == "empty":
        pngs, others = {}, {}
        warnings.append(f"{task.pred_dir}: no prediction folder for video {task.name}; scored as empty "
                        "(--missing empty)")
    else:
        raise BadInputError(f"no predictions for video {task.name}", path=task.pred_dir,
                            hint="write <preds>/<video>/<frame>.png for every video of the set, score a "
                                 "subset with --videos, or pass --missing empty to score it as empty")
    gt_stems = [p.stem for p in gt_paths]
    known = set(gt_stems) | task.frame_stems
    extra = sorted(s for s in pngs if s not in known)
    if extra:
        raise BadInputError(f"prediction frame {extra[0]}.png has no ground-truth or image frame of that "
                            f"name in video {task.name} ({len(extra)} such file(s))",
                            path=pngs[extra[0]],
                            hint="name prediction PNGs like the ground-truth frames (e.g. 0000001.png) and "
                                 "remove the others")

    first = read_mask(gt_paths[0])
    labelled = first[first != VOID_ID]
    n_obj = int(labelled.max()) if labelled.size else 0
    object_ids = list(range(1, n_obj + 1))
    if n_obj == 0:
        warnings.append(f"{gt_paths[0]}: the first annotated frame holds no object; video {task.name} "
                        "contributes no object to the scores")

    scored = range(1, n_total - 1)
    n_frames = len(scored)
    J = np.ones((n_obj, n_frames))
    F = np.ones((n_obj, n_frames))
    Jcc = np.zeros((n_obj, n_frames)) if opts.wants_jcc else None
    jcc_fn = jcc_greedy if opts.jcc == "greedy" else jcc_hungarian
    unknown_ids: set[int] = set()
    unknown_frames: list[str] = []
    missing_frames: list[str] = []
    radius = None
    shape = None

    for col, t in enumerate(scored):
        stem = gt_stems[t]
        gt = read_mask(gt_paths[t])
        if gt.shape != first.shape:
            # The official evaluator drops such a video without a word; say which frame it is.
            raise BadInputError(
                f"ground-truth frame is {gt.shape[0]}x{gt.shape[1]} but the first annotated frame "
                f"{gt_paths[0].name} of video {task.name} is {first.shape[0]}x{first.shape[1]} (H x W)",
                path=gt_paths[t], hint="resize the video's masks to one size (nearest neighbour), or "
                                       "leave the video out with --videos")
        pred_path = pngs.get(stem)
        if pred_path is None:
            if opts.missing != "empty":
                raise _missing_frame_error(task, stem, len(pngs), others)
            missing_frames.append(stem)
            pred = np.zeros_like(gt)
        else:
            pred = read_mask(pred_path)
            if pred.shape != gt.shape:
                raise BadInputError(
                    f"prediction is {pred.shape[0]}x{pred.shape[1]} but the ground truth "
                    f"{gt_paths[t].name} is {gt.shape[0]}x{gt.shape[1]} (H x W)", path=pred_path,
                    hint="save predictions at the ground-truth resolution (resize label maps with "
                         "nearest-neighbour interpolation)")
        if gt.shape != shape:
            shape = gt.shape
            radius = tolerance_radius(*shape)

        pmax = int(pred.max())
        if pmax > n_obj:
            ids = np.unique(pred[pred > n_obj]).tolist()
            if opts.strict:
                raise BadInputError(f"prediction holds id(s) {ids} but the ground truth has objects "
                                    f"1..{n_obj} (max id of its first frame)", path=pred_path,
                                    hint="remove ids that are not ground-truth objects, or drop --strict "
                                         "to score them as background")
            unknown_ids.update(ids)
            unknown_frames.append(stem)
        if n_obj == 0:
            continue
        void = None
        if opts.void_aware and int(gt.max()) == VOID_ID:
            void = gt == VOID_ID

        # Everything below happens inside the box around all labelled pixels of both frames,
        # grown by one pixel (per-object boxes grown by one stay inside it).
        region = union_box(cv2.boundingRect(gt), cv2.boundingRect(pred), *shape)
        if region is None:
            continue  # both frames empty: J = F = 1, J_cc = 0 for every object
        ry0, ry1, rx0, rx1 = region
        gt_r = gt[ry0:ry1, rx0:rx1]
        pred_r = pred[ry0:ry1, rx0:rx1]
        void_r = void[ry0:ry1, rx0:rx1] if void is not None else None
        height, width = gt_r.shape
        assert radius is not None  # set with the first frame's shape
        for row, k in enumerate(object_ids):
            mg = gt_r == k
            mp = pred_r == k
            if void_r is not None:
                mp &= ~void_r
            box = union_box(cv2.boundingRect(mg.view(np.uint8)), cv2.boundingRect(mp.view(np.uint8)),
                            height, width)
            if box is None:
                continue  # both empty: J = F = 1, J_cc = 0 (the official rules)
            y0, y1, x0, x1 = box
            cg = mg[y0:y1, x0:x1]
            cp = mp[y0:y1, x0:x1]
            inter = int(np.count_nonzero(cg & cp))
            union = int(np.count_nonzero(cg | cp))
            J[row, col] = inter / union
            F[row, col] = f_measure(cp, cg, radius)
            if Jcc is not None:
                Jcc[row, col] = jcc_fn(cg, cp, inter, union)

    if unknown_frames:
        shown = ", ".join(f"{s}.png" for s in unknown_frames[:MAX_FRAMES_SHOWN])
        more = f" and {len(unknown_frames) - MAX_FRAMES_SHOWN} more" if len(unknown_frames) > MAX_FRAMES_SHOWN else ""
        valid = f"1..{n_obj}" if n_obj else "none: the first annotated frame is empty"
        warnings.append(f"{task.pred_dir}: prediction id(s) {sorted(unknown_ids)} are not ground-truth objects "
                        f"({valid}) in {shown}{more}; scored as background (--strict makes this an error)")
    if missing_frames:
        shown = ", ".join(f"{s}.png" for s in missing_frames[:MAX_FRAMES_SHOWN])
        more = f" and {len(missing_frames) - MAX_FRAMES_SHOWN} more" if len(missing_frames) > MAX_FRAMES_SHOWN else ""
        if pngs or task.pred_dir.is_dir():
            warnings.append(f"{task.pred_dir}: missing prediction frame(s) {shown}{more} scored as empty "
                            "(--missing empty)")
    return VideoScore(name=task.name, object_ids=object_ids, frames=[gt_stems[t] for t in scored],
                      J=J, F=F, J_cc=Jcc, warnings=warnings)
