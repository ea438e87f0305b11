"""The dataset model every other part of m3vos reads data through.

`open_dataset` finds the layout and the split list and nothing else: frames, masks and labels
are read only when asked for, so opening the full release (200k PNGs) costs a few `stat`s.
"""

from __future__ import annotations

import os
import re
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from m3vos.data.labels import TargetObject, labels_for_dataset
from m3vos.data.layout import MANIFEST_NAME, Layout, detect_layout
from m3vos.errors import BadInputError

FPS = 30
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


def _list_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    try:
        entries = [e.name for e in os.scandir(folder)
                   if not e.name.startswith(".") and e.name.lower().endswith(suffixes)]
    except FileNotFoundError:
        return []
    except NotADirectoryError:
        return []
    seen: dict[str, str] = {}
    for n in sorted(entries):
        stem = os.path.splitext(n)[0]
        if stem in seen and suffixes == (".png",):
            raise BadInputError(f"two masks for frame {stem}: {seen[stem]} and {n}", path=folder / n,
                                hint="keep one of them (names differ only in the case of the extension)")
        seen.setdefault(stem, n)
    return [folder / n for n in sorted(entries)]


class Video:
    """One sequence: its mask and frame files, read lazily."""

    fps: int = FPS

    def __init__(self, dataset: "Dataset", name: str) -> None:
        self.dataset = dataset
        self.name = name

    def __repr__(self) -> str:
        return f"Video({self.name!r})"

    @property
    def annotations_dir(self) -> Path:
        return self.dataset.annotations_dir / self.name

    @property
    def images_dir(self) -> Path | None:
        return self.dataset.images_dir / self.name if self.dataset.images_dir is not None else None

    @cached_property
    def mask_paths(self) -> list[Path]:
        """Sorted ground-truth PNGs; a missing folder is a `BadInputError` naming it."""
        folder = self.annotations_dir
        if not folder.is_dir():
            raise BadInputError(f"video {self.name!r} is listed in the split but has no annotation folder",
                                path=folder, hint="re-download the dataset or remove the name from the split file")
        return _list_files(folder, (".png",))

    @cached_property
    def frame_paths(self) -> list[Path]:
        """Sorted RGB frames (empty for score-only roots without JPEGImages)."""
        if self.images_dir is None:
            return []
        return _list_files(self.images_dir, FRAME_SUFFIXES)

    @property
    def stems(self) -> list[str]:
        return [p.stem for p in self.mask_paths]

    @property
    def n_frames(self) -> int:
        return len(self.frame_paths) or len(self.mask_paths)

    @cached_property
    def size(self) -> tuple[int, int]:
        """(H, W), from the header of the first mask (or frame)."""
        from PIL import Image

        paths = self.mask_paths or self.frame_paths
        if not paths:
            raise BadInputError(f"video {self.name!r} has no mask or frame files", path=self.annotations_dir,
                                hint="re-download the dataset")
        try:
            with Image.open(paths[0]) as im:
                w, h = im.size
        except (OSError, ValueError) as exc:
            raise BadInputError(f"unreadable image ({exc.__class__.__name__})", path=paths[0],
                                hint="re-download this file") from None
        return (h, w)

    def first_mask(self) -> np.ndarray:
        from m3vos.data.masks import read_mask

        if not self.mask_paths:
            raise BadInputError(f"video {self.name!r} has no annotation PNGs", path=self.annotations_dir,
                                hint="the first frame must be annotated; re-download the dataset")
        return read_mask(self.mask_paths[0])

    @cached_property
    def object_ids(self) -> list[int]:
        """1..max id of the first annotated frame (void 255 ignored): the official evaluator's rule.

        YouTube-VOS lists its objects (some first seen later) in meta.json: those ids instead.
        """
        from m3vos.data.masks import VOID_ID

        listed = self.dataset.listed_objects(self.name)
        if listed:
            return listed
        first = self.first_mask()
        ids = first[first != VOID_ID]
        top = int(ids.max()) if ids.size else 0
        return list(range(1, top + 1))

    @property
    def objects(self) -> list[TargetObject]:
        return [self.dataset.target_object(self.name, k) for k in self.object_ids]


