"""The Cutie network: checkpoint key names, shapes and dtypes equal the official manifests;
seeded weights load strictly; the network reproduces the official outputs of the first steps
of the `default` parity variant; building blocks behave as the official ones."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from helpers_cutie_network import PARITY, manifest, seeded_weights_module  # noqa: E402

from m3vos.trackers.cutie.config import CutieModelConfig  # noqa: E402
from m3vos.trackers.cutie.network import CutieNetwork  # noqa: E402


def _kinds(model: torch.nn.Module) -> dict[str, str]:
    params = {n for n, _ in model.named_parameters()}
    return {k: ("parameter" if k in params else "buffer") for k in model.state_dict()}


@pytest.mark.parametrize("size", ["small", "base"])
def test_state_dict_equals_official_manifest(shared_dir, size):
    man = manifest(shared_dir, f"cutie_{size}")
    net = CutieNetwork(CutieModelConfig.named(size))
    sd = net.state_dict()
    kinds = _kinds(net)
    # every key, in the official order, nothing extra
    assert list(sd) == list(man["tensors"])
    for key, spec in man["tensors"].items():
        assert list(sd[key].shape) == spec["shape"], key
        assert str(sd[key].dtype).removeprefix("torch.") == spec["dtype"], key
        assert kinds[key] == spec["kind"], key
    assert sum(p.numel() for p in net.parameters()) == man["num_parameter_elements"]
    # non-persistent normalisation buffers: present, not saved, official values
    for name, values in man["non_persistent_buffers"].items():
        assert name not in sd
        assert torch.allclose(getattr(net, name).flatten(), torch.tensor(values))


@pytest.mark.parametrize("size", ["small", "base"])
def test_config_constructors_match_resolved_official_config(shared_dir, size):
    man = manifest(shared_dir, f"cutie_{size}")
    assert CutieModelConfig.named(f"cutie-{size}") == CutieModelConfig.from_dict(man["model_config"])


def test_revos_config_is_cutie_base(shared_dir):
    # ReVOS's model block adds boost_rate and an unused voter block; the network is Cutie-base
    revos = manifest(shared_dir, "revos")["model_config"]
    assert CutieModelConfig.from_dict(revos) == CutieModelConfig.base()


def test_unknown_config_name():
    with pytest.raises(ValueError, match="cutie-small or cutie-base"):
        CutieModelConfig.named("cutie-huge")


@pytest.fixture(scope="module")
def seeded_small(shared_dir):
    sw = seeded_weights_module(shared_dir)
    return sw.generate_state_dict(manifest(shared_dir, "cutie_small"), seed=0)


def test_seeded_base_weights_load_strict(shared_dir):
    sw = seeded_weights_module(shared_dir)
    seeded = sw.generate_state_dict(manifest(shared_dir, "cutie_base"), seed=0)
    net = CutieNetwork.base()
    missing, unexpected = net.load_state_dict(seeded, strict=True)
    assert not missing and not unexpected
    assert torch.equal(net.pixel_encoder.layer3[5].conv3.weight,
                       seeded["pixel_encoder.layer3.5.conv3.weight"])


def test_seeded_weights_load_strict_and_inv_freq_bit_equal(seeded_small):
    net = CutieNetwork.small()
    # our constant PE buffers equal the official rule bit for bit before loading
    for key in ("object_transformer.spatial_pe.inv_freq", "object_summarizer.pos_enc.inv_freq"):
        assert torch.equal(net.state_dict()[key], seeded_small[key])
    missing, unexpected = net.load_state_dict(seeded_small, strict=True)
    assert not missing and not unexpected
    net.load_weights(seeded_small)  # our strict loader accepts it too, and its training wrapper
    net.load_weights({"it": 3, "weights": seeded_small})
    from m3vos.errors import BadInputError

    partial = {k: v for k, v in seeded_small.items() if not k.startswith("aux_computer.")}
    with pytest.raises(BadInputError, match="2 missing key.*aux_computer.sensory_aux"):
        net.load_weights(partial, source="w.pth")


def _step_prob(z, variant, step):
    return z[f"{variant}/step_prob_u16"][step].astype(np.float64) / 65535


def test_first_steps_match_official_outputs(shared_dir, seeded_small):
    """Frame 0 (mask -> memory) and frame 1 (segmentation from memory) of the `default`
    variant, driven directly through the network's official-style API."""
    from m3vos.trackers.cutie.memory_ops import do_softmax, get_similarity
    from m3vos.trackers.cutie.tensor_ops import aggregate

    torch.set_num_threads(1)
    z = np.load(shared_dir / PARITY / "cutie_small_reference.npz")
    frames = z["default/frames"]
    mask0 = torch.from_numpy(z["default/input_masks"][0]).long()
    objects = sorted(int(i) for i in np.unique(z["default/input_masks"][0]) if i)
    net = CutieNetwork.small()
    net.load_weights(seeded_small)

    def image(t):
        return torch.from_numpy(frames[t]).permute(2, 0, 1).float().div(255).unsqueeze(0)

    with torch.inference_mode():
        img0 = image(0)
        ms0, pix0 = net.encode_image(img0)
        key0, shrink0, _ = net.transform_key(ms0[0])
        prob0 = torch.softmax(aggregate(torch.stack([mask0 == o for o in objects]), dim=0), dim=0)
        last_mask = prob0[1:].unsqueeze(0)
        h, w = key0.shape[-2:]
        sensory = torch.zeros(1, len(objects), net.sensory_dim, h, w)
        value, sensory, summaries, _ = net.encode_mask(img0, pix0, sensory, last_mask)
        assert value.shape == (1, 2, 256, h, w) and summaries.shape == (1, 2, 16, 257)

        img1 = image(1)
        ms1, pix1 = net.encode_image(img1)
        key1, _, sel1 = net.transform_key(ms1[0])
        sim = get_similarity(key0.flatten(2), shrink0.flatten(2), key1.flatten(2), sel1.flatten(2))
        affinity = do_softmax(sim, top_k=30)
        mv = value.flatten(3)
        readout = (mv.view(1, -1, mv.shape[-1]) @ affinity).view(1, 2, 256, h, w)
        fused = net.pixel_fusion(pix1, readout, sensory, last_mask)
        memory_readout, aux = net.readout_query(fused, summaries.unsqueeze(2))
        assert len(aux["logits"]) == 4
        new_sensory, logits, prob1 = net.segment(ms1, memory_readout, sensory)
    assert logits.shape == prob1.shape == (1, 3, 96, 160)
    assert new_sensory.shape == sensory.shape and not torch.equal(new_sensory, sensory)
    err0 = np.abs(prob0.numpy() - _step_prob(z, "default", 0)[:3]).max()
    err1 = np.abs(prob1[0].numpy() - _step_prob(z, "default", 1)[:3]).max()
    assert err0 < 1e-5
    assert err1 < 2e-5, err1  # uint16 storage alone is 7.7e-6


