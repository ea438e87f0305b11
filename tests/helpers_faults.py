"""Helpers for the issue-13 fault tests: a read-only folder (even for root) and small servers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from helpers_data import FileServerState


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Make `path` read-only for this process: chmod for a normal user; a read-only bind mount
    for root (root ignores permissions). Skips the test when neither is possible."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    p = str(path)
    if subprocess.run(["mount", "--bind", p, p], capture_output=True).returncode != 0:
        pytest.skip("needs a read-only folder: running as root and bind mounts are not allowed here")
    try:
        if subprocess.run(["mount", "-o", "remount,ro,bind", p], capture_output=True).returncode != 0:
            pytest.skip("needs a read-only folder: cannot remount a bind mount read-only here")
        yield
    finally:
        subprocess.run(["umount", p], capture_output=True)


def slow_handler(delay: float, chunk: int = 1) -> Callable[[FileServerState], type[BaseHTTPRequestHandler]]:
    """A server that sends `chunk` bytes of each file every `delay` seconds (a trickle)."""

    def factory(state: FileServerState) -> type[BaseHTTPRequestHandler]:
        class Slow(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                with state.lock:
                    state.log.append({"method": "GET", "path": path, "range": self.headers.get("Range"),
                                      "if_range": None})
                body = state.files.get(path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    for i in range(0, len(body), chunk):
                        self.wfile.write(body[i:i + chunk])
                        self.wfile.flush()
                        time.sleep(delay)
                except OSError:
                    pass

        return Slow

    return factory
