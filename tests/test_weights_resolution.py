"""Issue 15 phase 2, the weights half: one function decides what a model loads
(`m3vos.trackers.weights.resolve_weights`), the runner and the trackers call it; the library entry
points of `m3vos weights` (`download_checked`, `check_weights`) and their `--format` flags."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from m3vos.errors import BadInputError
from m3vos.trackers import weights as W

from helpers_data import FileServerState, serve_files


def _cached(name: str, body: bytes = b"weights") -> Path:
    path = W.weights_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


# --- the one resolution -------------------------------------------------------------------------

def test_random_weights_need_a_model_that_takes_them() -> None:
    assert W.resolve_weights("random", allow_random=True) == Path("random:0")
    assert W.resolve_weights("random:7", default="cutie-small-mega", allow_random=True) == Path("random:7")
    with pytest.raises(BadInputError, match="model 'flow' has no weights to randomise"):
        W.resolve_weights("random:7", model="flow")
    with pytest.raises(BadInputError, match="non-negative integer"):
        W.resolve_weights("random:x", allow_random=True)


def test_a_path_is_that_file_and_a_missing_one_is_named(tmp_path: Path) -> None:
    mine = tmp_path / "mine.pth"
    mine.write_bytes(b"x")
    assert W.resolve_weights(mine, default="cutie-small-mega") == mine
    assert W.resolve_weights(str(mine)) == mine
    with pytest.raises(BadInputError, match="weights file not found") as info:
        W.resolve_weights(tmp_path / "absent.pth", default="revos")
    assert "absent.pth" in info.value.one_line() and "m3vos weights download revos" in info.value.one_line()
    with pytest.raises(BadInputError, match="weights file not found"):
        W.resolve_weights("cutie-huge")            # not a known name: a path, and it is not there


def test_a_known_name_is_its_cached_file(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="weights 'cutie-small-mega' for model 'x' are not downloaded yet") as info:
        W.resolve_weights("cutie-small", model="x")                     # an alias of cutie-small-mega
    assert "m3vos weights download cutie-small-mega" in info.value.one_line()
    path = _cached("cutie-small-mega")
    assert W.resolve_weights("cutie-small") == path == W.resolve_weights("cutie-small-mega")
    assert W.resolve_weights(None, default="cutie-small-mega") == path
    assert W.weights_for_model("cutie-small") == path


def test_nothing_given_means_the_default_or_nothing() -> None:
    assert W.resolve_weights(None, required=False) is None
    with pytest.raises(BadInputError, match="model 'ext' needs a checkpoint"):
        W.resolve_weights(None, model="ext")
    with pytest.raises(BadInputError, match="m3vos weights download revos"):
        W.resolve_weights(None, default="revos", model="revos")
    with pytest.raises(BadInputError, match="no default weights for model 'flow'"):
        W.weights_for_model("flow")


def test_the_runner_and_the_trackers_resolve_through_it(tmp_path: Path) -> None:
    from m3vos.runner.api import resolve_weights as run_resolve
    from m3vos.trackers.registry import get_tracker

    flow, cutie = get_tracker("flow"), get_tracker("cutie-small")
    assert run_resolve(flow, "flow", None) is None
    with pytest.raises(BadInputError, match="has no weights to randomise"):
        run_resolve(flow, "flow", "random")
    assert run_resolve(cutie, "cutie-small", "random:3") == Path("random:3")
    with pytest.raises(BadInputError, match="weights 'cutie-small-mega' for model 'cutie-small' are not downloaded"):
        run_resolve(cutie, "cutie-small", None)
    path = _cached("cutie-small-mega")
    assert run_resolve(cutie, "cutie-small", None) == path.resolve()
    assert run_resolve(cutie, "cutie-small", "cutie-small-mega") == path.resolve()   # a name works too
    rel = Path("rel.pth")
    (tmp_path / rel).write_bytes(b"x")
    import os

    here = os.getcwd()
    try:
        os.chdir(tmp_path)
        assert run_resolve(cutie, "cutie-small", rel) == (tmp_path / rel).resolve()   # recorded absolute
    finally:
        os.chdir(here)
    # A tracker's own lookup (what it loads when built without the runner) is the same function.
    me = SimpleNamespace(weights=None, weights_name="cutie-small-mega", name="cutie-small")
    assert cutie.weights_file(me) == path
    me.weights = tmp_path / "gone.pth"
    with pytest.raises(BadInputError, match="weights file not found"):
        cutie.weights_file(me)


# --- `m3vos weights`: library entry points and formats ----------------------------------------

def test_download_checked_without_the_check(tmp_path: Path) -> None:
    body = b"not really a checkpoint" * 100
    with serve_files(FileServerState(files={"/w.pth": body})) as (url, _):
        got = W.download_checked("cutie-base-wmose", url=f"{url}/w.pth", check=False, progress=False)
    assert got.name == "cutie-base-wmose" and got.model == "cutie-base" and got.report is None
    assert got.path == W.weights_path("cutie-base-wmose") and got.size == len(body)
    assert got.path.read_bytes() == body


def test_weights_list_formats_and_the_json_alias(cli) -> None:
    _cached("revos", b"12345")
    a = cli("weights", "list", "--format", "json", check=0).stdout
    assert a == cli("weights", "list", "--json", check=0).stdout
    rows = {r["name"]: r for r in json.loads(a)}
    assert rows["revos"]["present"] is True and rows["revos"]["size"] == 5
    assert rows["revos"]["source_url"].startswith("https://drive.google.com/")
    assert rows["sam2.1-tiny"]["hub_id"] and rows["cutie-small-mega"]["hub_id"] is None
    table = list(csv.DictReader(io.StringIO(cli("weights", "list", "-f", "csv", check=0).stdout)))
    assert [r["name"] for r in table] == list(rows)
    assert {r["name"]: r["present"] for r in table}["revos"] == "True"
    md = cli("weights", "list", "-f", "md", check=0).stdout.splitlines()
    assert md[0].startswith("| name | model | filename | path | present |") and len(md) == 2 + len(rows)


def test_check_weights_takes_a_model_or_a_weights_name(tmp_path: Path, cli) -> None:
    torch = pytest.importorskip("torch")
    from m3vos.trackers.models import build_model

    path = tmp_path / "small.pth"
    torch.manual_seed(0)
    torch.save(build_model("cutie-small").state_dict(), path)
    by_name = W.check_weights("cutie-small-mega", path)          # a weights name: its model
    assert by_name.ok and by_name.model == "cutie-small"
    assert W.check_weights("cutie-small", path).num_tensors == by_name.num_tensors
    assert not W.check_weights("cutie-base", path).ok
    with pytest.raises(BadInputError, match="unknown weights 'cutie-huge'"):
        W.check_weights("cutie-huge", path)
    a = cli("weights", "check", "cutie-small-mega", path, "-f", "json", check=0).stdout
    assert a == cli("weights", "check", "cutie-small-mega", path, "--json", check=0).stdout
    assert json.loads(a)["load"]["ok"] is True
    failed = cli("weights", "check", "cutie-base", path, "--format", "json", check=2)
    assert json.loads(failed.stdout)["load"]["ok"] is False and failed.stderr.startswith("error: ")
