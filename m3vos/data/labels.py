"""The official M3-VOS label files: where to get them, how to read them, how to match them.

The labels are not part of the dataset release. They live in the official code repository
(`zixuan-chen/M3VOS_Experiment`, folder `methods/evaluation`), pinned here by commit and
sha256. Their traps are handled in one place:

- keys mix legacy unnumbered names (`open_mark_2_1`) and numbered ones (`0023_open_mark_2_1`):
  a key matches exactly first, then with a leading `NNNN_` stripped from both sides;
- one rating CSV (Zixuan's) has an extra trailing comma on its unrated rows; we drop it instead
  of letting the columns shift (the official scripts read it shifted, see docs/data.md);
- phase paths are misspelled in places (normalised, see `taxonomy.normalize_phase`);
- objects of the dataset that no label file knows are reported, never dropped silently.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable
from urllib.parse import quote

from m3vos.data import taxonomy
from m3vos.errors import BadInputError

if TYPE_CHECKING:
    from m3vos.data.dataset import Dataset

OFFICIAL_REPO = "zixuan-chen/M3VOS_Experiment"
OFFICIAL_COMMIT = "6e0bcc81aed2a2fa238a4a68269d167f61ec0920"
RAW_BASE = "https://raw.githubusercontent.com"
#: Overrides RAW_BASE (a mirror, or a local server in tests); files are fetched from
#: `<base>/<repo>/<commit>/<official path>`.
LABELS_URL_ENV = "M3VOS_LABELS_URL"


@dataclass(frozen=True)
class TargetObject:
    """One annotated object of one video, with its phase-transition labels (None when unlabelled)."""

    video: str
    id: int
    before: str | None = None
    after: str | None = None
    transition: str | None = None
    group: str | None = None
    intra: bool | None = None
    core: bool | None = None
    difficulty: str | None = None
    challenges: tuple[str, ...] = ()
    label_source: str | None = None   # which label file these labels came from

    @property
    def key(self) -> str:
        return f"{self.video}_{self.id}"

    @property
    def labelled(self) -> bool:
        return self.transition is not None


@dataclass(frozen=True)
class LabelFile:
    """One official label file: the name m3vos stores it under, its path upstream, its digest."""

    name: str
    official_path: str
    sha256: str


_EVAL = "methods/evaluation"
_HUMAN = f"{_EVAL}/M_cube_VOS_human_score/M cube VOS 场景统计-{{}}难度评价.csv"

OFFICIAL_FILES: tuple[LabelFile, ...] = (
    LabelFile("all_phase_label.json", f"{_EVAL}/all_phase_label.json",
              "5b282f43f861c28392599feb81d7f28758946ed620682f81ebda7b44765c275c"),
    LabelFile("all_valid_obj.txt", f"{_EVAL}/all_valid_obj.txt",
              "113810ef583e62f9bd45a5a7eda6d1049b6022a53950c9b345c649d8688abc6e"),
    LabelFile("all_easy_objs.txt", f"{_EVAL}/all_easy_objs.txt",
              "8e0fbc6377170640873ed3bee174b886340dc13e481310f6fd8ee0628bf50bd0"),
    LabelFile("all_mid_objs.txt", f"{_EVAL}/all_mid_objs.txt",
              "ffe7b15a5f500c8979903465606075c4662d4ce9eb6d457a8dfde374fd2b7d24"),
    LabelFile("all_hard_objs.txt", f"{_EVAL}/all_hard_objs.txt",
              "0f32d32b0f103b1f0abf648d4b85a0195894519103605e87d33cc458df9eebce"),
    LabelFile("human_score/rater_junxuan.csv", _HUMAN.format("俊轩"),
              "c6a17d99a0883d16795e0dd1e38016623d2bcce9dd7fe522731bf1c00a5cedb3"),
    LabelFile("human_score/rater_liming.csv", _HUMAN.format("力铭"),
              "368212be3c25989c4ebd6e8cbd415e2246922b02dd29cd24869c298814f1853a"),
    LabelFile("human_score/rater_zixuan.csv", _HUMAN.format("子轩"),
              "2b3364a97158fe28df3cbac692500bcec70122ee5145ec1fcb04706184171cf8"),
    LabelFile("human_score/rater_yejie.csv", _HUMAN.format("烨杰"),
              "ac2e484d7a48acc7a6ab4c794034bd824322ab46161d5986645e1bc65ca9446a"),
)

PHASE_LABEL_FILE = "all_phase_label.json"
DIFFICULTY_FILES = {"hard": "all_hard_objs.txt", "mid": "all_mid_objs.txt", "easy": "all_easy_objs.txt"}
VALID_FILE = "all_valid_obj.txt"
CORE_FILE = "all_core_seqs.txt"
TARGET_OBJECT_FILE = "target_object.json"
CHALLENGE_FILE = "challenges.json"

#: English names of the rating columns (the CSV headers are Chinese).
RATING_COLUMNS = {
    "颜色": "color", "形状": "shape", "位置": "position", "状态": "state", "视频质量": "video_quality",
    "相似干扰": "similar_distractors", "遮挡": "occlusion", "长视频": "long_video",
    "透明物体": "transparent", "小物体": "small_object",
}

_PREFIX = re.compile(r"^\d{4}_")


def strip_prefix(key: str) -> str:
    """`0023_open_mark_2_1` -> `open_mark_2_1` (the legacy naming of early batches)."""
    return _PREFIX.sub("", key, count=1)


# --- where the files are --------------------------------------------------------------------

def labels_cache_dir() -> Path:
    """Cache folder of the pinned official label files."""
    from m3vos.utils.cache import cache_dir

    return cache_dir() / "labels" / OFFICIAL_COMMIT[:12]


def official_url(f: LabelFile, base: str | None = None) -> str:
    base = (base or os.environ.get(LABELS_URL_ENV) or RAW_BASE).rstrip("/")
    return f"{base}/{OFFICIAL_REPO}/{OFFICIAL_COMMIT}/{quote(f.official_path)}"


def fetch_official_labels(dest: str | os.PathLike[str] | None = None, *, base_url: str | None = None,
                          progress: bool | None = None) -> Path:
    """Download the pinned label files (sha256-checked, resumable) into `dest` or the cache."""
    from m3vos.utils.download import download_file

    folder = Path(dest) if dest is not None else labels_cache_dir()
    for f in OFFICIAL_FILES:
        target = folder / f.name
        if target.is_file():
            from m3vos.utils.atomic import sha256_file

            if sha256_file(target) == f.sha256:
                continue
            target.unlink()
        download_file(official_url(f, base_url), target, sha256=f.sha256, progress=progress)
    return folder


def check_labels_dir(folder: Path) -> list[str]:
    """Problems with a folder of official label files (missing files, digests that differ)."""
    from m3vos.utils.atomic import sha256_file

    problems = []
    for f in OFFICIAL_FILES:
        p = folder / f.name
        if not p.is_file():
            problems.append(f"{p}: missing")
        elif sha256_file(p) != f.sha256:
            problems.append(f"{p}: sha256 differs from the official file at {OFFICIAL_COMMIT[:7]}")
    return problems


# --- parsing ---------------------------------------------------------------------------------

def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise BadInputError("label file is not UTF-8 text", path=path,
                            hint="re-fetch it with `m3vos data labels`") from None


def read_key_list(path: Path) -> list[str]:
    """Object keys (or video names), one a line; blank lines ignored."""
    return [line.strip() for line in _read_text(path).splitlines() if line.strip()]


@dataclass(frozen=True)
class PhaseLabel:
    before: str | None
    after: str | None
    transition: str | None
    raw_before: str | None = None
    raw_after: str | None = None
    source: str | None = None          # the file this label was read from


def read_phase_labels(path: Path) -> dict[str, PhaseLabel]:
    """`all_phase_label.json` as object key `<video>_<id>` -> `PhaseLabel` (states normalised)."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise BadInputError(f"not valid JSON ({exc.msg} at line {exc.lineno})", path=path,
                            hint="re-fetch the official label files") from None
    if not isinstance(data, dict):
        raise BadInputError("expected an object video -> object id -> labels", path=path,
                            hint="re-fetch the official label files")
    out: dict[str, PhaseLabel] = {}
    for video, objs in data.items():
        if not isinstance(objs, dict):
            raise BadInputError(f"video {video!r} maps to {type(objs).__name__}, expected an object",
                                path=path, hint="re-fetch the official label files")
        for obj_id, rec in objs.items():
            oid = str(obj_id).removeprefix("obj_").removeprefix("id_")
            if not isinstance(rec, dict):
                continue
            before = rec.get("before_state", rec.get("before"))
            after = rec.get("after_state", rec.get("after"))
            trans = rec.get("phase transition", rec.get("phase_transition", rec.get("transition")))
            out[f"{video}_{oid}"] = PhaseLabel(
                taxonomy.normalize_phase(before), taxonomy.normalize_phase(after),
                taxonomy.normalize_transition(trans), before, after, str(path))
    return out


