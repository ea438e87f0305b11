"""Check that a dataset on disk is whole and usable, and say exactly what to fix.

Every problem is one `Problem` (a code, the file, what is wrong, how to fix it). Masks are
decoded (their ids and sizes matter); frames are checked from their headers and, for JPEGs,
their end-of-image marker, which catches truncated downloads without decoding 200k images. When
a manifest exists, sizes and sha256 digests are compared too.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from m3vos.errors import BadInputError
from m3vos.utils.workers import default_workers

#: Problem codes, what they mean (shown in the summary table and docs/data.md).
PROBLEM_CODES: dict[str, str] = {
    "layout": "the root is not a dataset layout m3vos knows",
    "split": "the split file lists a name twice or is unusable",
    "missing_video": "a listed video has no annotation folder",
    "missing_frames": "a video has no RGB frames",
    "missing_masks": "a video has no annotation PNGs",
    "unpaired": "frame and mask file names (stems) do not pair up",
    "mask_mode": "a mask is not a palette or grayscale PNG (e.g. RGB)",
    "unreadable": "a file is empty, truncated or not an image",
    "size_mismatch": "a mask or frame differs in size from the rest of its video",
    "first_frame": "the first frame has no annotation (no object)",
    "short_video": "a video has fewer than 3 annotated frames (the protocol scores none: score refuses it)",
    "ids_mismatch": "object ids in the masks differ from meta/target_object.json",
    "checksum": "a file differs from the manifest (size or sha256) or is missing",
}
WARNING_CODES: dict[str, str] = {
    "unlisted": "an annotation folder is not in the split file",
    "unlabelled": "an object has no phase-transition label",
    "not_in_manifest": "a file is not in the manifest",
    "no_manifest": "no manifest: checksums were not checked",
    "void": "masks contain void (255) pixels",
    "sparse": "a DAVIS-style, YouTube-VOS or MOSE video annotates only some frames",
    "short_video": "a DAVIS-style video has fewer than 3 annotated frames: it can be run, not scored",
}


@dataclass(frozen=True)
class Problem:
    code: str
    path: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.code}: {self.path}: {self.message} (fix: {self.fix})"


@dataclass
class VerifyReport:
    root: str
    layout: str | None = None
    split: str | None = None
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        out = {code: 0 for code in PROBLEM_CODES}
        for p in self.problems:
            out[p.code] = out.get(p.code, 0) + 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"schema": "m3vos-verify/1", "root": self.root, "layout": self.layout, "split": self.split,
                "ok": self.ok, "counts": self.counts(), "stats": self.stats,
                "problems": [asdict(p) for p in self.problems],
                "warnings": [asdict(p) for p in self.warnings]}


@dataclass
class _VideoResult:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    n_frames: int = 0
    n_masks: int = 0
    ids: set[int] = field(default_factory=set)


_REDOWNLOAD = "re-download the dataset (`m3vos data download`) or restore this file"


def _jpeg_complete(path: Path) -> bool:
    """True when the end-of-image marker is in the last KiB (it cannot occur inside scan data,
    where 0xFF is always stuffed; a little padding after it is tolerated)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(max(0, size - 1024))
        tail = f.read()
    return b"\xff\xd9" in tail


def _check_frame(path: Path) -> tuple[tuple[int, int] | None, Problem | None]:
    from PIL import Image

    from m3vos.data.png import MAX_MASK_PIXELS, PNG_SIGNATURE, sniff_format

    try:
        if path.stat().st_size == 0:
            return None, Problem("unreadable", str(path), "empty file", _REDOWNLOAD)
        if path.suffix.lower() == ".png":
            with open(path, "rb") as f:
                head = f.read(16)
            if not head.startswith(PNG_SIGNATURE):
                fmt = sniff_format(head)
                return None, Problem("mask_mode", str(path), f"{'a ' + fmt + ' file' if fmt else 'not a PNG file'} "
                                     "named .png", "save it as a PNG")
        with Image.open(path) as im:
            w, h = im.size
            fmt = im.format
        if fmt == "JPEG" and not _jpeg_complete(path):
            return (h, w), Problem("unreadable", str(path), "truncated JPEG (no end-of-image marker)", _REDOWNLOAD)
        return (h, w), None
    except Image.DecompressionBombError:
        return None, Problem("unreadable", str(path), f"image is too large to decode (more than {MAX_MASK_PIXELS:,} "
                             "pixels, PIL's decompression-bomb limit)", _REDOWNLOAD)
    except (OSError, ValueError, SyntaxError) as exc:
        return None, Problem("unreadable", str(path), f"not a readable image ({exc.__class__.__name__})",
                             _REDOWNLOAD)


