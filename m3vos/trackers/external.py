"""External-command trackers: any program, in any environment, described by a YAML file.

For models whose code cannot live in m3vos's environment (another torch, a conda env, a
container). Per video, m3vos prepares a work folder, runs the command with a timeout, and reads
back one PNG per frame; the PNGs are then checked and written like any other tracker's.

    # my_tracker.yaml
    command: conda run -n xmem python eval_one.py --frames {frames} --mask {first_mask} --out {out}
    timeout: 600            # seconds per video (default 3600)
    env: {OMP_NUM_THREADS: "4"}
    cwd: .                  # relative to this file (default: this file's folder)

Placeholders: `{frames}` (folder of the video's frames, `<stem>.jpg`), `{first_mask}` (palette
PNG of the first frame, ids 1..N), `{masks}` (folder of every given mask, `<stem>.png`),
`{out}` (empty folder; write `<stem>.png` for every frame, ids 0..N), `{video}`, `{device}`,
`{num_objects}`.
"""

from __future__ import annotations

import math
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Iterator

import numpy as np
import yaml
from PIL import Image

from m3vos.errors import BadInputError, M3vosError
from m3vos.trackers.base import Capabilities, Tracker, TrackerOutput, VideoInput

PLACEHOLDERS = ("frames", "first_mask", "masks", "out", "video", "device", "num_objects")
KNOWN_KEYS = {"command", "timeout", "env", "cwd", "name", "version", "input_short_side", "capabilities"}


class ExternalTracker(Tracker):
    """Runs `command` once per video; subclasses made by `load_external_tracker` set `spec`."""

    name = "external"
    capabilities = Capabilities(late_objects=True)
    spec: ClassVar[dict[str, Any]] = {}
    source_path: ClassVar[Path | None] = None

    def track(self, video: VideoInput) -> Iterator[TrackerOutput]:
        work = Path(tempfile.mkdtemp(prefix="m3vos-external-"))
        try:
            out_dir = self._prepare(video, work)
            self._run_command(video, work, out_dir)
            for t, stem in enumerate(video.stems):
                path = out_dir / f"{stem}.png"
                if not path.is_file():
                    raise M3vosError(f"external tracker wrote no mask for frame {stem}", path=path,
                                     hint="the command must write {out}/<stem>.png for every frame")
                from m3vos.data.masks import read_mask

                yield TrackerOutput(frame=t, labels=read_mask(path))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _prepare(self, video: VideoInput, work: Path) -> Path:
        from m3vos.data.masks import write_mask

        frames = work / "frames"
        masks = work / "masks"
        out = work / "out"
        for d in (frames, masks, out):
            d.mkdir()
        stems = video.stems or [f"{t:07d}" for t in range(video.num_frames)]
        video.stems = stems
        for t, stem in enumerate(stems):
            src = video.frame_paths[t] if video.frame_paths else None
            if src is not None:
                dest = frames / f"{stem}{src.suffix.lower()}"
                try:
                    os.symlink(os.path.abspath(src), dest)
                except OSError:
                    shutil.copyfile(src, dest)
            else:
                Image.fromarray(np.asarray(video.frames[t], dtype=np.uint8)).save(frames / f"{stem}.jpg", quality=95)
        for t, m in video.masks.items():
            write_mask(masks / f"{stems[t]}.png", m)
        write_mask(work / "first_mask.png", video.masks[0])
        return out

    def _command(self, video: VideoInput, work: Path) -> list[str]:
        values = {"frames": str(work / "frames"), "first_mask": str(work / "first_mask.png"),
                  "masks": str(work / "masks"), "out": str(work / "out"), "video": video.name,
                  "device": self.device, "num_objects": str(video.num_objects)}
        cmd = self.spec["command"]
        parts = shlex.split(cmd) if isinstance(cmd, str) else [str(c) for c in cmd]
        try:
            return [p.format(**values) for p in parts]
        except (KeyError, IndexError, ValueError) as exc:
            raise BadInputError(f"bad placeholder in command: {exc}", path=self.source_path,
                                hint=f"use only {{{'}, {'.join(PLACEHOLDERS)}}}") from None

    def _run_command(self, video: VideoInput, work: Path, out_dir: Path) -> None:
        cmd = self._command(video, work)
        timeout = float(self.spec.get("timeout", 3600))
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in (self.spec.get("env") or {}).items()})
        cwd_path = _cwd_path(self.spec, self.source_path)
        if not cwd_path.is_dir():
            raise BadInputError(f"`cwd` folder {cwd_path} does not exist", path=self.source_path,
                                hint="fix `cwd` in the tracker YAML (relative to the YAML file)")
        log = work / "command.log"
        with open(log, "wb") as logf:
            try:
                proc = subprocess.Popen(cmd, cwd=cwd_path, env=env, stdout=logf, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                raise BadInputError(f"cannot start external tracker command {cmd[0]!r}: {exc.strerror}",
                                    path=self.source_path, hint="check `command` in the tracker YAML") from None
            try:
                code = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise M3vosError(f"external tracker timed out after {timeout:g} s on video {video.name}",
                                 path=self.source_path, hint="raise `timeout` in the tracker YAML") from None
            except BaseException:
                _kill_group(proc)
                raise
        if code != 0:
            tail = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()][-3:]
            detail = (f": {tail[-1]}" + (f" (before: {' | '.join(tail[:-1])})" if len(tail) > 1 else "")
                      if tail else " (it printed nothing)")
            kept = _keep_log(log, video.name)
            where = f"full output in {kept}" if kept else "run the command by hand to see its full output"
            raise M3vosError(f"external tracker exited with code {code} on video {video.name}{detail}",
                             path=self.source_path, hint=where)


