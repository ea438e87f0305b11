"""Getting M3-VOS onto disk: the Hugging Face release, the old Google Drive folder, or any
archive URL. Every path ends the same way: a complete dataset appears under its final name in
one rename, with a manifest, and becomes the remembered data root."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from m3vos.data.layout import MANIFEST_NAME, detect_layout
from m3vos.errors import BadInputError, M3vosError

HF_REPO = "Lijiaxin0111/M3_VOS"
#: A commit of the dataset repository recorded by a third-party inventory (471 videos); pinned so
#: two users get the same files. Override with `--revision main` for the newest.
HF_REVISION = "5deb15b2baeaaa294ca168b789537729f7fb53a5"
GDRIVE_FOLDER = "1qNSvE6dpkCHSs_8eZRo6vruLScCHl7oI"
#: Where `download_dataset` can fetch from.
SOURCES = ("hf", "gdrive", "url")


def default_dest() -> Path:
    """Where downloads go without `--dest`: a folder under the user data dir (or `M3VOS_HOME`)."""
    from m3vos.utils.cache import user_dir

    return user_dir("M3VOS_HOME", "data") / "M3-VOS"


def _check_dest(dest: Path, force: bool) -> None:
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if not force:
            what = "a dataset (it has a manifest)" if (dest / MANIFEST_NAME).exists() else "not empty"
            raise BadInputError(f"destination is {what}", path=dest,
                                hint="check it with `m3vos data verify`, pick another --dest, or pass --force to replace it")


def _staging(dest: Path) -> Path:
    """A stable work folder beside `dest`, so a rerun resumes where the last run stopped."""
    return dest.with_name(f".{dest.name}.download")


def _finish(staging: Path, dest: Path, source: dict[str, Any], *, force: bool, remember: bool) -> Path:
    """Check the layout, write the manifest, move into place in one rename, remember the root."""
    from m3vos.data.config import set_data_root
    from m3vos.data.manifest import write_manifest

    from m3vos.data.archive import check_links_inside

    detect_layout(staging)           # raises if what we got is not a dataset
    check_links_inside(staging)      # on the final layout: never hash a file outside the dataset
    write_manifest(staging, source=source)
    if dest.exists():
        if not force and any(dest.iterdir()):
            raise BadInputError("destination appeared while downloading", path=dest, hint="pass --force")
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dest, old)
        os.replace(staging, dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging, dest)
    if remember:
        set_data_root(dest)
    return dest


def _hoist_single_folder(folder: Path) -> None:
    """An archive of `M3-VOS/...` extracts to one top folder: lift its contents up one level."""
    try:
        detect_layout(folder)
        return
    except BadInputError:
        pass
    entries = [e for e in folder.iterdir() if not e.name.startswith(".")]
    if len(entries) != 1 or not entries[0].is_dir():
        return
    inner = entries[0].rename(folder / ".m3vos-hoist")
    for child in inner.iterdir():
        os.replace(child, folder / child.name)
    inner.rmdir()


def _cache_name(url: str, name: str) -> str:
    """The archive's cache file name: keyed by the whole URL, so `.../alt/ds.tar.gz` never
    reuses `.../ds.tar.gz`; the base name is kept for people. The checksum is not part of the
    key: a cached file is checked against it anyway (and fetched again on a mismatch), and
    adding `--sha256` on a rerun must still resume the partial download."""
    import hashlib

    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return f"{key}-{name}"


def download_from_url(url: str, dest: Path, *, sha256: str | None = None, md5: str | None = None,
                      retries: int = 5, force: bool = False, keep_archive: bool = False,
                      remember: bool = True, progress: bool | None = None) -> Path:
    """Fetch an archive (resumable, digest-checked), extract it safely and atomically into `dest`."""
    from m3vos.data.archive import safe_extract
    from m3vos.utils.cache import cache_dir
    from m3vos.utils.download import download_file

    dest = Path(dest).expanduser()
    _check_dest(dest, force)
    name = Path(unquote(urlparse(url).path)).name or "archive"
    archive = cache_dir() / "downloads" / _cache_name(url, name)
    download_file(url, archive, sha256=sha256, md5=md5, retries=retries, progress=progress)
    staging = _staging(dest)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        safe_extract(archive, staging)
        _hoist_single_folder(staging)
        out = _finish(staging, dest, {"kind": "url", "url": url, "sha256": sha256, "archive": name},
                      force=force, remember=remember)
    except BadInputError:
        shutil.rmtree(staging, ignore_errors=True)
        archive.unlink(missing_ok=True)      # unsafe, corrupt or not an archive: never reuse it
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if not keep_archive:
        archive.unlink(missing_ok=True)
    return out


def download_from_hf(dest: Path, *, repo: str = HF_REPO, revision: str = HF_REVISION,
                     videos: list[str] | None = None, force: bool = False, remember: bool = True,
                     endpoint: str | None = None, max_workers: int = 8) -> Path:
    """Snapshot the Hugging Face dataset repository (resumable: files already fetched are kept)."""
    dest = Path(dest).expanduser()
    _check_dest(dest, force)
    staging = _staging(dest)
    staging.mkdir(parents=True, exist_ok=True)
    patterns = None
    if videos:
        patterns = ["data/ImageSets/*", "meta/*", "*.jsonl", "*.md"]
        for v in videos:
            patterns += [f"data/JPEGImages/{v}/*", f"data/Annotations/{v}/*"]
    try:
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RevisionNotFoundError
    except ImportError as exc:  # pragma: no cover - a dependency of m3vos
        raise M3vosError(f"huggingface_hub is not usable ({exc})", hint="pip install -U huggingface_hub") from None
    if not sys.stderr.isatty():
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()      # tqdm bars would flood logs and CI output
    try:
        snapshot_download(repo_id=repo, repo_type="dataset", revision=revision, local_dir=staging,
                          allow_patterns=patterns, max_workers=max_workers, endpoint=endpoint)
    except RevisionNotFoundError:
        _drop_if_empty(staging)
        raise BadInputError(f"revision {revision!r} not found in dataset {repo}",
                            hint="pass --revision main (or a commit of the dataset repository)") from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        import errno

        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            raise M3vosError("disk full while downloading", path=staging,
                             hint="free some space and rerun: files already fetched are kept") from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise M3vosError(f"Hugging Face download of {repo}@{revision[:12]} failed: {first}", path=staging,
                         hint="check the network (or HF_ENDPOINT) and rerun: files already fetched are kept",
                         exit_code=3) from None
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    if videos:
        try:
            _restrict_split(staging, videos)
        except BadInputError:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return _finish(staging, dest, {"kind": "hf", "repo": repo, "revision": revision,
                                   "videos": videos or None}, force=force, remember=remember)


def _drop_if_empty(staging: Path) -> None:
    """Remove a work folder that holds nothing worth resuming (only hub bookkeeping)."""
    if staging.is_dir() and not any(p.is_file() for p in staging.rglob("*") if ".cache" not in p.parts):
        shutil.rmtree(staging, ignore_errors=True)


def _restrict_split(root: Path, videos: list[str]) -> None:
    """With --videos, the split lists only what was fetched (the full list is kept as val.txt.orig)."""
    split = root / "data" / "ImageSets" / "val.txt"
    if not split.is_file():
        return
    names = [n.strip() for n in split.read_text(encoding="utf-8-sig").splitlines() if n.strip()]
    unknown = [v for v in videos if v not in names]
    if unknown:
        raise BadInputError(f"unknown video(s): {', '.join(unknown[:5])}", path=split,
                            hint="see the names in data/ImageSets/val.txt of the release")
    os.replace(split, split.with_name("val.txt.orig"))
    split.write_text("".join(f"{n}\n" for n in names if n in set(videos)))


def download_from_gdrive(dest: Path, *, folder_id: str = GDRIVE_FOLDER, force: bool = False,
                         remember: bool = True) -> Path:
    """The original Google Drive folder, via the optional `gdown` package."""
    try:
        import gdown  # type: ignore[import-not-found]
    except ImportError:
        raise BadInputError("the gdrive source needs the optional package gdown",
                            hint="pip install 'm3vos[gdrive]' (or pip install gdown), or use --source hf") from None
    from m3vos.data.archive import archive_kind, safe_extract

    dest = Path(dest).expanduser()
    _check_dest(dest, force)
    staging = _staging(dest)
    staging.mkdir(parents=True, exist_ok=True)
    got = gdown.download_folder(id=folder_id, output=str(staging), quiet=False, resume=True)
    if not got:
        raise M3vosError("Google Drive download failed (quota or access)", path=staging,
                         hint="rerun later, or use --source hf", exit_code=3)
    for path in sorted(staging.rglob("*")):
        if path.is_file() and archive_kind(path):
            safe_extract(path, path.parent)
            path.unlink()
    _hoist_single_folder(staging)
    return _finish(staging, dest, {"kind": "gdrive", "folder": folder_id}, force=force, remember=remember)


@dataclass
class DownloadResult:
    """What `download_dataset` put where (the `m3vos data download --format json` document)."""

    root: Path
    source: str
    dataset: dict[str, Any]         # `Dataset.identity()` of the new copy
    videos: int
    layout: str
    remembered: bool
    labels: Path | None = None      # the official label files, when asked for

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"root": str(self.root), "source": self.source, "dataset": self.dataset,
                               "remembered": self.remembered}
        if self.labels is not None:
            out["labels"] = str(self.labels)
        return out


def download_dataset(source: str = "hf", dest: str | os.PathLike[str] | None = None, *,
                     revision: str | None = None, url: str | None = None, sha256: str | None = None,
                     videos: list[str] | None = None, retries: int = 5, force: bool = False,
                     keep_archive: bool = False, remember: bool = True, with_labels: bool = False,
                     progress: bool | None = None) -> DownloadResult:
    """Fetch M3-VOS from `source` (`hf`, `gdrive` or `url`) into `dest` (default: `default_dest()`),
    open it to check it, and optionally fetch the official label files too.

    `videos` / `revision` given to another source than `hf`, and `url` / `sha256` given to `hf`,
    are refused (`BadInputError`), so a typo never downloads something else.
    """
    if source not in SOURCES:
        raise BadInputError(f"unknown download source {source!r}", hint=f"use one of {', '.join(SOURCES)}")
    target = Path(dest).expanduser() if dest is not None else default_dest()
    if source != "hf" and (videos or revision):
        raise BadInputError("--videos and --revision belong to --source hf", hint="drop them or use --source hf")
    if source == "url":
        if not url:
            raise BadInputError("--source url needs --url", hint="m3vos data download --source url --url URL")
        root = download_from_url(url, target, sha256=sha256, retries=retries, force=force,
                                 keep_archive=keep_archive, remember=remember, progress=progress)
    elif source == "hf":
        if url or sha256:
            raise BadInputError("--url/--sha256 belong to --source url", hint="drop them or pass --source url")
        root = download_from_hf(target, revision=revision or HF_REVISION, videos=videos or None,
                                force=force, remember=remember)
    else:
        root = download_from_gdrive(target, force=force, remember=remember)
    from m3vos.data.dataset import open_dataset

    ds = open_dataset(root)
    result = DownloadResult(root=root, source=source, dataset=ds.identity(), videos=len(ds), layout=ds.layout,
                            remembered=remember)
    if with_labels:
        from m3vos.data.labels import fetch_official_labels

        result.labels = fetch_official_labels()
    return result
