"""ReVOS readout fuser and settings: official key names, argument order, config spellings."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers.revos.readout_fuser import ReadoutFuser  # noqa: E402
from m3vos.trackers.revos.settings import ReVOSSettings  # noqa: E402


def test_fuser_keys_and_shapes_equal_the_official_manifest(shared_dir):
    manifest = json.loads((shared_dir / "fixtures/parity/revos_manifest.json").read_text())
    official = {k.removeprefix("readout_fuser."): tuple(v["shape"])
                for k, v in manifest["tensors"].items() if k.startswith("readout_fuser.")}
    ours = {k: tuple(v.shape) for k, v in ReadoutFuser(256).state_dict().items()}
    assert len(official) == 16
    assert ours == official
    assert sum(p.numel() for p in ReadoutFuser(256).parameters()) == 3_213_066


def test_reverse_readout_goes_through_x_transform_and_comes_first():
    torch.manual_seed(0)
    fuser = ReadoutFuser(8).eval()
    rev, fwd = torch.randn(1, 2, 8, 4, 5), torch.randn(1, 2, 8, 4, 5)
    with torch.no_grad():
        out = fuser(rev, fwd)
        assert out.shape == rev.shape
        # silence the forward branch: the output must stop depending on the forward readout
        fuser.distributor.g_transform.weight.zero_()
        fuser.distributor.g_transform.bias.zero_()
        a, b = fuser(rev, fwd), fuser(rev, torch.randn_like(fwd))
        assert torch.equal(a, b)
        assert not torch.equal(fuser(rev, fwd), fuser(torch.randn_like(rev), fwd))
        # objects are processed independently (the object axis is folded into the batch)
        single = fuser(rev[:, :1], fwd[:, :1])
        assert torch.allclose(single, fuser(rev, fwd)[:, :1], atol=1e-6)


def test_settings_accept_paper_names_official_keys_and_nesting():
    default, rest = ReVOSSettings.from_config({})
    assert (default.boost_rate, default.polish_frames, default.polish_every, default.reverse) == (2.0, 30, 30, True)
    s, rest = ReVOSSettings.from_config({"alpha": "1.1", "T": "10", "interval": 60, "mem_every": 3})
    assert (s.boost_rate, s.polish_frames, s.polish_every) == (1.1, 10, 60)
    assert rest == {"mem_every": 3}
    s, _ = ReVOSSettings.from_config({"reverse_polish": {"polish_frames": 4}, "polish_every": 3,
                                      "use_reverse_prop": "false", "model.boost_rate": 1})
    assert (s.polish_frames, s.polish_every, s.reverse, s.boost_rate) == (4, 3, False, 1.0)


@pytest.mark.parametrize("config", [{"alpha": "x"}, {"T": 0}, {"L": 2.5}, {"reverse": "maybe"},
                                    {"alpha": -1}])
def test_bad_settings_are_one_line_errors(config):
    with pytest.raises(BadInputError) as err:
        ReVOSSettings.from_config(config)
    assert "\n" not in str(err.value)
