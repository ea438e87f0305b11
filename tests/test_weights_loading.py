"""Strict, safe checkpoint loading: wrapped checkpoints, missing / unexpected / wrong-shape
keys, pickled code, corrupt files, and a plain Cutie file given to ReVOS."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers.checkpoint import (compare_state_dict, diff_state_dicts,  # noqa: E402
                                       load_state_dict_strict, read_checkpoint)
from m3vos.trackers.models import build_model, load_model, non_fuser_equal  # noqa: E402


class RunsCode:
    """Unpickling this object would run a shell command: a checkpoint must never do that."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def small_sd() -> OrderedDict:
    torch.manual_seed(0)
    return build_model("cutie-small").state_dict()


@pytest.fixture(scope="module")
def small_file(tmp_path_factory, small_sd) -> Path:
    path = tmp_path_factory.mktemp("ckpt") / "small.pth"
    torch.save(small_sd, path)
    return path


def test_bare_state_dict_loads_and_matches(small_file, small_sd):
    model = load_model("cutie-small", small_file)
    for key, value in model.state_dict().items():
        assert torch.equal(value, small_sd[key]), key


def test_training_wrapper_and_ddp_prefix_are_unwrapped(tmp_path, small_sd):
    wrapped = tmp_path / "train_ckpt.pth"
    torch.save({"it": 1200, "weights": small_sd, "optimizer": {"state": {}}}, wrapped)
    assert list(read_checkpoint(wrapped)) == list(small_sd)
    ddp = tmp_path / "ddp.pth"
    torch.save({"network": OrderedDict((f"module.{k}", v) for k, v in small_sd.items())}, ddp)
    state = read_checkpoint(ddp)
    assert list(state) == list(small_sd)
    assert all(torch.equal(state[k], small_sd[k]) for k in small_sd)


def test_missing_key_is_named(tmp_path, small_sd):
    sd = OrderedDict(small_sd)
    del sd["mask_decoder.pred.bias"]
    path = tmp_path / "missing.pth"
    torch.save(sd, path)
    with pytest.raises(BadInputError) as info:
        load_model("cutie-small", path)
    line = info.value.one_line()
    assert "1 missing key(s): mask_decoder.pred.bias" in line and str(path) in line
    assert "\n" not in line


def test_unexpected_key_and_wrong_shape_are_named(tmp_path, small_sd):
    sd = OrderedDict(small_sd)
    sd["extra.head.weight"] = torch.zeros(3)
    # a single-object checkpoint (4 input channels): refused, never padded with random values
    sd["mask_encoder.conv1.weight"] = torch.zeros(64, 4, 7, 7)
    path = tmp_path / "bad.pth"
    torch.save(sd, path)
    with pytest.raises(BadInputError) as info:
        load_model("cutie-small", path)
    line = info.value.one_line()
    assert "unexpected key(s): extra.head.weight" in line
    assert "mask_encoder.conv1.weight expected [64, 5, 7, 7] found [64, 4, 7, 7]" in line


def test_other_size_is_refused_with_a_hint(small_file):
    with pytest.raises(BadInputError, match="other Cutie size"):
        load_model("cutie-base", small_file)


def test_pickled_code_is_refused_and_not_run(tmp_path, small_sd):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    torch.save({"weights": small_sd, "hook": RunsCode(marker)}, path)
    with pytest.raises(BadInputError, match="pickled Python code or objects .*system") as info:
        read_checkpoint(path)
    assert str(path) in info.value.one_line()
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"<html>Google Drive - virus scan warning</html>",
                                     "truncated"])
def test_corrupt_files_are_one_line_errors(tmp_path, small_file, content):
    path = tmp_path / "corrupt.pth"
    if content == "truncated":
        content = small_file.read_bytes()[: 1 << 20]
    path.write_bytes(content)
    with pytest.raises(BadInputError, match="not a readable PyTorch checkpoint"):
        read_checkpoint(path)


def test_not_a_state_dict_and_missing_file(tmp_path):
    path = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(BadInputError, match="no model state_dict"):
        read_checkpoint(path)
    with pytest.raises(BadInputError, match="checkpoint file not found"):
        read_checkpoint(tmp_path / "nope.pth")


def test_unknown_model_kind():
    with pytest.raises(BadInputError, match="unknown model 'cutie-huge'"):
        build_model("cutie-huge")


@pytest.fixture(scope="module")
def revos_state():
    torch.manual_seed(1)
    return build_model("revos").state_dict()


def test_plain_cutie_into_revos_names_the_16_fuser_keys(revos_state):
    base = OrderedDict((k, v) for k, v in revos_state.items()
                       if not k.startswith("readout_fuser."))
    model = build_model("revos")
    report = compare_state_dict(model, base)
    assert not report.ok and not report.unexpected and not report.shape_mismatch
    assert len(report.missing) == 16
    assert all(k.startswith("readout_fuser.") for k in report.missing)
    with pytest.raises(BadInputError) as info:
        load_state_dict_strict(model, base, source="cutie-base-mega.pth")
    line = info.value.one_line()
    assert line.startswith("cutie-base-mega.pth: ") and "16 missing key(s)" in line
    assert all(k in line for k in report.missing)
    assert "plain Cutie checkpoint" in line
    # nothing was loaded: the fuser was not left half-initialised from a partial load
    load_state_dict_strict(model, revos_state)
    assert torch.equal(model.state_dict()["readout_fuser.block2.conv.weight"],
                       revos_state["readout_fuser.block2.conv.weight"])


def test_non_fuser_equal_detects_changed_or_missing_frozen_tensors(revos_state):
    base = {k: v for k, v in revos_state.items() if not k.startswith("readout_fuser.")}
    assert non_fuser_equal(revos_state, base)
    changed = dict(base)
    changed["key_proj.key_proj.bias"] = base["key_proj.key_proj.bias"] + 1e-6
    assert not non_fuser_equal(revos_state, changed)
    assert diff_state_dicts(revos_state, changed).differing[0].key == "key_proj.key_proj.bias"
    fewer = dict(base)
    del fewer["mask_decoder.pred.bias"]
    assert not non_fuser_equal(revos_state, fewer)
    # the fuser itself may differ freely
    assert non_fuser_equal(revos_state, {**base, "readout_fuser.block2.conv.weight": torch.ones(1)})


def test_diff_state_dicts_reports_shapes_and_extras():
    a = {"x": torch.zeros(2), "y": torch.ones(3), "only_a": torch.zeros(1)}
    b = {"x": torch.tensor([0.0, 0.25]), "y": torch.ones(4)}
    d = diff_state_dicts(a, b)
    assert d.compared == 1 and d.shape_differs == ["y"] and d.only_in_first == ["only_a"]
    assert d.differing[0].max_abs == 0.25 and d.differing[0].mean_abs == 0.125