def _cwd_path(spec: dict[str, Any], source_path: Path | None) -> Path:
    base = source_path.parent if source_path else Path.cwd()
    cwd = spec.get("cwd")
    return (base / str(cwd)) if cwd else base


def _keep_log(log: Path, video: str) -> Path | None:
    """Copy a failed command's log out of the work folder (which is removed) so it can be read."""
    try:
        folder = Path(tempfile.gettempdir()) / "m3vos-external-logs"
        folder.mkdir(parents=True, exist_ok=True)
        fd, kept = tempfile.mkstemp(prefix=f"{video}.", suffix=".log", dir=folder)
        os.close(fd)
        shutil.copyfile(log, kept)
        return Path(kept)
    except OSError:
        return None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()


def load_external_tracker(path: Path) -> type[Tracker]:
    """A `Tracker` subclass for the YAML description at `path` (validated here, one-line errors)."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadInputError("tracker description not found", path=path) from None
    except (OSError, yaml.YAMLError) as exc:
        raise BadInputError(f"unreadable tracker YAML ({type(exc).__name__})", path=path,
                            hint="fix the YAML syntax") from None
    if not isinstance(spec, dict) or "command" not in spec:
        raise BadInputError("tracker YAML needs a `command` entry", path=path,
                            hint="e.g. command: python track.py --frames {frames} --mask {first_mask} --out {out}")
    unknown = sorted(set(spec) - KNOWN_KEYS)
    if unknown:
        raise BadInputError(f"unknown key(s) in tracker YAML: {', '.join(unknown)}", path=path,
                            hint=f"known keys: {', '.join(sorted(KNOWN_KEYS))}")
    cmd = spec["command"]
    if not (isinstance(cmd, str) and cmd.strip()) and not (isinstance(cmd, list) and cmd):
        raise BadInputError("`command` must be a non-empty string or list", path=path)
    text = cmd if isinstance(cmd, str) else " ".join(map(str, cmd))
    if "{out}" not in text:
        raise BadInputError("`command` must contain the {out} placeholder", path=path,
                            hint="the command writes {out}/<stem>.png for every frame")
    try:
        timeout = float(spec.get("timeout", 3600))
    except (TypeError, ValueError):
        raise BadInputError("`timeout` must be a number of seconds", path=path) from None
    if not math.isfinite(timeout) or timeout <= 0:
        raise BadInputError(f"`timeout` must be a positive, finite number of seconds (got {spec.get('timeout')!r})",
                            path=path, hint="e.g. timeout: 600")
    cwd_path = _cwd_path(spec, path.resolve())
    if not cwd_path.is_dir():
        raise BadInputError(f"`cwd` folder {cwd_path} does not exist", path=path,
                            hint="fix `cwd` in the tracker YAML (it is relative to the YAML file)")
    caps = spec.get("capabilities") or {}
    try:
        capabilities = Capabilities(late_objects=bool(caps.get("late_objects", True)),
                                    offline=False, needs_torch=False, needs_weights=False)
    except AttributeError:
        raise BadInputError("`capabilities` must be a mapping", path=path) from None
    attrs = {
        "name": str(spec.get("name") or path.stem),
        "capabilities": capabilities,
        "spec": dict(spec, timeout=timeout),
        "source_path": path.resolve(),
        "version": str(spec.get("version", "1")),
        "input_short_side": spec.get("input_short_side"),
        "__module__": __name__,
    }
    return type(f"External_{path.stem}", (ExternalTracker,), attrs)
