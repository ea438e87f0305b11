"""Reading `--config KEY=VALUE` values the same way in every tracker: booleans and nested keys."""

from __future__ import annotations

from typing import Any, Mapping


def parse_bool(value: Any) -> bool:
    """A boolean from a config value: "1/true/yes/on" or "0/false/no/off" (any case, padded),
    or True/False/1/0. Anything else raises ValueError, so a typo is never read as False."""
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
    elif isinstance(value, (bool, int)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"not a boolean: {value!r}")


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys: {"long_term": {"max_mem_frames": 5}} -> {"long_term.max_mem_frames": 5},
    so a YAML block and `--config long_term.max_mem_frames=5` mean the same."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
