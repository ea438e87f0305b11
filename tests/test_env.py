"""`m3vos env`, the root `-q` / `-v` flags and shell completion."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

from m3vos import __version__
from m3vos.environment import ENV_VARS

REPO = Path(__file__).resolve().parents[1]


def test_env_json_reports_version_engines_locations_and_variables(cli, tmp_path):
    cache, data = tmp_path / "cache", tmp_path / "data"
    proc = cli("env", "--format", "json", env={"M3VOS_CACHE": str(cache), "M3VOS_DATA": str(data),
                                                "M3VOS_WEIGHTS_URL": "http://127.0.0.1:9/w"},
               check=0)
    doc = json.loads(proc.stdout)
    assert doc["m3vos"] == __version__
    torch = doc["engines"]["torch"]
    assert torch["installed"] and torch["version"] == importlib.metadata.version("torch")
    assert torch["cuda_available"] is False and torch["gpus"] == []   # the CPU build here
    assert set(doc["engines"]) >= {"torch", "ray", "transformers"}
    where = doc["locations"]
    assert where["data_root"] == str(data)
    assert where["cache"] == str(cache) and where["weights"] == str(cache / "weights")
    assert where["labels"].startswith(str(cache / "labels"))
    values = {v["name"]: v["value"] for v in doc["environment"]}
    assert values["M3VOS_WEIGHTS_URL"] == "http://127.0.0.1:9/w"
    assert values["M3VOS_CACHE"] == str(cache) and values["M3VOS_HOME"] is None
    assert not cache.exists(), "m3vos env creates nothing"


def test_env_table_names_every_variable_with_its_value(cli, tmp_path):
    out = cli("env", env={"M3VOS_HOME": str(tmp_path / "home")}, check=0).stdout
    for var in ENV_VARS:
        assert var.name in out
    assert str(tmp_path / "home" / "M3-VOS") in out       # the download folder follows it
    assert "torch" in out and "ray" in out and "transformers" in out


def test_every_m3vos_variable_the_code_reads_is_listed():
    """A new `M3VOS_*` variable in the code must be added to `m3vos env` (and vice versa)."""
    listed = {v.name for v in ENV_VARS if v.read_by == "m3vos"}
    used: set[str] = set()
    for folder in ("m3vos", "m3vos_cli"):
        for path in (REPO / folder).rglob("*.py"):
            if path.name != "environment.py":
                used |= set(re.findall(r"[\"'](M3VOS_[A-Z0-9_]+)[\"']", path.read_text()))
    assert used == listed


def test_verbose_adds_the_traceback_and_quiet_is_accepted(cli, tmp_path):
    plain = cli("weights", "check", "no-such-weights", tmp_path / "w.pth", check=2)
    assert "Traceback" not in plain.stderr and plain.stderr.startswith("error: unknown weights")
    loud = cli("-v", "weights", "check", "no-such-weights", tmp_path / "w.pth", check=2)
    assert "Traceback" in loud.stderr and "BadInputError" in loud.stderr
    assert loud.stderr.rstrip().splitlines()[-1] == plain.stderr.rstrip()
    assert cli("-q", "--version", check=0).stdout.strip() == f"m3vos {__version__}"


def test_quiet_turns_progress_bars_off(monkeypatch, capsys):
    import os

    import pytest

    from m3vos.utils.progress import make_progress
    from m3vos_cli.main import main

    monkeypatch.setenv("M3VOS_QUIET", "0")
    assert make_progress(enabled=True).disable is False
    with pytest.raises(SystemExit) as info:
        main(["-q", "weights", "list"])
    assert info.value.code == 0 and os.environ["M3VOS_QUIET"] == "1"
    assert make_progress(enabled=True).disable is True


def test_shell_completion_is_offered(cli):
    out = cli("--help", check=0).stdout
    assert "--install-completion" in out and "--show-completion" in out