class Dataset:
    """A dataset root: its layout, its split's video list, and lazily its labels."""

    def __init__(self, layout: Layout, split: str, video_names: list[str], split_source: str,
                 *, labels_dir: Path | None = None, duplicates: list[str] | None = None,
                 benchmark: str | None = None) -> None:
        from m3vos.data.benchmarks import resolve_benchmark

        self._layout = layout
        self.benchmark = resolve_benchmark(layout.name, benchmark)
        self.split = split
        self.video_names = video_names
        self.split_source = split_source
        self.labels_dir = labels_dir
        self.duplicate_names = duplicates or []
        self._videos: dict[str, Video] = {}

    # --- layout ------------------------------------------------------------------------------
    @property
    def layout_info(self) -> Layout:
        return self._layout

    @property
    def root(self) -> Path:
        return self._layout.root

    @property
    def layout(self) -> str:
        return self._layout.name

    @property
    def annotations_dir(self) -> Path:
        return self._layout.annotations_dir

    @property
    def images_dir(self) -> Path | None:
        return self._layout.images_dir

    @property
    def meta_dir(self) -> Path | None:
        return self._layout.meta_dir

    @property
    def manifest_path(self) -> Path:
        return self.root / MANIFEST_NAME

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}, layout={self.layout!r}, split={self.split!r}, videos={len(self)})"

    # --- videos ------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.video_names)

    def __iter__(self) -> Iterator[Video]:
        return (self.video(n) for n in self.video_names)

    def __contains__(self, name: object) -> bool:
        return name in self._name_set

    @cached_property
    def _name_set(self) -> set[str]:
        return set(self.video_names)

    def video(self, name: str) -> Video:
        if name not in self._name_set:
            close = [n for n in self.video_names if name in n][:3]
            hint = (f"did you mean {', '.join(close)}?" if close
                    else f"the split file {self.layout_info.split_file(self.split)} lists the videos")
            raise BadInputError(f"no video {name!r} in split {self.split!r} of {self.root}", hint=hint)
        v = self._videos.get(name)
        if v is None:
            v = self._videos[name] = Video(self, name)
        return v

    @cached_property
    def ytvos_meta(self) -> dict[str, Any] | None:
        """The split's YouTube-VOS `meta.json` (videos -> objects -> frames), when there is one."""
        from m3vos.data.layout import YTVOS_META

        if not self._layout.split_folders:
            return None
        return _read_meta_json(self._layout.imagesets_dir / YTVOS_META)

    def listed_objects(self, video: str) -> list[int]:
        """Object ids meta.json lists for `video` (empty without meta.json)."""
        meta = self.ytvos_meta
        if not meta:
            return []
        objs = (meta.get("videos", {}).get(video) or {}).get("objects") or {}
        return sorted(int(k) for k in objs if str(k).isdigit())

    # --- labels ------------------------------------------------------------------------------
    @cached_property
    def labels(self) -> Any:
        """The `LabelSet` for this dataset (its own meta files, a labels folder, or the cache)."""
        return labels_for_dataset(self)

    def target_object(self, video: str, obj_id: int) -> TargetObject:
        return self.labels.target_object(video, obj_id)

    def objects(self) -> list[TargetObject]:
        """Every target object of the split (reads each video's first mask once)."""
        out: list[TargetObject] = []
        for v in self:
            out.extend(v.objects)
        return out

    # --- identity ----------------------------------------------------------------------------
    def manifest_sha256(self) -> str | None:
        from m3vos.utils.atomic import sha256_file

        return sha256_file(self.manifest_path) if self.manifest_path.is_file() else None

    def identity(self) -> dict[str, Any]:
        """What results and runs record about the data they came from."""
        ident: dict[str, Any] = {
            "root": str(self.root.resolve()),
            "layout": self.layout,
            "benchmark": self.benchmark.name,
            "split": self.split,
            "split_source": self.split_source,
            "n_videos": len(self),
            "manifest_sha256": self.manifest_sha256(),
        }
        if self._layout.notes:
            ident["notes"] = list(self._layout.notes)
        return ident