def read_challenges(path: Path) -> dict[str, tuple[str, ...]]:
    """The official challenge JSON format: video -> {"id_<k>": [challenge, ...]}."""
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise BadInputError(f"not valid JSON ({exc.msg})", path=path, hint="fix or remove this file") from None
    out: dict[str, tuple[str, ...]] = {}
    for video, objs in (data or {}).items():
        for obj_id, values in (objs or {}).items():
            oid = str(obj_id).removeprefix("id_").removeprefix("obj_")
            out[f"{video}_{oid}"] = tuple(str(v) for v in (values or []))
    return out


def read_target_objects(path: Path) -> dict[str, list[int]] | None:
    """`meta/target_object.json`: video -> sorted object ids (`{"obj_<k>": {...}}` per video).

    Videos whose ids cannot be read are left out; None when nothing could be read (an unknown
    format must not turn into "every video disagrees with its metadata").
    """
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise BadInputError(f"not valid JSON ({exc.msg})", path=path, hint="re-download meta/") from None
    out: dict[str, list[int]] = {}
    if not isinstance(data, dict):
        return None
    for video, objs in data.items():
        ids = []
        for k in (objs or {}) if isinstance(objs, dict) else objs or []:
            digits = re.sub(r"^\D*", "", str(k))
            if digits.isdigit():
                ids.append(int(digits))
        if ids:
            out[video] = sorted(ids)
    return out or None


