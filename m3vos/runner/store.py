"""The output folder of a run: PNG folders, `run.json`, and per-video done/failed records.

Layout of `DIR`:
- `DIR/<video>/<stem>.png`: palette PNGs, ready for `m3vos score DIR`;
- `DIR/run.json`: what produced the folder (tracker, config, weights, data) and timings;
- `DIR/.m3vos/done/<video>.json`: a finished video (frames, seconds, frames/s, memory, file
  sizes); a video counts as finished only when its record and its files agree;
- `DIR/.m3vos/failed/<video>.json`: the last error of a video that failed.

A video is written into `DIR/.tmp-<video>.XXXXXXXX` and renamed when complete, so the only
leftovers of a killed run are temporary folders, which the next run removes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError
from m3vos.utils.atomic import atomic_write_json

RUN_FILE = "run.json"
META_DIR = ".m3vos"
RUN_SCHEMA = "m3vos-run/1"


class RunStore:
    def __init__(self, out: str | os.PathLike[str]) -> None:
        self.out = Path(out)
        self.done_dir = self.out / META_DIR / "done"
        self.failed_dir = self.out / META_DIR / "failed"

    @property
    def run_file(self) -> Path:
        return self.out / RUN_FILE

    # --- run identity -----------------------------------------------------------------------
    def read_run(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.run_file.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            raise BadInputError("run.json is unreadable", path=self.run_file,
                                hint="delete it, or pass --force to start this folder over") from None

    def check_compatible(self, identity: dict[str, Any], *, force: bool) -> None:
        """Refuse to mix results of different runs in one folder (unless `force`)."""
        if force or not self.out.exists():
            return
        old = self.read_run()
        if old is None:
            foreign = [e.name for e in os.scandir(self.out)
                       if not e.name.startswith(".") and e.is_dir()]
            if foreign:
                raise BadInputError(
                    f"output folder holds {len(foreign)} folder(s) (e.g. {foreign[0]}) but no run.json: "
                    "not an m3vos run", path=self.out,
                    hint="choose an empty --out, or pass --force to write into it anyway")
            return
        old_id = old.get("identity", {})
        diffs = [k for k in sorted(set(old_id) | set(identity)) if old_id.get(k) != identity.get(k)]
        if diffs:
            shown = "; ".join(f"{k}: {_short(old_id.get(k))} -> {_short(identity.get(k))}" for k in diffs[:3])
            raise BadInputError(f"output folder holds another run's results ({shown})", path=self.out,
                                hint="choose another --out, or pass --force to replace them")

    def reset(self) -> None:
        """For --force: drop every record and the video folders they name.

        A record name is trusted only if it names a direct child of the folder (`...json` has
        the stem `..`: the parent of --out); a link is unlinked, never followed.
        """
        for d in (self.done_dir, self.failed_dir):
            if d.is_dir():
                for rec in d.glob("*.json"):
                    target = self.video_dir(rec.stem) if valid_video_name(rec.stem) else None
                    if target is not None and target.parent == self.out:
                        if target.is_symlink():
                            target.unlink()
                        else:
                            shutil.rmtree(target, ignore_errors=True)
                shutil.rmtree(d, ignore_errors=True)

    def write_run(self, doc: dict[str, Any]) -> None:
        atomic_write_json(self.run_file, doc)  # with the umask's permissions, like any result

    # --- per-video records ------------------------------------------------------------------
    def video_dir(self, name: str) -> Path:
        return self.out / name

    def done_record(self, name: str) -> dict[str, Any] | None:
        try:
            return json.loads((self.done_dir / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None

    def is_done(self, name: str, stems: list[str] | None = None) -> bool:
        """Finished = a record whose files all exist with their recorded sizes (and stems)."""
        rec = self.done_record(name)
        if rec is None:
            return False
        files = rec.get("files")
        if not isinstance(files, dict) or not files:
            return False
        if stems is not None and sorted(files) != sorted(stems):
            return False
        folder = self.video_dir(name)
        try:
            actual = {e.name: e.stat().st_size for e in os.scandir(folder)}
        except OSError:
            return False
        return all(actual.get(f"{stem}.png") == size for stem, size in files.items())

    def write_done(self, record: dict[str, Any]) -> None:
        atomic_write_json(self.done_dir / f"{record['video']}.json", record)
        (self.failed_dir / f"{record['video']}.json").unlink(missing_ok=True)

    def write_failed(self, name: str, record: dict[str, Any]) -> None:
        atomic_write_json(self.failed_dir / f"{name}.json", record)

    def done_records(self) -> list[dict[str, Any]]:
        out = []
        if self.done_dir.is_dir():
            for p in sorted(self.done_dir.glob("*.json")):
                try:
                    out.append(json.loads(p.read_text()))
                except (OSError, ValueError):
                    continue
        return out

    def failed_names(self) -> list[str]:
        return sorted(p.stem for p in self.failed_dir.glob("*.json")) if self.failed_dir.is_dir() else []

    # --- leftovers --------------------------------------------------------------------------
    def clean_temps(self, name: str) -> None:
        """Remove what a killed run left for this video (temp folder, half-replaced folder, records)."""
        pat = re.compile(rf"^\.(tmp|old)-{re.escape(name)}\.[A-Za-z0-9_]+$")
        rec_pat = re.compile(rf"^\.tmp-{re.escape(name)}\.json\.[A-Za-z0-9_]+$")
        for folder, p in ((self.out, pat), (self.done_dir, rec_pat), (self.failed_dir, rec_pat)):
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                if p.match(e.name):
                    if e.is_dir(follow_symlinks=False):
                        shutil.rmtree(e.path, ignore_errors=True)
                    else:
                        Path(e.path).unlink(missing_ok=True)


def valid_video_name(name: str) -> bool:
    """A video name that can only mean a folder directly inside the output folder."""
    return (bool(name) and name not in (".", "..") and not name.startswith(".")
            and "/" not in name and "\\" not in name and "\x00" not in name
            and name != META_DIR and name != RUN_FILE)


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 60 else text[:57] + "..."
