"""Where the dataset lives, remembered per user (the cache is `m3vos.utils.cache`).

The data root is looked up in this order: the `M3VOS_DATA` environment variable, then the user
config file (`config.json` in `M3VOS_CONFIG_DIR` or the platform's user config folder). Nothing
here is global state: every call reads the environment and the file afresh, so tests and
subprocesses see exactly what they were given.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from m3vos.errors import BadInputError
from m3vos.utils.cache import user_dir

CONFIG_FILE = "config.json"


def config_dir() -> Path:
    """The per-user config folder (`M3VOS_CONFIG_DIR` overrides the platform default)."""
    return user_dir("M3VOS_CONFIG_DIR", "config")


def config_path() -> Path:
    return config_dir() / CONFIG_FILE


def read_config() -> dict[str, Any]:
    """The user config as a dict ({} when there is none); a corrupt file is a one-line error."""
    path = config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInputError(f"user config is not valid JSON ({exc.msg} at line {exc.lineno})", path=path,
                            hint="fix or delete this file; `m3vos data download` rewrites it") from None
    if not isinstance(data, dict):
        raise BadInputError("user config must be a JSON object", path=path, hint="delete this file")
    return data


def write_config(data: dict[str, Any]) -> Path:
    from m3vos.utils.atomic import atomic_write_json

    path = config_path()
    atomic_write_json(path, data)
    return path


def get_data_root() -> Path | None:
    """The remembered dataset root (`M3VOS_DATA`, then the user config), or None."""
    env = os.environ.get("M3VOS_DATA")
    if env:
        return Path(env).expanduser()
    value = read_config().get("data_root")
    return Path(value).expanduser() if value else None


def set_data_root(path: str | os.PathLike[str]) -> Path:
    """Remember `path` as the dataset root in the user config; returns the config file."""
    data = read_config()
    data["data_root"] = str(Path(path).expanduser().resolve())
    return write_config(data)


def resolve_data_root(root: str | os.PathLike[str] | None) -> Path:
    """`root` itself, or the remembered root; a BadInputError says how to get one."""
    if root is not None:
        return Path(root).expanduser()
    found = get_data_root()
    if found is None:
        raise BadInputError(
            "no dataset given and none configured",
            hint="run `m3vos data download` (or `m3vos data synth DIR`), pass the dataset folder "
                 "(`--data DIR`; for `data verify`, `data info` and `entropy-report` the ROOT argument), "
                 "or set M3VOS_DATA")
    return found
