"""A record of every file of a dataset (path, size, sha256), written after a download so
`m3vos data verify` can check integrity later without the network."""

from __future__ import annotations

import datetime as _dt
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Iterable

from m3vos.data.layout import MANIFEST_NAME
from m3vos.errors import BadInputError

SCHEMA = "m3vos-manifest/1"
#: Files that are bookkeeping, not data.
_SKIP_NAMES = {MANIFEST_NAME}
_SKIP_DIRS = {".cache", ".git", ".huggingface"}


def iter_data_files(root: Path) -> Iterable[Path]:
    """Every regular file under `root` except the manifest, temp files and tool caches.

    FIFOs, sockets and devices are skipped (reading a FIFO blocks forever), and so are symlinks
    unless they resolve to a regular file inside `root` (never hash a file outside the dataset;
    a dangling link is not data).
    """
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith(".tmp-"))
        for name in sorted(filenames):
            if name in _SKIP_NAMES or name.startswith(".tmp-") or name.endswith((".part", ".part.json")):
                continue
            path = Path(dirpath) / name
            if is_data_file(root, path):
                yield path


def is_data_file(root: Path, path: Path) -> bool:
    """A regular file, or a symlink to a regular file inside `root`."""
    try:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            if not inside(root, path):
                return False
            st = path.stat()
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode)


def inside(root: Path, path: Path) -> bool:
    """Whether `path`, all links followed, is under `root`."""
    try:
        Path(os.path.realpath(path)).relative_to(os.path.realpath(root))
        return True
    except ValueError:
        return False


def _hash(path: Path) -> tuple[int, str]:
    from m3vos.utils.atomic import sha256_file

    return path.stat().st_size, sha256_file(path)


def build_manifest(root: str | os.PathLike[str], *, source: dict[str, Any] | None = None,
                   workers: int | None = None, on_file: Callable[[], None] | None = None,
                   timestamp: bool = True) -> dict[str, Any]:
    """The manifest document; `timestamp=False` keeps it byte-identical across reruns (synth)."""
    from m3vos.utils.workers import default_workers

    root = Path(root)
    paths = list(iter_data_files(root))
    files = []
    with ThreadPoolExecutor(max_workers=default_workers(len(paths), workers)) as pool:
        for path, (size, digest) in zip(paths, pool.map(_hash, paths)):
            files.append({"path": path.relative_to(root).as_posix(), "size": size, "sha256": digest})
            if on_file:
                on_file()
    return {
        "schema": SCHEMA,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds") if timestamp else None,
        "source": source or {},
        "n_files": len(files),
        "total_bytes": sum(f["size"] for f in files),
        "files": files,
    }


def write_manifest(root: str | os.PathLike[str], *, source: dict[str, Any] | None = None,
                   workers: int | None = None, timestamp: bool = True, progress: bool | None = None) -> Path:
    """Hash every data file under `root` into `root/m3vos_manifest.json` (atomically)."""
    from m3vos.utils.atomic import atomic_write_json
    from m3vos.utils.progress import make_progress

    root = Path(root)
    dest = root / MANIFEST_NAME
    with make_progress(enabled=progress, transient=True) as bar:
        task = bar.add_task("manifest (sha256)", total=None, status="")
        doc = build_manifest(root, source=source, workers=workers, timestamp=timestamp,
                             on_file=lambda: bar.update(task, advance=1))
    try:
        atomic_write_json(dest, doc, indent=None)
    except OSError as exc:
        from m3vos.errors import EnvError

        raise EnvError(f"cannot write the manifest ({exc.strerror or exc})", path=dest,
                       hint="make the dataset folder writable (or free some space) and rerun") from None
    return dest


def read_manifest(root: str | os.PathLike[str]) -> dict[str, Any] | None:
    import json

    path = Path(root) / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInputError(f"manifest is not valid JSON ({exc})", path=path,
                            hint="delete it and rerun `m3vos data download`, or run "
                                 "`m3vos data verify --write-manifest` once the data checks clean") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not isinstance(data.get("files"), list):
        raise BadInputError(f"not an {SCHEMA} manifest", path=path,
                            hint="delete it and rerun `m3vos data download`")
    return data
