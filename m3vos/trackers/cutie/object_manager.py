"""Object ids versus their position in the probability tensor.

Cutie keeps objects in tensors in order of first appearance: channel k (k >= 1, after the
background) is the k-th object ever registered, its "temporary id". The outputs are in this
order, so anything that maps them back to object ids goes through this class.
"""

from __future__ import annotations

from typing import Iterable, Mapping, TypeVar

T = TypeVar("T")


class ObjectManager:
    """Registers object ids and gives their temporary ids (1-based, order of first appearance)."""

    def __init__(self) -> None:
        self._tmp_of: dict[int, int] = {}

    def add_new_objects(self, objects: Iterable[int]) -> list[int]:
        """Temporary ids of `objects` (given order); unknown ones are appended at the end."""
        tmp_ids = []
        for obj in objects:
            obj = int(obj)
            if obj not in self._tmp_of:
                self._tmp_of[obj] = len(self._tmp_of) + 1
            tmp_ids.append(self._tmp_of[obj])
        return tmp_ids

    def has_all(self, objects: Iterable[int]) -> bool:
        return all(int(obj) in self._tmp_of for obj in objects)

    def tmp_id(self, obj: int) -> int:
        return self._tmp_of[int(obj)]

    @property
    def all_obj_ids(self) -> list[int]:
        """Object ids in temporary-id order."""
        return list(self._tmp_of)

    @property
    def num_obj(self) -> int:
        return len(self._tmp_of)

    def tmp_to_obj(self) -> dict[int, int]:
        return {tmp: obj for obj, tmp in self._tmp_of.items()}

    def realize(self, per_object: Mapping[int, T]) -> list[T]:
        """Values of a dict keyed by object id, listed in temporary-id order."""
        missing = [obj for obj in self._tmp_of if obj not in per_object]
        if missing:
            raise KeyError(f"no value for objects {missing}")
        return [per_object[obj] for obj in self._tmp_of]

    def copy(self) -> "ObjectManager":
        other = ObjectManager()
        other._tmp_of = dict(self._tmp_of)
        return other
