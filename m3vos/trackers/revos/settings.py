"""ReVOS settings: the paper's booster alpha, window T and interval L, under their official
config names, with the official M3-VOS (`roves-val`) defaults.

| paper | here            | official config key                | default |
| ----- | --------------- | ---------------------------------- | ------- |
| alpha | `boost_rate`    | `model.boost_rate`                 | 2.0     |
| T     | `polish_frames` | `reverse_polish.polish_frames`     | 30      |
| L     | `polish_every`  | `polish_every` (roves-val block)   | 30      |
| -     | `reverse`       | `use_reverse_prop`                 | True    |

`from_config` accepts any of these spellings (paper name, our name, official key, flat dotted
or nested), so `--config alpha=1.1`, `--config polish_every=60` and
`--config reverse_polish.polish_frames=10` all work. Unknown keys are left to the Cutie
inference settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping

from m3vos.errors import BadInputError
from m3vos.utils.configvalues import flatten, parse_bool

#: accepted spellings -> our field name
ALIASES: dict[str, str] = {
    "boost_rate": "boost_rate", "alpha": "boost_rate", "model.boost_rate": "boost_rate",
    "booster": "boost_rate",
    "polish_frames": "polish_frames", "T": "polish_frames", "window": "polish_frames",
    "reverse_polish.polish_frames": "polish_frames", "reverse.window": "polish_frames",
    "polish_every": "polish_every", "L": "polish_every", "interval": "polish_every",
    "reverse.every": "polish_every", "reverse.interval": "polish_every",
    "reverse": "reverse", "use_reverse_prop": "reverse", "reverse.enabled": "reverse",
}


@dataclass(frozen=True)
class ReVOSSettings:
    """What ReVOS adds on top of the Cutie inference settings."""

    boost_rate: float = 2.0   # alpha: forward logits are scaled by this before the sigmoid
    polish_frames: int = 30   # T: how many past frames a reverse pass revisits
    polish_every: int = 30    # L: a reverse pass runs after every L forward frames (and at the end)
    reverse: bool = True      # run the reverse passes at all

    def __post_init__(self) -> None:
        if not self.boost_rate > 0:
            raise BadInputError(f"ReVOS boost_rate (alpha) must be > 0, got {self.boost_rate}",
                                hint="use e.g. --config boost_rate=2.0")
        if self.polish_frames < 1 or self.polish_every < 1:
            raise BadInputError(
                f"ReVOS window T and interval L must be >= 1 (got T={self.polish_frames}, "
                f"L={self.polish_every})", hint="use e.g. --config polish_frames=30 polish_every=30")

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> tuple[ReVOSSettings, dict[str, Any]]:
        """(ReVOS settings, the remaining keys for the Cutie inference settings)."""
        flat = flatten(config or {})
        values: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in flat.items():
            field = ALIASES.get(key)
            if field is None:
                rest[key] = value
                continue
            if value is None:   # an unset official key (e.g. `polish_every: null`)
                if field == "reverse":
                    values[field] = False   # the official `if cfg.use_reverse_prop:`
                continue
            values[field] = _coerce(field, key, value)
        return cls(**values), rest

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _coerce(field: str, key: str, value: Any) -> Any:
    try:
        if field == "boost_rate":
            return float(value)
        if field == "reverse":   # strings strictly; other values by truth, as the official `if`
            return parse_bool(value) if isinstance(value, str) else bool(value)
        as_float = float(value)
        if as_float != int(as_float):
            raise ValueError(value)
        return int(as_float)
    except (TypeError, ValueError):
        kind = {"boost_rate": "a number", "reverse": "true or false"}.get(field, "an integer")
        raise BadInputError(f"ReVOS setting {key}={value!r} is not {kind}",
                            hint=f"pass e.g. --config {key}=...") from None
