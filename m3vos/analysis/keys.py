"""Matching per-object result keys to dataset objects, exactly.

The official analysis scripts matched a label key to a score key by substring (`obj in key`),
which assigns `cut_1_1` to `cut_1_10`'s row. m3vos matches whole keys only. Legacy M3-VOS names
come without the `NNNN_` number prefix (`sublime_dryice_1_1` for `0123_sublime_dryice_1_1`);
a key is also accepted with the prefix added or removed when that names exactly one video.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

_PREFIX = re.compile(r"^\d{4}_")
_KEY = re.compile(r"^(?P<video>.+)_(?P<id>\d+)$")


def strip_prefix(name: str) -> str:
    """`0123_melt_ice_1` -> `melt_ice_1`; names without the prefix are returned unchanged."""
    return _PREFIX.sub("", name, count=1)


def split_key(key: str) -> tuple[str, int] | None:
    """`<video>_<id>` -> (video, id); None when the key does not end in `_<digits>`."""
    m = _KEY.match(key)
    return (m.group("video"), int(m.group("id"))) if m else None


@dataclass
class VideoIndex:
    """Video names of a dataset, findable by exact name or by legacy (prefix-less) name."""

    names: set[str]
    by_legacy: dict[str, str | None]   # prefix-less name -> full name (None when ambiguous)

    @classmethod
    def build(cls, names: Iterable[str]) -> "VideoIndex":
        names = set(names)
        legacy: dict[str, str | None] = {}
        for n in names:
            short = strip_prefix(n)
            if short == n:
                continue
            legacy[short] = None if short in legacy else n
        return cls(names, legacy)

    def resolve(self, video: str) -> str | None:
        """The dataset's name for `video` (exact, then with / without the legacy prefix)."""
        if video in self.names:
            return video
        found = self.by_legacy.get(video)
        if found:
            return found
        short = strip_prefix(video)
        if short != video and short in self.names:
            return short
        return None


def resolve_entry(key: str, entry: dict[str, Any], index: VideoIndex) -> tuple[str, int] | None:
    """(dataset video, object id) for one `per_object` entry, or None when it names no dataset video."""
    video = entry.get("video")
    obj = entry.get("object_id")
    if isinstance(video, str) and isinstance(obj, int):
        found = index.resolve(video)
        if found is not None:
            return found, obj
    parsed = split_key(key)
    if parsed is None:
        return None
    found = index.resolve(parsed[0])
    return (found, parsed[1]) if found is not None else None
