"""Plain log lines for runs whose stderr is not a terminal (Slurm, CI, `nohup ... > log`).

A progress bar draws nothing there, so a multi-hour run would leave an empty log until it
ends. Instead: one line per finished or failed video, and a heartbeat every `every` seconds
(frames/s over the run so far and an ETA), flushed at once so `tail -f` shows it.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


class RunLog:
    """Receives the runner's events (`start`, `frames`, `done`, `failed`) and writes lines."""

    def __init__(self, videos: int, frames: int, *, every: float = 60.0, stream: TextIO | None = None,
                 clock: Any = time.monotonic) -> None:
        self.videos, self.frames = videos, frames
        self.every = every
        self.stream = stream or sys.stderr
        self.clock = clock
        self.t0 = clock()
        self.last_beat = self.t0
        self.done_videos = 0
        self.failed_videos = 0
        self.done_frames = 0

    def line(self, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        self.stream.write(f"[m3vos {stamp}] {text}\n")
        self.stream.flush()

    def start(self) -> None:
        self.line(f"run: {self.videos} video(s), {self.frames} frame(s) to do")

    def event(self, kind: str, name: str, payload: Any) -> None:
        if kind == "frames":
            self.done_frames += int(payload)
        elif kind == "done":
            self.done_videos += 1
            fps = payload.get("fps") if isinstance(payload, dict) else None
            self.line(f"done {name}: {payload.get('frames', '?')} frames, {payload.get('seconds', 0):.1f} s"
                        f"{f', {fps:.1f} frames/s' if fps else ''} [{self._count()}]")
        elif kind == "failed":
            self.failed_videos += 1
            err = payload.get("error", "") if isinstance(payload, dict) else ""
            self.line(f"FAILED {name}: {err} [{self._count()}]")
        self.beat()

    def _count(self) -> str:
        return f"{self.done_videos + self.failed_videos}/{self.videos}"

    def beat(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self.last_beat < self.every:
            return
        self.last_beat = now
        elapsed = max(now - self.t0, 1e-9)
        fps = self.done_frames / elapsed
        left = max(self.frames - self.done_frames, 0)
        eta = _duration(left / fps) if fps > 0 else "unknown"
        self.line(f"progress: {self._count()} videos, {self.done_frames}/{self.frames} frames, "
                    f"{fps:.1f} frames/s, elapsed {_duration(elapsed)}, ETA {eta}")


def log_enabled(log: bool | None, progress: bool | None) -> bool:
    """Lines when asked, or by default when stderr is not a terminal and no bar was forced on."""
    if log is not None:
        return log
    return not progress and not sys.stderr.isatty()
