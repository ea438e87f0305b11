"""Cutie's evaluation settings as a small frozen dataclass (no hydra).

The defaults are the official eval defaults (`cutie/config/eval_config.yaml` with the DAVIS-2017
dataset block): they are what `m3vos run --model cutie-*` uses unless `--config` overrides a key.
A parity reference's `effective_settings` maps onto the same names, so replays and runs share
one reading of every setting.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any, Mapping, TypeVar

from m3vos.errors import BadInputError
from m3vos.utils.configvalues import flatten, parse_bool

S = TypeVar("S", bound="EvalSettings")


@dataclass(frozen=True)
class LongTermSettings:
    """XMem-style long-term memory limits (frames are counted WITH the permanent first frame)."""

    count_usage: bool = True
    max_mem_frames: int = 10
    min_mem_frames: int = 5
    num_prototypes: int = 128
    max_num_tokens: int = 10000
    buffer_tokens: int = 2000


@dataclass(frozen=True)
class EvalSettings:
    """Every knob of `InferenceCore` and of the eval I/O path, with the official defaults."""

    mem_every: int = 5
    top_k: int = 30
    stagger_updates: int = 5
    chunk_size: int = -1
    max_mem_frames: int = 5
    use_long_term: bool = False
    long_term: LongTermSettings = field(default_factory=LongTermSettings)
    max_internal_size: int = -1
    flip_aug: bool = False
    amp: bool = False
    save_aux: bool = False
    use_all_masks: bool = False
    size: int = 480  # short side the eval loader resizes frames to (-1: native size)

    def __post_init__(self) -> None:
        if self.mem_every < 1:
            raise BadInputError(f"mem_every must be >= 1, got {self.mem_every}",
                                hint="set mem_every to a positive number of frames")
        if self.top_k < 1:
            raise BadInputError(f"top_k must be >= 1, got {self.top_k}", hint="use e.g. top_k=30")
        if self.stagger_updates < 1:
            raise BadInputError(f"stagger_updates must be >= 1, got {self.stagger_updates}",
                                hint="use e.g. stagger_updates=5")
        if self.max_mem_frames < 1:
            raise BadInputError(f"max_mem_frames must be >= 1, got {self.max_mem_frames}",
                                hint="the first frame counts, so use at least 1")
        lt = self.long_term
        if self.use_long_term and not (1 <= lt.min_mem_frames <= lt.max_mem_frames):
            raise BadInputError(
                f"long_term.min_mem_frames ({lt.min_mem_frames}) must be in "
                f"1..long_term.max_mem_frames ({lt.max_mem_frames})",
                hint="keep 1 <= min_mem_frames <= max_mem_frames")

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls: type[S], values: Mapping[str, Any] | None, *, ignore_unknown: bool = False,
                  source: str = "settings") -> S:
        """Settings from a reference's `effective_settings` or from `--config` keys.

        Accepts a nested `long_term` mapping or dotted keys (`long_term.max_mem_frames`).
        Strings are coerced ("10", "true"). Unknown keys are an error naming the valid ones
        unless `ignore_unknown` (e.g. ReVOS keys in a reference read by plain Cutie code).
        """
        top: dict[str, Any] = {}
        lt: dict[str, Any] = {}
        names = {f.name: f for f in fields(cls)}
        lt_names = {f.name: f for f in fields(LongTermSettings)}
        unknown: list[str] = []
        for key, value in flatten({str(k): v for k, v in (values or {}).items()}).items():
            if key.startswith("long_term."):
                sub = key.split(".", 1)[1]
                if sub in lt_names:
                    lt[sub] = _coerce(value, lt_names[sub], key, source)
                else:
                    unknown.append(key)
            elif key in names and key != "long_term":
                top[key] = _coerce(value, names[key], key, source)
            else:
                unknown.append(key)
        if unknown and not ignore_unknown:
            valid = sorted([n for n in names if n != "long_term"] +
                           [f"long_term.{n}" for n in lt_names])
            raise BadInputError(f"unknown {source} key(s) {', '.join(sorted(unknown))}",
                                hint=f"use one of: {', '.join(valid)}")
        if lt:
            top["long_term"] = LongTermSettings(**lt)
        return cls(**top)

    @classmethod
    def config_keys(cls) -> list[str]:
        """Every key `from_dict` accepts (nested `long_term` ones dotted)."""
        return sorted([f.name for f in fields(cls) if f.name != "long_term"] +
                      [f"long_term.{f.name}" for f in fields(LongTermSettings)])

    def replace(self: S, **changes: Any) -> S:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (nested `long_term`), e.g. for run.json."""
        return dataclasses.asdict(self)

    # ------------------------------------------------------------------ derived values
    def stagger_set(self) -> set[int]:
        """Frame offsets after a memory frame at which the sensory memory is updated.

        The official code rounds `linspace(1, mem_every, stagger_updates)` with numpy, which
        rounds halves to even: mem_every 10, 5 updates gives {1, 3, 6, 8, 10}.
        """
        import numpy as np

        if self.stagger_updates >= self.mem_every:
            return set(range(1, self.mem_every + 1))
        return {int(v) for v in np.round(np.linspace(1, self.mem_every, self.stagger_updates))}


def _coerce(value: Any, f: dataclasses.Field, key: str, source: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "bool":
            return parse_bool(value)
        if kind == "int":
            if isinstance(value, bool):
                raise ValueError(value)
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value) if not isinstance(value, str) else int(value.strip())
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
    except (TypeError, ValueError):
        raise BadInputError(f"{source} key {key} must be {kind}, got {value!r}",
                            hint=f"pass e.g. {key}={'true' if kind == 'bool' else '5'}") from None
    return value
