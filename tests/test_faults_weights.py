"""Issue 13, weights side: a cached file that does not load, and a checkpoint full of NaN."""

from __future__ import annotations

import json

import pytest

from helpers_data import FileServerState, serve_files
from helpers_cli import one_line_error

torch = pytest.importorskip("torch")


def test_fault09_a_download_that_fails_the_load_check_is_not_kept(cli):
    page = b"<!DOCTYPE html><html><body>Rate limit exceeded</body></html>\n"
    with serve_files(FileServerState(files={"/cutie-small-nomose.pth": page})) as (url, st):
        env = {"M3VOS_WEIGHTS_URL": url}
        cli("weights", "download", "cutie-small-nomose", env=env, check=2, timeout=120)
        rows = {r["name"]: r for r in json.loads(cli("weights", "list", "--json", check=0).stdout)}
        assert rows["cutie-small-nomose"]["present"] is False
        line = one_line_error(cli("weights", "download", "cutie-small-nomose", env=env, check=2, timeout=120))
        assert "a rerun downloads it again" in line
    assert len(st.log) == 2                      # the rerun asked the server again


def test_fault11_a_checkpoint_of_nan_fails_the_check(cli, tmp_path):
    from m3vos.trackers.models import build_model

    state = build_model("cutie-small").state_dict()
    good, bad = tmp_path / "good.pth", tmp_path / "nan.pth"
    torch.save(state, good)
    torch.save({k: (torch.full_like(v, float("nan")) if v.is_floating_point() else v) for k, v in state.items()},
               bad)
    cli("weights", "check", "cutie-small", good, check=0, timeout=120)
    line = one_line_error(cli("weights", "check", "cutie-small", bad, check=2, timeout=120))
    assert "NaN or inf" in line and "download the checkpoint again" in line