def _check_mask(path: Path) -> tuple[np.ndarray | None, tuple[int, int] | None, Problem | None]:
    """(histogram of ids, (H, W), problem), decoded exactly as `m3vos score` decodes it."""
    from m3vos.data.masks import MaskModeError, read_mask

    try:
        ids = read_mask(path)
    except MaskModeError as exc:
        return None, exc.shape, Problem("mask_mode", str(path), exc.message,
                                        "convert it to a palette PNG whose indices are object ids (0 background, "
                                        "255 void)")
    except BadInputError as exc:
        return None, None, Problem("unreadable", str(path), exc.message, _REDOWNLOAD)
    return np.bincount(ids.ravel(), minlength=256), ids.shape, None


#: Layouts whose videos may annotate only some frames (DAVIS test-dev, YouTube-VOS, MOSE valid).
SPARSE_LAYOUTS = ("davis", "ytvos", "mose")


def _verify_video(video: Any, quick: bool, sparse_ok: bool = False) -> _VideoResult:
    res = _VideoResult()
    name = video.name
    ann = video.annotations_dir
    if not ann.is_dir():
        res.problems.append(Problem("missing_video", str(ann), f"video {name!r} is in the split but has no "
                                    "annotation folder", "re-download it or remove the name from the split file"))
        return res
    try:
        masks = video.mask_paths
    except BadInputError as exc:      # e.g. x.png beside x.PNG
        res.problems.append(Problem("unpaired", str(exc.path or ann), exc.message, exc.hint or _REDOWNLOAD))
        return res
    frames = video.frame_paths
    res.n_masks, res.n_frames = len(masks), len(frames)
    if not masks:
        res.problems.append(Problem("missing_masks", str(ann), f"video {name!r} has no annotation PNGs",
                                    _REDOWNLOAD))
    elif len(masks) < 3:
        # A sparsely annotated DAVIS-style set can still be run; scoring it needs full masks.
        (res.warnings if sparse_ok else res.problems).append(Problem("short_video", str(ann), f"video {name!r} has {len(masks)} annotated "
                                    "frame(s); scoring skips the first and the last, so `m3vos score` "
                                    "refuses it", "restore its masks, or remove it from the split file"))
    if video.images_dir is not None and not frames:
        where = video.images_dir
        res.problems.append(Problem("missing_frames", str(where), f"video {name!r} has no frames "
                                    "(.jpg/.jpeg/.png)", _REDOWNLOAD))
    if masks and frames:
        fs, ms = {p.stem for p in frames}, {p.stem for p in masks}
        only_m, only_f = sorted(ms - fs), sorted(fs - ms)
        if only_m:
            res.problems.append(Problem("unpaired", str(ann / f"{only_m[0]}.png"),
                                        f"{len(only_m)} mask(s) without a frame of the same name "
                                        f"(first: {only_m[0]})", "rename the masks after their frames (e.g. "
                                        "0000000.png for 0000000.jpg) or restore the missing frames"))
        if only_f:
            where = str(video.images_dir / only_f[0]) if video.images_dir else name
            if sparse_ok:   # DAVIS-style sets may annotate only some frames (e.g. the first)
                res.warnings.append(Problem("sparse", where, f"{len(only_f)} frame(s) without a mask "
                                            f"(first: {only_f[0]})", "none needed for a sparsely annotated set"))
            else:
                res.problems.append(Problem("unpaired", where, f"{len(only_f)} frame(s) without a mask "
                                            f"(first: {only_f[0]}); M3-VOS annotates every frame",
                                            "restore the missing masks"))
    size: tuple[int, int] | None = None
    first_hist: np.ndarray | None = None
    void = 0
    for i, p in enumerate(masks):
        hist, shape, prob = (None, None, None)
        if quick and i > 0:
            shape, prob = _check_frame(p)
        else:
            hist, shape, prob = _check_mask(p)
        if prob:
            res.problems.append(prob)
        if shape is not None:
            if size is None:
                size = shape
            elif shape != size:
                res.problems.append(Problem("size_mismatch", str(p), f"mask is {shape[0]}x{shape[1]}, "
                                            f"the video's first mask is {size[0]}x{size[1]}",
                                            "resize it (nearest neighbour) to the video's size or re-download"))
        if hist is not None:
            if i == 0:
                first_hist = hist
            void += int(hist[255])
            res.ids.update(int(k) for k in np.nonzero(hist[1:255])[0] + 1)
    if masks and first_hist is not None and not first_hist[1:255].any():
        res.problems.append(Problem("first_frame", str(masks[0]), "the first annotated frame has no object "
                                    "(all background/void), so no object can be tracked or scored",
                                    "annotate the objects in the first frame"))
    if frames and masks and frames[0].stem != masks[0].stem:
        res.problems.append(Problem("first_frame", str(frames[0]), f"the first frame {frames[0].stem} has no "
                                    f"mask (masks start at {masks[0].stem})", "add the first frame's mask"))
    if void:
        res.warnings.append(Problem("void", str(ann), f"{void} void (255) pixels", "none needed: void is "
                                    "treated as the official evaluator does"))
    step = 1 if not quick else max(1, len(frames) // 8)
    for p in frames[::step]:
        shape, prob = _check_frame(p)
        if prob:
            res.problems.append(prob)
        elif size is not None and shape is not None and shape != size:
            res.problems.append(Problem("size_mismatch", str(p), f"frame is {shape[0]}x{shape[1]}, its masks "
                                        f"are {size[0]}x{size[1]}", "re-download the frames or masks of this video"))
    return res


def _check_manifest(root: Path, manifest: dict[str, Any], quick: bool, workers: int,
                    tick: Callable[[], None] | None = None) -> tuple[list[Problem], list[Problem]]:
    from m3vos.data.manifest import iter_data_files
    from m3vos.utils.atomic import sha256_file

    from m3vos.data.layout import MANIFEST_NAME
    from m3vos.data.manifest import inside, is_data_file

    problems: list[Problem] = []
    listed = {}
    manifest_path = root / MANIFEST_NAME
    for i, entry in enumerate(manifest["files"]):
        why = _bad_entry(entry)
        if why is None and not inside(root, root / entry["path"]):
            why = f"entry {entry['path']!r} points outside the dataset"
        if why is not None:
            problems.append(Problem("checksum", str(manifest_path), f"manifest entry {i}: {why}",
                                    "delete the manifest and rerun `m3vos data verify --write-manifest` on "
                                    "data you trust, or re-download the dataset"))
            continue
        listed[entry["path"]] = entry

    def check(entry: dict[str, Any]) -> Problem | None:
        p = root / entry["path"]
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            return Problem("checksum", str(p), "file listed in the manifest is missing", _REDOWNLOAD)
        except OSError as exc:
            return Problem("checksum", str(p), f"unreadable ({exc.strerror or exc})", _REDOWNLOAD)
        if not is_data_file(root, p):
            return Problem("checksum", str(p), "not a regular file (a FIFO, device or link out of the "
                           "dataset)", "remove it and restore the file")
        if size != entry["size"]:
            return Problem("checksum", str(p), f"size {size} differs from the manifest's {entry['size']}",
                           _REDOWNLOAD)
        if not quick and sha256_file(p) != entry["sha256"]:
            return Problem("checksum", str(p), "sha256 differs from the manifest (the file changed or is "
                           "corrupt)", _REDOWNLOAD)
        return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for prob in pool.map(check, listed.values()):
            if prob:
                problems.append(prob)
            if tick:
                tick()
    extra = [p for p in iter_data_files(root) if p.relative_to(root).as_posix() not in listed]
    warnings = []
    if extra:
        warnings.append(Problem("not_in_manifest", str(extra[0]), f"{len(extra)} file(s) not in the manifest "
                                f"(first: {extra[0].relative_to(root)})",
                                "ignore if you added them on purpose; else remove them"))
    return problems, warnings


def _bad_entry(entry: Any) -> str | None:
    """Why a manifest entry is malformed (not {path, size, sha256} with a relative path), or None."""
    if not isinstance(entry, dict):
        return f"not an object ({type(entry).__name__})"
    path, size, digest = entry.get("path"), entry.get("size"), entry.get("sha256")
    if not isinstance(path, str) or not path or "\x00" in path:
        return "no path"
    if path.startswith("/") or ".." in path.replace("\\", "/").split("/"):
        return f"path {path!r} is absolute or goes up with '..'"
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"no valid size for {path!r}"
    if not isinstance(digest, str) or len(digest) != 64:
        return f"no valid sha256 for {path!r}"
    return None


def verify_dataset(root: str | os.PathLike[str] | None = None, *, split: str = "val",
                   labels_dir: str | os.PathLike[str] | None = None, quick: bool = False,
                   workers: int | None = None, progress: bool | None = None,
                   allow: tuple[str, ...] = (), write_manifest: bool = False) -> VerifyReport:
    """Check a dataset root; never raises for data problems (they are in the report).

    Codes in `allow` are reported as warnings instead of problems (e.g. `ids_mismatch` for a
    release known to disagree with its own metadata). `write_manifest`: when the dataset is
    clean, (re)write its manifest so later runs check checksums (`stats["manifest_written"]`).
    """
    unknown = [c for c in allow if c not in PROBLEM_CODES]
    if unknown:
        raise BadInputError(f"unknown problem code(s) {', '.join(unknown)}",
                            hint=f"use one of {', '.join(PROBLEM_CODES)}")
    report = _verify(root, split=split, labels_dir=labels_dir, quick=quick, workers=workers, progress=progress)
    if allow:
        report.warnings.extend(p for p in report.problems if p.code in allow)
        report.problems = [p for p in report.problems if p.code not in allow]
        report.stats["allowed"] = list(allow)
    if write_manifest and report.ok:
        from m3vos.data.manifest import write_manifest as _write

        _write(Path(report.root), source={"kind": "verify"})
        report.stats["manifest_written"] = True
    return report


def _verify(root: str | os.PathLike[str] | None, *, split: str, labels_dir: str | os.PathLike[str] | None,
            quick: bool, workers: int | None, progress: bool | None) -> VerifyReport:
    from m3vos.data.config import resolve_data_root
    from m3vos.data.dataset import open_dataset
    from m3vos.data.manifest import read_manifest
    from m3vos.utils.progress import make_progress

    t0 = time.perf_counter()
    root_path = resolve_data_root(root)
    report = VerifyReport(root=str(root_path))
    workers = default_workers(None, workers)
    try:
        ds = open_dataset(root_path, split=split, labels_dir=labels_dir)
    except BadInputError as exc:
        code = "layout" if "layout" in exc.message or "root" in exc.message else "split"
        report.problems.append(Problem(code, str(exc.path or root_path), exc.message,
                                       exc.hint or "point at a dataset root"))
        report.stats["seconds"] = round(time.perf_counter() - t0, 3)
        return report
    report.root, report.layout, report.split = str(ds.root), ds.layout, ds.split
    for dup in ds.duplicate_names:
        report.problems.append(Problem("split", str(ds.layout_info.split_file(split)),
                                       f"video {dup!r} is listed more than once", "delete the repeated line"))
    if ds.images_dir is None:
        report.problems.append(Problem("missing_frames", str(ds.root), "no JPEGImages folder: frames are "
                                       "missing for every video", "download the frames too (scoring alone "
                                       "does not need them, running a tracker does)"))
    listed = set(ds.video_names)
    try:
        folders = sorted(e.name for e in os.scandir(ds.annotations_dir) if e.is_dir() and not e.name.startswith("."))
    except OSError:
        folders = []
    unlisted = [f for f in folders if f not in listed]
    if unlisted:
        report.warnings.append(Problem("unlisted", str(ds.annotations_dir / unlisted[0]),
                                       f"{len(unlisted)} annotation folder(s) not in the split (first: {unlisted[0]})",
                                       "ignore, or add them to the split file"))

    totals = {"videos": len(ds), "frames": 0, "masks": 0}
    video_ids: dict[str, set[int]] = {}
    with make_progress(enabled=progress) as bar:
        task = bar.add_task("verify", total=len(ds), status="")
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for video, res in zip(ds, pool.map(lambda v: _verify_video(v, quick, ds.layout in SPARSE_LAYOUTS), ds)):
                report.problems.extend(res.problems)
                report.warnings.extend(res.warnings)
                totals["frames"] += res.n_frames
                totals["masks"] += res.n_masks
                video_ids[video.name] = res.ids
                bar.update(task, advance=1)

        _check_metadata(ds, video_ids, report, quick)
        try:
            manifest = read_manifest(ds.root)
        except BadInputError as exc:
            report.problems.append(Problem("checksum", str(exc.path), exc.message, exc.hint or _REDOWNLOAD))
            manifest = None
        if manifest is None:
            report.warnings.append(Problem("no_manifest", str(ds.manifest_path), "no manifest, checksums not "
                                           "checked", "run `m3vos data verify --write-manifest` once the data is "
                                           "known to be good"))
        else:
            mtask = bar.add_task("checksums", total=len(manifest["files"]), status="")
            probs, warns = _check_manifest(ds.root, manifest, quick, workers,
                                           tick=lambda: bar.update(mtask, advance=1))
            report.problems.extend(probs)
            report.warnings.extend(warns)
            totals["manifest_files"] = len(manifest["files"])

    report.stats = {**totals, "seconds": round(time.perf_counter() - t0, 3), "quick": quick}
    return report


def _check_metadata(ds: Any, video_ids: dict[str, set[int]], report: VerifyReport, quick: bool) -> None:
    """Object ids in masks versus meta/target_object.json, and objects without labels."""
    try:
        labels = ds.labels
    except BadInputError as exc:
        report.problems.append(Problem("ids_mismatch", str(exc.path or ds.root), exc.message, exc.hint or ""))
        return
    meta_ids = labels.target_ids
    if meta_ids is not None:
        src = labels.sources.get("target_object", "meta/target_object.json")
        for name, ids in video_ids.items():
            if name not in meta_ids:
                if ids:
                    report.problems.append(Problem("ids_mismatch", src, f"video {name!r} is not in the metadata",
                                                   "re-download meta/ with the data"))
                continue
            want = set(meta_ids[name])
            # --quick decodes only the first mask: then ids seen must be a subset of the metadata's.
            if ids and (not ids <= want if quick else want != ids):
                report.problems.append(Problem(
                    "ids_mismatch", str(ds.annotations_dir / name),
                    f"masks hold object ids {sorted(ids)}, the metadata lists {sorted(want)}",
                    "re-download this video and meta/, or fix the masks' ids"))
    unlabelled = []
    for name, ids in video_ids.items():
        for k in sorted(ids):
            if f"{name}_{k}" not in labels.phase:
                unlabelled.append(f"{name}_{k}")
    if unlabelled and ds.benchmark.groups:   # only M3-VOS has phase-transition labels
        report.warnings.append(Problem(
            "unlabelled", labels.sources.get("phase", "(no label file)"),
            f"{len(unlabelled)} object(s) without a phase-transition label (first: {unlabelled[0]})",
            "fetch the official labels with `m3vos data labels`, or pass --labels DIR"))
