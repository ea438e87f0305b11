"""Test helpers for the data area: a real HTTP file server on 127.0.0.1 with Range support,
switchable faults (cut transfers, ignored Range), and a request log the tests assert on."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Iterator


@dataclass
class FileServerState:
    files: dict[str, bytes] = field(default_factory=dict)     # url path -> body
    cut_after: dict[str, int] = field(default_factory=dict)   # path -> close after N body bytes (once per entry in cuts_left)
    cuts_left: dict[str, int] = field(default_factory=dict)   # path -> how many more transfers to cut
    ignore_range: bool = False
    status_override: dict[str, int] = field(default_factory=dict)
    log: list[dict[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(state: FileServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:   # keep test output clean
            pass

        def do_HEAD(self) -> None:
            self._serve(head=True)

        def do_GET(self) -> None:
            self._serve(head=False)

        def _serve(self, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            with state.lock:
                state.log.append({"method": self.command, "path": path, "range": self.headers.get("Range"),
                                  "if_range": self.headers.get("If-Range")})
            body = state.files.get(path)
            if path in state.status_override:
                self.send_response(state.status_override[path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if body is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start = 0
            rng = self.headers.get("Range")
            m = re.match(r"bytes=(\d+)-$", rng or "")
            etag = f'"{hash(body) & 0xffffffff:x}"'
            if m and not state.ignore_range:
                start = int(m.group(1))
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "none" if state.ignore_range else "bytes")
            self.send_header("Content-Length", str(len(body) - start))
            self.end_headers()
            if head:
                return
            chunk = body[start:]
            with state.lock:
                cut = state.cut_after.get(path) if state.cuts_left.get(path, 0) > 0 else None
                if cut is not None:
                    state.cuts_left[path] -= 1
            if cut is not None and cut < len(chunk):
                self.wfile.write(chunk[:cut])
                self.wfile.flush()
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.shutdown(2)
                return
            self.wfile.write(chunk)

    return Handler


@contextlib.contextmanager
def serve_files(state: FileServerState | None = None,
                handler_factory: Callable[[FileServerState], type[BaseHTTPRequestHandler]] | None = None
                ) -> Iterator[tuple[str, FileServerState]]:
    """Run a threaded HTTP server on 127.0.0.1 for the block; yields (base_url, state)."""
    state = state or FileServerState()
    server = ThreadingHTTPServer(("127.0.0.1", 0), (handler_factory or _handler)(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- a fake Hugging Face Hub ------------------------------------------------------------------
# The endpoints `huggingface_hub.snapshot_download` uses (read from its source, v0.2x-2.x):
#   GET  /api/datasets/<repo>/revision/<rev>        repo info (only when rev is not a commit sha)
#   GET  /api/datasets/<repo>/tree/<sha>[/path]?recursive=...   file listing (JSON list)
#   HEAD /datasets/<repo>/resolve/<sha>/<file>       metadata: X-Repo-Commit, ETag, size
#   GET  /datasets/<repo>/resolve/<sha>/<file>       the bytes

def hub_handler(repo: str, commit: str, files: dict[str, bytes]
                ) -> Callable[[FileServerState], type[BaseHTTPRequestHandler]]:
    import hashlib
    import json
    from urllib.parse import unquote

    def factory(state: FileServerState) -> type[BaseHTTPRequestHandler]:
        class Hub(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None,
                      head: bool = False) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if not head:
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self._route(head=True)

            def do_GET(self) -> None:
                self._route(head=False)

            def _route(self, head: bool) -> None:
                path = unquote(self.path.split("?", 1)[0])
                with state.lock:
                    state.log.append({"method": self.command, "path": path, "range": self.headers.get("Range"),
                                      "if_range": None})
                api = f"/api/datasets/{repo}/"
                if path.startswith(api + "revision/"):
                    if path[len(api + "revision/"):] not in ("main", commit):
                        return self._send(404, b'{"error": "Invalid rev id"}',
                                          {"Content-Type": "application/json", "X-Error-Code": "RevisionNotFound"},
                                          head)
                    siblings = [{"rfilename": f} for f in sorted(files)]
                    body = json.dumps({"id": repo, "sha": commit, "siblings": siblings, "private": False}).encode()
                    return self._send(200, body, {"Content-Type": "application/json"}, head)
                if path.startswith(api + "tree/"):
                    rest = path[len(api + "tree/"):]
                    rev, _, sub = rest.partition("/")
                    if rev != commit:
                        return self._send(404, b'{"error": "Revision not found"}',
                                          {"Content-Type": "application/json", "X-Error-Code": "RevisionNotFound"},
                                          head)
                    entries = [{"type": "file", "oid": hashlib.sha1(b).hexdigest(), "size": len(b), "path": f}
                               for f, b in sorted(files.items()) if not sub or f.startswith(sub.rstrip("/") + "/")]
                    return self._send(200, json.dumps(entries).encode(), {"Content-Type": "application/json"}, head)
                res = f"/datasets/{repo}/resolve/"
                if path.startswith(res):
                    rev, _, name = path[len(res):].partition("/")
                    body = files.get(name)
                    if rev != commit or body is None:
                        return self._send(404, b"", {"X-Error-Code": "EntryNotFound"}, head)
                    etag = f'"{hashlib.sha1(body).hexdigest()}"'
                    return self._send(200, body, {"X-Repo-Commit": commit, "ETag": etag,
                                                  "Content-Type": "application/octet-stream"}, head)
                return self._send(404, b"", None, head)

        return Hub

    return factory


def tree_files(root: Path) -> dict[str, bytes]:
    """Every file under `root`, keyed by its POSIX path relative to `root`."""

    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