@dataclass(frozen=True)
class Rating:
    """One rater's 0/1/2 ratings of one video."""

    rater: str
    video_id: int
    video_name: str
    values: dict[str, int | None]


def read_rating_csv(path: Path, rater: str | None = None) -> list[Rating]:
    """A human-rating CSV; unrated rows with an extra trailing comma are read unshifted."""
    rater = rater or path.stem.removeprefix("rater_")
    rows = list(csv.reader(io.StringIO(_read_text(path))))
    if not rows:
        raise BadInputError("empty rating CSV", path=path, hint="re-fetch the official label files")
    header = [h.strip() for h in rows[0]]
    cols = [RATING_COLUMNS.get(h, h) for h in header[2:]]
    out = []
    for line_no, row in enumerate(rows[1:], start=2):
        if len(row) == len(header) + 1 and row[-1].strip() == "":
            row = row[:-1]                      # the trailing-comma trap
        if not row or not row[0].strip():
            continue
        if len(row) != len(header):
            raise BadInputError(f"row {line_no} has {len(row)} fields, header has {len(header)}",
                                path=path, hint="re-fetch the official label files")
        try:
            vid = int(row[0])
        except ValueError:
            raise BadInputError(f"row {line_no}: video id {row[0]!r} is not a number", path=path,
                                hint="re-fetch the official label files") from None
        values: dict[str, int | None] = {}
        for name, cell in zip(cols, row[2:]):
            cell = cell.strip()
            values[name] = int(float(cell)) if cell else None
        out.append(Rating(rater, vid, " ".join(row[1].split()), values))
    return out


def read_ratings(folder: Path) -> list[Rating]:
    """Every rater's ratings from `<folder>/human_score/rater_*.csv` (empty when absent)."""
    out: list[Rating] = []
    for path in sorted((Path(folder) / "human_score").glob("rater_*.csv")):
        out.extend(read_rating_csv(path))
    return out


# --- matching --------------------------------------------------------------------------------

class KeyIndex:
    """Look keys up exactly, then with the legacy `NNNN_` prefix stripped from both sides."""

    def __init__(self, items: Iterable[tuple[str, Any]]) -> None:
        self.exact: dict[str, Any] = {}
        self.stripped: dict[str, list[str]] = {}
        for key, value in items:
            self.exact[key] = value
            self.stripped.setdefault(strip_prefix(key), []).append(key)

    def __len__(self) -> int:
        return len(self.exact)

    def match(self, key: str) -> str | None:
        """The label-file key for a dataset key, or None (also None when the match is ambiguous)."""
        if key in self.exact:
            return key
        hits = self.stripped.get(strip_prefix(key), [])
        return hits[0] if len(hits) == 1 else None

    def get(self, key: str, default: Any = None) -> Any:
        k = self.match(key)
        return self.exact[k] if k is not None else default

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.match(key) is not None


