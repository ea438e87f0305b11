"""`m3vos weights list | download | check` run as real subprocesses."""

from __future__ import annotations

import json
import os
from collections import OrderedDict

import pytest

torch = pytest.importorskip("torch")

from helpers_cutie import own_weights  # noqa: E402
from helpers_data import FileServerState, serve_files  # noqa: E402


class RunsCode:
    def __init__(self, marker) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def seeded_small(tmp_path_factory):
    return own_weights(tmp_path_factory, "cutie-small")


def test_list_download_list(cli, seeded_small):
    out = json.loads(cli("weights", "list", "--json", check=0).stdout)
    assert [r["name"] for r in out][:2] == ["cutie-small-mega", "cutie-base-mega"]
    assert not any(r["present"] for r in out)
    assert {r["name"]: r["model"] for r in out}["revos"] == "revos"

    name = "/cutie-small-mega.pth"        # the first transfer is cut after 1 MiB
    state = FileServerState(files={name: seeded_small.read_bytes()}, cut_after={name: 1 << 20},
                            cuts_left={name: 1})
    with serve_files(state) as (url, st):
        proc = cli("weights", "download", "cutie-small-mega", env={"M3VOS_WEIGHTS_URL": url},
                   check=0, timeout=120)
    assert proc.stdout.strip().endswith("cutie-small-mega.pth")
    assert "loads strictly into cutie-small (359 tensors)" in proc.stderr
    assert [r["range"] for r in st.log] == [None, "bytes=1048576-"]

    rows = {r["name"]: r for r in json.loads(cli("weights", "list", "--json", check=0).stdout)}
    assert rows["cutie-small-mega"]["present"] is True
    assert rows["cutie-small-mega"]["size"] == seeded_small.stat().st_size
    table = cli("weights", "list", check=0).stdout
    assert "cutie-small-mega" in table and "yes" in table


def test_pickled_code_and_unknown_names_are_one_line_errors(cli, tmp_path):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pth"
    torch.save({"x": torch.zeros(1), "y": RunsCode(marker)}, evil)
    proc = cli("weights", "check", "cutie-small", evil, check=2)
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "pickled Python code" in err[0]
    assert not marker.exists()
    unknown = cli("weights", "download", "cutie-huge", check=2)
    assert "unknown weights 'cutie-huge'" in unknown.stderr


def test_check_revos_against_cutie_base(cli, tmp_path):
    from m3vos.trackers.models import build_model

    torch.manual_seed(2)
    revos = build_model("revos").state_dict()
    base = OrderedDict((k, v) for k, v in revos.items() if not k.startswith("readout_fuser."))
    revos_file, base_file = tmp_path / "revos.pth", tmp_path / "base.pth"
    torch.save(revos, revos_file)
    torch.save(base, base_file)

    plain = cli("weights", "check", "revos", base_file, check=2)
    assert "16 missing key(s)" in plain.stderr
    assert plain.stderr.count("readout_fuser.") >= 16
    assert "FAILS strict loading" in plain.stdout and "16 missing key(s):" in plain.stdout
    assert plain.stdout.count("readout_fuser.") == 16          # one per line in the report
    assert "plain Cutie checkpoint" in plain.stderr

    report = json.loads(cli("weights", "check", "revos", revos_file, "--against", base_file,
                            "--json", check=0).stdout)
    assert report["ok"] and report["non_fuser_equal"] is True
    assert report["diff"]["compared"] == 527 and report["diff"]["differing"] == []
    assert len(report["diff"]["only_in_first"]) == 16


def test_help_teaches(cli):
    text = cli("weights", "--help", check=0).stdout
    for cmd in ("list", "download", "check"):
        assert cmd in text
    assert "Example" in cli("weights", "check", "--help", check=0).stdout
