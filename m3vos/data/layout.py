"""Recognise how a dataset root is laid out on disk.

Three layouts occur in the wild for M3-VOS and its relatives:

- `hf`: the Hugging Face release, `data/{JPEGImages,Annotations,ImageSets/val.txt}` beside
  `meta/` (a root pointing at that `data/` folder is accepted too);
- `vost`: the layout the official docs describe, `{JPEGImages,Annotations}/<seq>` and
  `ImageSets/val.txt`;
- `davis`: `Annotations/480p/<seq>` or `Annotations/<seq>` with `ImageSets/2017/val.txt`;
- `ytvos`: YouTube-VOS, one folder per split (`train/`, `valid/`, `test/`) each holding
  `JPEGImages/`, `Annotations/` (sparse) and `meta.json`;
- `mose`: MOSE, the same split folders without `meta.json`.

Detection only looks at folder names and a few `stat` calls, so it is cheap on the full release.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from m3vos.errors import BadInputError

MANIFEST_NAME = "m3vos_manifest.json"

EXPECTED = ("data/Annotations + data/ImageSets/<split>.txt (Hugging Face release), "
            "Annotations + ImageSets/<split>.txt (VOST-like), "
            "Annotations[/480p] + ImageSets/2017/<split>.txt (DAVIS-style), "
            "<split>/{JPEGImages,Annotations}[+ meta.json] (YouTube-VOS / MOSE)")

#: Split folders of the YouTube-VOS and MOSE releases; `--split val` also finds `valid/`.
SPLIT_FOLDERS = ("train", "valid", "val", "test", "test-dev")
SPLIT_ALIASES = {"val": ("val", "valid"), "valid": ("valid", "val"), "test": ("test", "test-dev")}
YTVOS_META = "meta.json"


@dataclass(frozen=True)
class Layout:
    """Where the parts of one dataset root are."""

    name: str                    # "hf" | "vost" | "davis"
    root: Path
    annotations_dir: Path
    images_dir: Path | None
    imagesets_dir: Path          # folder holding the split files
    meta_dir: Path | None        # `meta/` with target_object.json etc., when present
    notes: tuple[str, ...] = field(default=())
    #: YouTube-VOS / MOSE: the split folders found (`annotations_dir` etc. are per split,
    #: see `for_split`); empty for layouts with split files.
    split_folders: tuple[str, ...] = field(default=())

    def split_file(self, split: str) -> Path:
        return self.imagesets_dir / f"{split}.txt"

    def available_splits(self) -> list[str]:
        if self.split_folders:
            return list(self.split_folders)
        if not self.imagesets_dir.is_dir():
            return []
        return sorted(p.stem for p in self.imagesets_dir.glob("*.txt"))

    def for_split(self, split: str) -> "Layout":
        """A split-folder layout narrowed to one split (`val` finds `valid/`); others unchanged."""
        if not self.split_folders:
            return self
        for name in SPLIT_ALIASES.get(split, (split,)):
            if name in self.split_folders:
                folder = self.imagesets_dir / name
                images = folder / "JPEGImages"
                return Layout(self.name, self.root, folder / "Annotations", images if images.is_dir() else None,
                              folder, self.meta_dir, self.notes + (f"split folder {name}/",),
                              split_folders=self.split_folders)
        raise BadInputError(f"no split {split!r}: found {', '.join(self.split_folders)}",
                            path=self.root, hint=f"pass one of --split {' / '.join(self.split_folders)}")


def _found(root: Path) -> str:
    try:
        names = sorted(e.name + ("/" if e.is_dir() else "") for e in os.scandir(root)
                       if not e.name.startswith("."))
    except OSError:
        return "nothing readable"
    if not names:
        return "an empty folder"
    shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
    return shown


def detect_layout(root: str | os.PathLike[str]) -> Layout:
    """The `Layout` of `root`; unknown or ambiguous roots raise `BadInputError`."""
    root = Path(root).expanduser()
    if not root.exists():
        raise BadInputError("dataset root does not exist", path=root,
                            hint="pass the folder holding Annotations/ (or data/Annotations/), "
                                 "or run `m3vos data download`")
    if not root.is_dir():
        raise BadInputError("dataset root is not a folder", path=root,
                            hint="pass the dataset folder, not a file inside it")

    hf_ann = root / "data" / "Annotations"
    plain_ann = root / "Annotations"
    if hf_ann.is_dir() and plain_ann.is_dir():
        raise BadInputError(
            "ambiguous dataset layout: both data/Annotations and Annotations exist",
            path=root, hint="pass the folder of the copy you mean (e.g. ROOT/data or a clean root)")
    if hf_ann.is_dir():
        return _hf_layout(root)
    if plain_ann.is_dir():
        # A root pointing at the release's `data/` folder: keep the release's meta/ in view.
        if root.name == "data" and (root.parent / "meta").is_dir() and (root / "ImageSets").is_dir():
            return _hf_layout(root.parent, notes=(f"root given as {root}; using its parent",))
        # One YouTube-VOS split folder given directly (e.g. ROOT/valid): its meta.json says so.
        if (root / YTVOS_META).is_file() and not (root / "ImageSets").exists() \
                and root.name in SPLIT_FOLDERS:
            return _split_folder_layout(root.parent, only=root.name) or _plain_layout(root, plain_ann)
        return _plain_layout(root, plain_ann)
    folders = _split_folder_layout(root)
    if folders is not None:
        return folders
    raise BadInputError(
        f"unknown dataset layout: found {_found(root)}; expected {EXPECTED}", path=root,
        hint="point at the dataset root, or fetch one with `m3vos data download` / `m3vos data synth DIR`")


def _hf_layout(root: Path, notes: tuple[str, ...] = ()) -> Layout:
    data = root / "data"
    images = data / "JPEGImages"
    meta = root / "meta"
    return Layout("hf", root, data / "Annotations", images if images.is_dir() else None,
                  data / "ImageSets", meta if meta.is_dir() else None, notes)


def _plain_layout(root: Path, ann: Path) -> Layout:
    imagesets = root / "ImageSets"
    davis_sets = imagesets / "2017"
    meta = root / "meta"
    meta_dir = meta if meta.is_dir() else None
    has_vost_split = imagesets.is_dir() and any(imagesets.glob("*.txt"))
    has_davis_split = davis_sets.is_dir() and any(davis_sets.glob("*.txt"))

    if (ann / "480p").is_dir():
        images = root / "JPEGImages" / "480p"
        if not images.is_dir():
            images = root / "JPEGImages"
        return Layout("davis", root, ann / "480p", images if images.is_dir() else None,
                      davis_sets, meta_dir)
    if has_vost_split and has_davis_split:
        raise BadInputError(
            "ambiguous dataset layout: split files in both ImageSets/ (VOST-like) and "
            "ImageSets/2017/ (DAVIS-style)", path=root,
            hint="remove the split files of the layout you do not use")
    images = root / "JPEGImages"
    images_dir = images if images.is_dir() else None
    if has_davis_split or davis_sets.is_dir():
        return Layout("davis", root, ann, images_dir, davis_sets, meta_dir)
    return Layout("vost", root, ann, images_dir, imagesets, meta_dir)


def _split_folder_layout(root: Path, only: str | None = None) -> Layout | None:
    """YouTube-VOS (split folders with meta.json) or MOSE (without); None when neither."""
    found = tuple(n for n in SPLIT_FOLDERS if (root / n / "Annotations").is_dir() and (only in (None, n)))
    if not found:
        return None
    kind = "ytvos" if any((root / n / YTVOS_META).is_file() for n in found) else "mose"
    first = root / found[0]
    images = first / "JPEGImages"
    meta = root / "meta"
    return Layout(kind, root, first / "Annotations", images if images.is_dir() else None, root,
                  meta if meta.is_dir() else None, split_folders=found)