_SPLIT_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def _read_split(path: Path) -> tuple[list[str], list[str]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError("split file is not UTF-8 text", path=path, hint="one video name a line") from None
    names: list[str] = []
    seen: set[str] = set()
    dups: list[str] = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        if "/" in name or "\\" in name or name in (".", ".."):
            raise BadInputError(f"line {line_no}: {name!r} is not a video name (no paths allowed)", path=path,
                                hint="one video folder name a line")
        if name in seen:
            dups.append(name)
            continue
        seen.add(name)
        names.append(name)
    return names, dups


def _annotation_folders(ann: Path) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(ann) if e.is_dir() and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def _read_meta_json(path: Path) -> dict[str, Any] | None:
    import json

    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(f"meta.json is unreadable ({exc.__class__.__name__})", path=path,
                            hint="re-download the split's meta.json") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("videos"), dict):
        raise BadInputError("meta.json has no `videos` mapping", path=path,
                            hint="expected the YouTube-VOS format {\"videos\": {video: {\"objects\": ...}}}")
    return doc


def _split_folder_names(layout: Layout) -> tuple[list[str], str]:
    """YouTube-VOS / MOSE: meta.json's videos that have annotations, else every annotation folder."""
    from m3vos.data.layout import YTVOS_META

    folders = _annotation_folders(layout.annotations_dir)
    meta = _read_meta_json(layout.imagesets_dir / YTVOS_META)
    if meta is not None:
        have = set(folders)
        return ([n for n in sorted(meta["videos"]) if n in have],
                str((layout.imagesets_dir / YTVOS_META).relative_to(layout.root)))
    return folders, f"annotation folders of {layout.annotations_dir.relative_to(layout.root)}"


def open_dataset(root: str | os.PathLike[str] | None = None, *, split: str = "val",
                 labels_dir: str | os.PathLike[str] | None = None, benchmark: str | None = None) -> Dataset:
    """Open a dataset root (`None`: `M3VOS_DATA`, then the user config).

    `labels_dir` points at a folder holding the official label files (`all_phase_label.json`,
    the difficulty lists, `human_score/`); without it, the dataset's own `meta/` and the label
    cache are used. `benchmark` (`--dataset`: davis2017, vost, ytvos, mose, m3vos) says which
    benchmark the root holds, hence its protocol; by default it follows the layout
    (`m3vos.data.benchmarks`).
    """
    from m3vos.data.config import resolve_data_root

    if not _SPLIT_NAME.match(split):
        raise BadInputError(f"bad split name {split!r}", hint="use a plain name such as `val`")
    layout = detect_layout(resolve_data_root(root))
    if layout.split_folders:
        layout = layout.for_split(split)
        names, source = _split_folder_names(layout)
        if not names:
            raise BadInputError("no videos in this split folder", path=layout.annotations_dir,
                                hint="re-download the split")
        return Dataset(layout, split, names, source,
                       labels_dir=Path(labels_dir).expanduser() if labels_dir is not None else None,
                       benchmark=benchmark)
    split_file = layout.split_file(split)
    dups: list[str] = []
    if split_file.is_file():
        names, dups = _read_split(split_file)
        source = str(split_file.relative_to(layout.root))
        if not names:
            raise BadInputError("split file lists no videos", path=split_file,
                                hint="one video name a line, or delete it to use every annotation folder")
    else:
        others = layout.available_splits()
        if others:
            raise BadInputError(f"no split {split!r}: found {', '.join(others)}", path=split_file,
                                hint=f"pass one of --split {' / '.join(others)}")
        names = _annotation_folders(layout.annotations_dir)
        source = (f"annotation folders (no {split_file.relative_to(layout.root)}; "
                  f"every folder under {layout.annotations_dir.relative_to(layout.root)} is a video)")
        if not names:
            raise BadInputError("no videos: the annotation folder is empty and there is no split file",
                                path=layout.annotations_dir, hint="re-download the dataset")
    return Dataset(layout, split, names, source,
                   labels_dir=Path(labels_dir).expanduser() if labels_dir is not None else None,
                   duplicates=dups, benchmark=benchmark)


def benchmark_of(data: Any = None, *, split: str = "val", requested: str | None = None) -> Any:
    """The benchmark of a dataset root (opening it checks `--dataset` against its layout)."""
    return open_dataset(data, split=split, benchmark=requested).benchmark