@dataclass
class LabelSet:
    """Every label source found for one dataset, merged, with the files it came from."""

    phase: KeyIndex = field(default_factory=lambda: KeyIndex([]))
    difficulty: KeyIndex = field(default_factory=lambda: KeyIndex([]))
    valid: KeyIndex | None = None
    challenges: KeyIndex = field(default_factory=lambda: KeyIndex([]))
    core_videos: KeyIndex | None = None
    target_ids: dict[str, list[int]] | None = None
    sources: dict[str, str] = field(default_factory=dict)   # what -> file

    def target_object(self, video: str, obj_id: int) -> TargetObject:
        key = f"{video}_{obj_id}"
        lab: PhaseLabel | None = self.phase.get(key)
        core = None if self.core_videos is None else (video in self.core_videos)
        if lab is None:
            return TargetObject(video, obj_id, core=core, difficulty=self.difficulty.get(key),
                                challenges=self.challenges.get(key, ()))
        return TargetObject(
            video, obj_id, before=lab.before, after=lab.after, transition=lab.transition,
            group=taxonomy.transition_group(lab.transition), intra=taxonomy.is_intra(lab.transition),
            core=core, difficulty=self.difficulty.get(key), challenges=self.challenges.get(key, ()),
            label_source=lab.source)

    def coverage(self, objects: list[TargetObject]) -> dict[str, Any]:
        """Which dataset objects no label file knows, and which labels match no dataset object."""
        keys = [o.key for o in objects]
        unlabelled = [k for k in keys if k not in self.phase]
        ungrouped = [o.key for o in objects if o.transition is not None and o.group is None]
        matched = {self.phase.match(k) for k in keys} - {None}
        unused = sorted(set(self.phase.exact) - matched)
        return {"n_objects": len(keys), "n_labelled": len(keys) - len(unlabelled),
                "unlabelled": unlabelled, "ungrouped": ungrouped, "labels_without_object": unused,
                "sources": dict(self.sources)}


def _merged(old: KeyIndex | None, new: Iterable[tuple[str, Any]]) -> KeyIndex:
    """`new` entries win; entries only `old` has are kept (synthetic meta + official cache)."""
    items = dict(old.exact) if old is not None else {}
    items.update(new)
    return KeyIndex(items.items())


def load_label_dir(folder: Path, into: LabelSet | None = None) -> LabelSet:
    """Read whatever label files `folder` holds (official names) into a `LabelSet`.

    Reading a second folder into the same set adds to it: its entries win key by key.
    """
    ls = into or LabelSet()
    phase = folder / PHASE_LABEL_FILE
    if phase.is_file():
        ls.phase = _merged(ls.phase, read_phase_labels(phase).items())
        ls.sources["phase"] = str(phase) if "phase" not in ls.sources else f"{ls.sources['phase']}, {phase}"
    diff: dict[str, str] = {}
    for level in ("easy", "mid", "hard"):           # nested lists: the hardest one wins
        p = folder / DIFFICULTY_FILES[level]
        if p.is_file():
            for key in read_key_list(p):
                diff[key] = level
            ls.sources[f"difficulty_{level}"] = str(p)
    if diff:
        ls.difficulty = _merged(ls.difficulty, diff.items())
    valid = folder / VALID_FILE
    if valid.is_file():
        ls.valid = _merged(ls.valid, ((k, True) for k in read_key_list(valid)))
        ls.sources["valid"] = str(valid)
    core = folder / CORE_FILE
    if core.is_file():
        ls.core_videos = _merged(ls.core_videos, ((k, True) for k in read_key_list(core)))
        ls.sources["core"] = str(core)
    chal = folder / CHALLENGE_FILE
    if chal.is_file():
        ls.challenges = _merged(ls.challenges, read_challenges(chal).items())
        ls.sources["challenges"] = str(chal)
    tobj = folder / TARGET_OBJECT_FILE
    if tobj.is_file():
        ls.target_ids = read_target_objects(tobj)
        ls.sources["target_object"] = str(tobj)
    return ls


def labels_for_dataset(dataset: "Dataset") -> LabelSet:
    """Labels for a dataset: its own `meta/` first, then an explicit labels folder or the cache.

    The official label files override the dataset's own phase labels (the release's meta/
    carries no transitions); the release's meta/ keeps the core list and object ids.
    """
    ls = LabelSet()
    if dataset.meta_dir is not None:
        load_label_dir(dataset.meta_dir, ls)
    extra = dataset.labels_dir
    if extra is None:
        cached = labels_cache_dir()
        extra = cached if (cached / PHASE_LABEL_FILE).is_file() else None
    elif not extra.is_dir():
        raise BadInputError("labels folder does not exist", path=extra,
                            hint="pass the folder holding all_phase_label.json, or run `m3vos data labels`")
    if extra is not None:
        load_label_dir(extra, ls)
    return ls
