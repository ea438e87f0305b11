"""A small HTTP server on 127.0.0.1 for the weights download tests: serves files from memory,
honours `Range`, and can cut the first responses short to exercise resuming."""

from __future__ import annotations

import contextlib
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class FileServer:
    def __init__(self, files: dict[str, bytes], *, cut_first: int = 0, cut_at: int = 0) -> None:
        self.files = files
        self.cut_first = cut_first      # how many responses to cut short
        self.cut_at = cut_at            # after this many bytes
        self.requests: list[dict[str, str | None]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802
                name = self.path.lstrip("/")
                with server._lock:
                    server.requests.append({"path": name, "range": self.headers.get("Range")})
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.md5(data).hexdigest() + '"'
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[len("bytes="):-1])
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                with server._lock:
                    cut = server.cut_first > 0
                    if cut:
                        server.cut_first -= 1
                if cut:
                    self.wfile.write(body[: server.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    @contextlib.contextmanager
    def running(self) -> Iterator[FileServer]:
        thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                  daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.httpd.shutdown()
            self.httpd.server_close()
            thread.join(timeout=5)