def test_batchnorm_stays_in_eval_mode():
    net = CutieNetwork.small()
    net.train()
    bns = [m for m in net.pixel_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    bns += [m for m in net.mask_encoder.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns)


def test_chunked_decoder_equals_unchunked():
    torch.manual_seed(0)
    net = CutieNetwork.small()
    ms = (torch.randn(1, 256, 4, 6), torch.randn(1, 128, 8, 12), torch.randn(1, 64, 16, 24))
    readout = torch.randn(1, 3, 256, 4, 6)
    sensory = torch.randn(1, 3, 256, 4, 6)
    with torch.inference_mode():
        s_a, l_a, p_a = net.segment(ms, readout, sensory)
        s_b, l_b, p_b = net.segment(ms, readout, sensory, chunk_size=1)
    assert torch.allclose(p_a, p_b, atol=1e-6) and torch.allclose(s_a, s_b, atol=1e-6)
    assert p_a.shape == (1, 4, 64, 96)
    assert torch.allclose(p_a.sum(1), torch.ones(1, 64, 96), atol=1e-5)


def test_attention_mask_splits_queries_and_unblocks_full_rows():
    net = CutieNetwork.small()
    ot = net.object_transformer
    # 2 objects on a 2x3 map: object 1 wins the left column, object 2 the middle one,
    # the right column is background; object 2 ... is everywhere low in a third case below.
    logits = torch.full((1, 2, 2, 3), -10.0)
    logits[0, 0, :, 0] = 10.0
    logits[0, 1, :, 1] = 10.0
    mask = ot._get_aux_mask(logits, None)
    heads, q = ot.num_heads, ot.num_queries
    assert mask.shape == (2 * heads, q, 6) and mask.dtype == torch.bool
    fg1 = torch.tensor([True, False, False, True, False, False])  # column 0, row-major
    # object 1, any head: foreground queries see only its pixels, background queries the rest
    assert torch.equal(mask[0, 0], ~fg1) and torch.equal(mask[heads - 1, q // 2 - 1], ~fg1)
    assert torch.equal(mask[0, q // 2], fg1)
    # an object that wins no pixel: its foreground rows would be fully blocked -> unblocked
    logits[0, 1] = -10.0
    mask = ot._get_aux_mask(logits, None)
    assert not mask[heads:, : q // 2].any()          # object 2 fg rows: all visible
    assert mask[heads:, q // 2:].sum() == 0          # bg rows see everything (nothing is fg)


def test_positional_encoding_layout():
    from m3vos.trackers.cutie.positional_encoding import PositionalEncoding

    pe = PositionalEncoding(256, scale=32, temperature=128, channel_last=False,
                            transpose_output=True)
    out = pe(torch.zeros(2, 256, 4, 5))
    assert out.shape == (2, 4, 5, 256)                       # channel-last output
    assert torch.equal(out[0, 0, 0, 0::2], torch.zeros(128))  # sin(0), x and y halves
    assert torch.equal(out[0, 0, 0, 1::2], torch.ones(128))   # cos(0), interleaved
    # x varies along columns only, y along rows only; the last column sits at ~scale
    assert torch.equal(out[0, 0, :, :128], out[0, 3, :, :128])
    assert torch.equal(out[0, :, 0, 128:], out[0, :, 4, 128:])
    assert out[0, 0, 4, 0].item() == pytest.approx(np.sin(32.0), abs=1e-4)  # x = 4/4 * 32
    assert pe(torch.zeros(2, 256, 4, 5)) is pe(torch.zeros(2, 256, 4, 5))  # cached
    summ = PositionalEncoding(256, scale=32, temperature=128)
    assert summ(torch.zeros(1, 3, 4, 5, 256)).shape == (1, 1, 4, 5, 256)


def test_eca_kernel_and_caresblock_shapes():
    from m3vos.trackers.cutie.channel_attention import CAResBlock, eca_kernel_size

    assert eca_kernel_size(256) == 5 and eca_kernel_size(128) == 5 and eca_kernel_size(64) == 3
    block = CAResBlock(512, 256)
    assert set(dict(block.named_parameters())) == {
        "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "conv.weight",
        "downsample.weight", "downsample.bias"}
    assert block(torch.randn(2, 512, 3, 4)).shape == (2, 256, 3, 4)
    assert isinstance(CAResBlock(256, 256).downsample, torch.nn.Identity)


def test_forward_is_not_a_shortcut():
    with pytest.raises(NotImplementedError):
        CutieNetwork.small()(torch.zeros(1, 3, 32, 32))
