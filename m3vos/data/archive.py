"""Safe extraction of dataset archives (.tar, .tar.gz/.bz2/.xz, .zip).

Every member is checked before anything is written: no absolute paths, no `..`, no links that
point outside the destination, no device files or FIFOs. One bad member refuses the whole
archive. tarfile's own `data` filter runs as a second line of defence where Python has it.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from m3vos.errors import BadInputError, M3vosError

_HINT = "the archive was refused and nothing was extracted; get it from a trusted source"


def archive_kind(path: Path) -> str | None:
    """'zip', 'tar' or None, from the file's content (not its name)."""
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        return None
    return None


def _unsafe(name: str) -> str | None:
    """Why a member name could escape the destination, or None."""
    if not name or "\x00" in name:
        return "empty or NUL in name"
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "path goes up with '..'"
    return None


def _inside(dest: Path, target: Path) -> bool:
    dest_r = dest.resolve()
    try:
        target.resolve().relative_to(dest_r)
        return True
    except ValueError:
        return False


def _check_space(dest: Path, needed: int, archive: Path) -> None:
    free = shutil.disk_usage(dest).free
    if needed > free:
        raise M3vosError(f"extracting needs {needed / 1e9:.2f} GB, only {free / 1e9:.2f} GB free in {dest}",
                         path=archive, hint="free some space or pick another --dest")


def _check_tar(tf: tarfile.TarFile, dest: Path, archive: Path) -> int:
    total = 0
    for m in tf.getmembers():
        why = _unsafe(m.name)
        if why is None and (m.ischr() or m.isblk() or m.isfifo() or m.isdev()):
            why = "device file or FIFO"
        if why is None and (m.issym() or m.islnk()):
            if m.issym():
                link = (dest / m.name).parent / m.linkname
                why = None if not os.path.isabs(m.linkname) and _inside(dest, link) else \
                    f"symlink to {m.linkname!r} points outside the destination"
            else:
                if _unsafe(m.linkname) or not _inside(dest, dest / m.linkname):
                    why = f"hard link to {m.linkname!r} points outside the destination"
        if why is None and not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            why = "unsupported member type"
        if why:
            raise BadInputError(f"unsafe archive member {m.name!r}: {why}", path=archive, hint=_HINT)
        total += m.size if m.isfile() else 0
    return total


def _check_zip(zf: zipfile.ZipFile, archive: Path) -> int:
    total = 0
    for info in zf.infolist():
        why = _unsafe(info.filename)
        mode = info.external_attr >> 16
        if why is None and stat.S_ISLNK(mode):
            why = "symbolic link (not allowed in zip archives)"
        if why is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
            why = "device file or FIFO"
        if why:
            raise BadInputError(f"unsafe archive member {info.filename!r}: {why}", path=archive, hint=_HINT)
        total += info.file_size
    return total


def check_links_inside(root: str | os.PathLike[str], *, archive: str | os.PathLike[str] | None = None) -> None:
    """Refuse any symlink under `root` that resolves outside it (or nowhere).

    Run on the final layout: lifting an archive's single top folder moves every link up one
    level, so a relative link that was inside at extraction time can point outside afterwards.
    """
    root = Path(root)
    root_r = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):       # never follows links
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if not p.is_symlink():
                continue
            target = Path(os.path.realpath(p))
            try:
                target.relative_to(root_r)
            except ValueError:
                raise BadInputError(f"symlink {p.relative_to(root).as_posix()!r} -> {os.readlink(p)!r} "
                                    "points outside the dataset", path=archive or p, hint=_HINT) from None


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str]) -> None:
    """Extract `archive` into the existing folder `dest`, refusing anything unsafe."""
    archive, dest = Path(archive), Path(dest)
    kind = archive_kind(archive)
    try:
        if kind == "zip":
            with zipfile.ZipFile(archive) as zf:
                _check_space(dest, _check_zip(zf, archive), archive)
                for info in zf.infolist():
                    target = dest / info.filename
                    if not _inside(dest, target):      # belt and braces after the name checks
                        raise BadInputError(f"unsafe archive member {info.filename!r}", path=archive, hint=_HINT)
                zf.extractall(dest)
        elif kind == "tar":
            with tarfile.open(archive) as tf:
                _check_space(dest, _check_tar(tf, dest, archive), archive)
                if hasattr(tarfile, "data_filter"):
                    tf.extractall(dest, filter="data")
                else:  # pragma: no cover - Python without PEP 706
                    tf.extractall(dest)
        else:
            raise BadInputError("not a .tar, .tar.gz or .zip archive", path=archive,
                                hint="pass the URL of the dataset archive (or use --source hf)")
    except getattr(tarfile, "FilterError", ()) as exc:
        raise BadInputError(f"unsafe archive member ({exc})", path=archive, hint=_HINT) from None
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as exc:
        raise BadInputError(f"corrupt archive ({exc.__class__.__name__}: {exc})", path=archive,
                            hint="delete it and download again") from None
    except OSError as exc:
        import errno

        if exc.errno == errno.ENOSPC:
            raise M3vosError("disk full while extracting", path=dest,
                             hint="free some space or pick another --dest; nothing was left half-extracted") from None
        raise
