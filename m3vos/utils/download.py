"""Resumable, verified HTTP(S) downloads for the dataset, the label files and model weights.

Bytes go to `<dest>.part`; a cut connection resumes with a `Range` request (a few times within
the call, with backoff, and again on the next call); a server that ignores `Range` makes us
start over; the digest is checked before the file is renamed onto `dest`. A sidecar
`<dest>.part.json` remembers the URL and the server's validators (ETag / Last-Modified) so a
resumed transfer never stitches together two different files.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import http.client
import json
import os
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

from m3vos.errors import BadInputError, M3vosError

CHUNK = 1 << 20
TIMEOUT = 30.0
#: A transfer slower than MIN_RATE bytes/s over STALL_TIMEOUT seconds is cut and retried (a
#: server trickling a byte now and then never trips the socket timeout on its own).
STALL_TIMEOUT = 60.0
MIN_RATE = 1024
_HEX = {"sha256": 64, "md5": 32}
#: Transient failures worth another attempt.
_RETRYABLE = (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout,
              http.client.IncompleteRead, http.client.RemoteDisconnected, http.client.BadStatusLine)
_RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}


class DownloadError(M3vosError):
    """A download that could not be completed (network, server, digest). Exit code 3."""

    exit_code = 3


class _Cut(Exception):
    """The transfer stopped early; resume from what is on disk."""


class _Slow(_Cut):
    """The server sends too little to ever finish; bytes trickling in are not progress."""


def _check_request(url: str, sha256: str | None, md5: str | None) -> None:
    """Refuse what no network can fix, before the first request: a URL that is not HTTP(S)
    (a local path, a typo such as `htp://`) or a digest that is not hex of the right length."""
    from urllib.parse import urlparse

    scheme = urlparse(url).scheme.lower()
    if scheme not in ("http", "https") or not urlparse(url).netloc:
        raise BadInputError(f"not an http(s) URL: {_redact(url)!r}",
                            hint="pass the address of the file, e.g. https://host/path/file.tar.gz")
    for algo, value in (("sha256", sha256), ("md5", md5)):
        if value is not None and not re.fullmatch(rf"[0-9a-fA-F]{{{_HEX[algo]}}}", value.strip()):
            raise BadInputError(f"--{algo} {value!r} is not a {algo} digest ({_HEX[algo]} hex digits)",
                                hint=f"copy the full {algo} of the file (e.g. from `{algo}sum FILE`)")


def _user_agent() -> str:
    from m3vos import __version__

    return f"m3vos/{__version__} (+https://arxiv.org/abs/2412.13803)"


def _digest(path: Path, algo: str) -> str:
    h = hashlib.new(algo)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def _check_digest(path: Path, sha256: str | None, md5: str | None) -> tuple[str, str, str] | None:
    """(algo, expected, got) for the first digest that differs, else None."""
    for algo, want in (("sha256", sha256), ("md5", md5)):
        if want:
            got = _digest(path, algo)
            if got.lower() != want.strip().lower():
                return algo, want.strip().lower(), got
    return None


def _disk_full(exc: OSError, part: Path) -> M3vosError:
    size = part.stat().st_size if part.exists() else 0
    return M3vosError(f"disk full after {size} bytes", path=part,
                      hint="free some space (or pick another --dest) and rerun: the download resumes",
                      exit_code=3)


def _read_meta(meta: Path) -> dict[str, Any]:
    try:
        data = json.loads(meta.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_meta(meta: Path, data: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):
        meta.write_text(json.dumps(data))


def _total_from(resp: Any, offset: int) -> int | None:
    cr = resp.headers.get("Content-Range")
    if cr:
        m = re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", cr)
        if m and m.group(3) != "*":
            return int(m.group(3))
    cl = resp.headers.get("Content-Length")
    return offset + int(cl) if cl and cl.isdigit() else None


def _redact(url: str) -> str:
    return re.sub(r"//[^/@]*@", "//***@", url)


def download_file(url: str, dest: str | os.PathLike[str], *, sha256: str | None = None,
                  md5: str | None = None, retries: int = 5, progress: bool | None = None,
                  timeout: float = TIMEOUT, headers: dict[str, str] | None = None,
                  on_bytes: Callable[[int], None] | None = None, stall_timeout: float = STALL_TIMEOUT,
                  min_rate: int = MIN_RATE) -> Path:
    """Fetch `url` into `dest` (resumable, digest-checked, atomic); returns `dest`.

    An existing `dest` whose digest matches (or, without a digest, any existing `dest`) is kept
    as is. `retries` bounds the attempts in a row that make no progress (with backoff); what was
    fetched stays in `<dest>.part`, so a later call carries on from there. A transfer slower
    than `min_rate` bytes/s over `stall_timeout` s counts as an attempt without progress.
    Concurrent calls for the same `dest` (Slurm array tasks) take a file lock: one downloads,
    the others wait and reuse its file.
    """
    from m3vos.utils.locks import exclusive_lock

    _check_request(url, sha256, md5)
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise M3vosError(f"cannot create the download folder ({exc.strerror or exc})", path=dest.parent,
                         hint="pick a destination you can write to", exit_code=3) from None
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(exclusive_lock(dest.with_name(f".{dest.name}.lock")))
        except OSError as exc:
            raise M3vosError(f"cannot lock the download ({exc.strerror or exc})", path=dest.parent,
                             hint="pick a destination you can write to", exit_code=3) from None
        return _download_locked(url, dest, sha256=sha256, md5=md5, retries=retries, progress=progress,
                                timeout=timeout, headers=headers, on_bytes=on_bytes,
                                stall_timeout=stall_timeout, min_rate=min_rate)


def _download_locked(url: str, dest: Path, *, sha256: str | None, md5: str | None, retries: int,
                     progress: bool | None, timeout: float, headers: dict[str, str] | None,
                     on_bytes: Callable[[int], None] | None, stall_timeout: float, min_rate: int) -> Path:
    if dest.is_file():
        if _check_digest(dest, sha256, md5) is None:
            return dest
        dest.unlink()   # a stale or corrupt copy: fetch it again
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")
    state = _read_meta(meta)
    if part.exists() and state.get("url") != url:
        part.unlink()           # a leftover from another URL: never stitch two files together
        state = {}

    from m3vos.utils.progress import make_progress

    with make_progress(enabled=progress) as bar:
        task = bar.add_task(dest.name[:40], total=None, status="")
        failures = 0
        attempt = 0
        while True:
            attempt += 1
            before = part.stat().st_size if part.exists() else 0
            try:
                _transfer(url, part, meta, state, timeout=timeout, headers=headers,
                          advance=lambda n: (bar.update(task, advance=n), on_bytes and on_bytes(n)),
                          set_total=lambda total, done: bar.update(task, total=total, completed=done),
                          stall_timeout=stall_timeout, min_rate=min_rate)
                break
            except (_Cut, *_RETRYABLE) as exc:
                after = part.stat().st_size if part.exists() else 0
                if after > before and not isinstance(exc, _Slow):
                    failures = 0      # progress: only attempts in a row without any count
                failures += 1
                if failures > retries:
                    raise DownloadError(
                        f"download of {_redact(url)} failed after {attempt} attempts ({_describe(exc)}); "
                        f"{after} bytes kept in {part.name}", path=dest,
                        hint="check the network or the URL and rerun: the download resumes") from None
                bar.update(task, status=f"retry {failures}/{retries}: {_describe(exc)}")
                time.sleep(min(0.25 * 2 ** max(failures - 1, 0), 8.0))
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise _disk_full(exc, part) from None
                raise M3vosError(f"cannot write the download ({exc.strerror or exc})", path=part,
                                 hint="check that the folder exists and is writable, or pick another destination",
                                 exit_code=3) from None

    bad = _check_digest(part, sha256, md5)
    if bad is not None:
        algo, want, got = bad
        part.unlink()
        with contextlib.suppress(OSError):
            meta.unlink()
        raise DownloadError(
            f"{algo} mismatch for {_redact(url)}: expected {want}, got {got}; the corrupt file was deleted",
            path=dest, hint="check the URL and the checksum, or try another mirror")
    os.replace(part, dest)
    with contextlib.suppress(OSError):
        meta.unlink()
    return dest


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"{exc.reason}"
    text = str(exc) or exc.__class__.__name__
    return text.splitlines()[0][:120]


def _transfer(url: str, part: Path, meta: Path, state: dict[str, Any], *, timeout: float,
              headers: dict[str, str] | None, advance: Callable[[int], Any],
              set_total: Callable[[int | None, int], Any], stall_timeout: float = STALL_TIMEOUT,
              min_rate: int = MIN_RATE) -> None:
    offset = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": _user_agent(), **(headers or {})})
    if offset:
        req.add_header("Range", f"bytes={offset}-")
        validator = state.get("etag") or state.get("last_modified")
        if validator:
            req.add_header("If-Range", validator)
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            # Nothing left to send: the part is complete if its size is the remote size.
            m = re.match(r"bytes \*/(\d+)", exc.headers.get("Content-Range", ""))
            if m and int(m.group(1)) == offset:
                return
            part.unlink()
            raise _Cut("server refused the resume range; starting over") from None
        if exc.code in _RETRY_STATUS:
            raise _Cut(f"HTTP {exc.code}") from None
        raise DownloadError(f"HTTP {exc.code} {exc.reason} for {_redact(url)}", path=part.with_suffix(""),
                            hint="check the URL (and access rights)") from None
    with resp:
        status = resp.status
        if status == 206 and offset:
            m = re.match(r"bytes\s+(\d+)-", resp.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                part.unlink()
                raise _Cut("server resumed at the wrong offset; starting over")
            mode = "ab"
        else:
            # 200: a fresh transfer, or a server that ignores Range / a changed file (If-Range).
            offset = 0
            mode = "wb"
        total = _total_from(resp, offset)
        state.clear()
        state.update(url=url, etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified"),
                     total=total)
        _write_meta(meta, state)
        set_total(total, offset)
        got = offset
        window_start, window_bytes = time.monotonic(), 0
        with open(part, mode) as f:
            while True:
                block = resp.read1(CHUNK)      # what has arrived, not a full megabyte
                if not block:
                    break
                f.write(block)
                got += len(block)
                advance(len(block))
                window_bytes += len(block)
                elapsed = time.monotonic() - window_start
                if elapsed >= stall_timeout:
                    if window_bytes < min_rate * elapsed:
                        raise _Slow(f"stalled: {window_bytes} bytes in {elapsed:.0f} s "
                                    f"(less than {min_rate} bytes/s)")
                    window_start, window_bytes = time.monotonic(), 0
        if total is not None and got < total:
            raise _Cut(f"connection closed at {got} of {total} bytes")
        if total is not None and got > total:
            part.unlink()
            raise _Cut("server sent more bytes than announced; starting over")
