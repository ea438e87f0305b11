"""The scoring engine: one task per video over a process pool, results assembled in set order.

Each worker decodes a video's PNGs once and computes every per-frame measure from the same
arrays (`m3vos.metrics.video`); statistics and means are computed afterwards in the parent,
from the per-frame values, so the numbers do not depend on the number of workers or on the
order in which videos finish.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, Sequence

from m3vos.errors import BadInputError
from m3vos.metrics.contract import dataset_fingerprint, read_run_record
from m3vos.metrics.protocols import ScoreOptions
from m3vos.metrics.results import ScoreResult
from m3vos.metrics.video import VideoScore, VideoTask, is_junk, score_video
from m3vos.utils.pool import pool_map


class DatasetLike(Protocol):
    """What the engine needs from a dataset (`m3vos.data.dataset.Dataset` has it)."""

    video_names: list[str]

    def video(self, name: str) -> Any: ...

    def identity(self) -> dict[str, Any]: ...


def select_videos(dataset: DatasetLike, videos: Sequence[str] | None) -> list[str]:
    """The set's videos in set order, restricted to `videos` (order of `videos` does not matter)."""
    names = list(dataset.video_names)
    if not videos:
        return names
    wanted = {v.strip() for v in videos if v.strip()}
    unknown = sorted(wanted - set(names))
    if unknown:
        shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
        raise BadInputError(f"video(s) {', '.join(unknown)} are not in the set ({len(names)} videos: {shown})",
                            hint="check the names against the split file (--split) or drop --videos")
    return [n for n in names if n in wanted]


def _check_prediction_root(preds: Path, names: list[str], options: ScoreOptions) -> None:
    if not preds.exists():
        raise BadInputError("prediction folder does not exist", path=preds,
                            hint="pass the folder that holds one <video>/ folder of PNG masks per video")
    if not preds.is_dir():
        raise BadInputError("predictions must be a folder, not a file", path=preds,
                            hint="pass the folder that holds one <video>/ folder of PNG masks per video")
    present = {e.name for e in os.scandir(preds) if e.is_dir() and not is_junk(e.name)}
    if not present & set(names):
        # Even with --missing empty: it fills gaps, it does not turn an empty folder into a score.
        found = ", ".join(sorted(present)[:8]) or "no video folders"
        raise BadInputError(f"no prediction folder matches any of the {len(names)} videos of the set "
                            f"(found: {found}; expected e.g. {names[0]}/)", path=preds,
                            hint="point at the folder holding <video>/<frame>.png, or pass --data for the "
                                 "dataset these predictions belong to (--missing empty fills gaps, it "
                                 "needs at least one video's predictions)")


def _frame_stems(video: Any) -> frozenset[str]:
    paths = getattr(video, "frame_paths", None) or []
    return frozenset(Path(p).stem for p in paths)


def score_predictions(preds: str | os.PathLike[str], dataset: DatasetLike, *, protocol: str = "m3vos",
                      videos: Sequence[str] | None = None, workers: int | None = None,
                      jcc: str = "hungarian", void_aware: bool = False, compat_decay: bool = False,
                      missing: str = "error", strict: bool = False,
                      on_video_done: Callable[[str], None] | None = None,
                      on_start: Callable[[], None] | None = None) -> ScoreResult:
    """Score a folder of `<video>/<frame>.png` predictions against `dataset`.

    `protocol` is `m3vos` (official M3-VOS evaluator rules plus F/J&F as an extension) or
    `davis` (davis2017-evaluation). A user mistake raises `BadInputError` naming the file.
    `on_start()` is called once the workers exist (start progress displays there: their
    threads are then not copied into the workers), `on_video_done(name)` after each video.
    """
    options = ScoreOptions(protocol=protocol, jcc=jcc, void_aware=void_aware, compat_decay=compat_decay,
                           missing=missing, strict=strict)
    preds = Path(preds)
    names = select_videos(dataset, videos)
    _check_prediction_root(preds, names, options)
    warnings: list[str] = []
    tasks = []
    for name in names:
        video = dataset.video(name)
        tasks.append(VideoTask(name=name, gt_paths=tuple(video.mask_paths), pred_dir=preds / name,
                               options=options, frame_stems=_frame_stems(video),
                               gt_dir=video.annotations_dir))
    scores = {s.name: s for s in _run(tasks, workers, on_video_done, on_start)}
    ordered = [scores[n] for n in names]
    for s in ordered:
        warnings.extend(s.warnings)
    identity = dict(dataset.identity())
    # what ground truth was scored, so that runs on different data are never compared (contract)
    identity["fingerprint"] = dataset_fingerprint(dataset, names)
    return ScoreResult(options=options, dataset=identity, videos=ordered, warnings=warnings,
                       predictions=str(preds.resolve()), run=read_run_record(preds))


def _run(tasks: list[VideoTask], workers: int | None, on_done: Callable[[str], None] | None,
         on_start: Callable[[], None] | None = None) -> Iterable[VideoScore]:
    # Longest videos first: the pool's wall time is bounded by the last long video to start.
    order = sorted(tasks, key=lambda t: -len(t.gt_paths))
    for score in pool_map(score_video, order, workers=workers, ordered=False, on_start=on_start):
        if on_done:
            on_done(score.name)
        yield score
