"""Matching per-object result keys to dataset objects, exactly.

The official analysis scripts matched a label key to a score key by substring (`obj in key`),
which assigns `cut_1_1` to `cut_1_10`'s row. m3vos matches whole keys only. Legacy M3-VOS names
come without the `NNNN_` number prefix (`sublime_dryice_1_1` for `0123_sublime_dryice_1_1`);
a key is also accepted with the prefix added or removed when that names exactly one video.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

from m3vos.data.labels import KeyIndex

_KEY = re.compile(r"^(?P<video>.+)_(?P<id>\d+)$")


def split_key(key: str) -> tuple[str, int] | None:
    """`<video>_<id>` -> (video, id); None when the key does not end in `_<digits>`."""
    m = _KEY.match(key)
    return (m.group("video"), int(m.group("id"))) if m else None


class VideoIndex:
    """Video names of a dataset, findable by exact name or by legacy (prefix-less) name: the
    labels' `KeyIndex` rule, so results and label files match names the same way."""

    def __init__(self, index: KeyIndex) -> None:
        self._index = index

    @classmethod
    def build(cls, names: Iterable[str]) -> "VideoIndex":
        return cls(KeyIndex((n, n) for n in names))

    def resolve(self, video: str) -> str | None:
        """The dataset's name for `video` (exact, then with / without the legacy prefix)."""
        return self._index.match(video)


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
