"""Cutie's inference core: settings, memory bookkeeping and the step's hooks for ReVOS."""

from __future__ import annotations

import numpy as np
import pytest

from helpers_cutie import ONE_THREAD_ENV, one_thread, own_weights, synth_clip  # noqa: F401

torch = pytest.importorskip("torch")

from m3vos.errors import BadInputError  # noqa: E402
from m3vos.trackers.cutie.kv_memory_store import KeyValueMemoryStore  # noqa: E402
from m3vos.trackers.cutie.settings import EvalSettings  # noqa: E402


# ---------------------------------------------------------------------------- settings
def test_defaults_are_the_official_eval_defaults():
    s = EvalSettings()
    assert (s.mem_every, s.top_k, s.stagger_updates, s.chunk_size,
            s.max_mem_frames) == (5, 30, 5, -1, 5)
    assert (s.use_long_term, s.max_internal_size, s.flip_aug, s.amp,
            s.size) == (False, -1, False, False, 480)
    lt = s.long_term
    assert (lt.count_usage, lt.max_mem_frames, lt.min_mem_frames, lt.num_prototypes,
            lt.max_num_tokens, lt.buffer_tokens) == (True, 10, 5, 128, 10000, 2000)


def test_settings_from_config_keys_and_reference_blocks():
    s = EvalSettings.from_dict({"mem_every": "10", "flip_aug": "true",
                                "long_term.num_prototypes": 64, "use_long_term": True})
    assert s.mem_every == 10 and s.flip_aug is True and s.long_term.num_prototypes == 64
    assert s.long_term.max_mem_frames == 10  # untouched keys keep their defaults
    s = EvalSettings.from_dict({"long_term": {"max_mem_frames": 4, "min_mem_frames": 2},
                                "use_long_term": True, "polish_every": 3}, ignore_unknown=True)
    assert (s.long_term.max_mem_frames, s.long_term.min_mem_frames) == (4, 2)


@pytest.mark.parametrize("values,needle", [({"mem_evry": 3}, "mem_every"),
                                           ({"top_k": "many"}, "top_k"),
                                           ({"flip_aug": "maybe"}, "flip_aug"),
                                           ({"mem_every": 0}, "mem_every"),
                                           ({"long_term.bogus": 1}, "long_term.bogus")])
def test_bad_settings_are_one_line_errors(values, needle):
    with pytest.raises(BadInputError) as info:
        EvalSettings.from_dict(values, source="--config")
    assert needle in info.value.one_line() and "\n" not in info.value.one_line()


def test_stagger_set_rounds_half_to_even():
    assert EvalSettings(mem_every=10, stagger_updates=5).stagger_set() == {1, 3, 6, 8, 10}
    assert EvalSettings().stagger_set() == {1, 2, 3, 4, 5}
    assert EvalSettings(mem_every=3, stagger_updates=5).stagger_set() == {1, 2, 3}


# ---------------------------------------------------------------------------- memory store
def _frame(value: float, n: int = 4, ck: int = 2):
    key = torch.full((1, ck, n), value)
    return key, torch.full((1, 1, n), value), torch.full((1, ck, n), value)


def test_buckets_permanent_prefix_and_fifo():
    store = KeyValueMemoryStore()
    for t in range(5):
        k, s, _ = _frame(float(t))
        store.add(k, {1: k.clone(), 2: k.clone()}, s, None, as_permanent="first")
        store.remove_old_memory(0, 2 * 4)  # keep 2 temporary frames
    assert store.buckets == {0: [1, 2]}
    assert store.perm_size(0) == 4
    # permanent frame 0, then the two newest temporary frames 3 and 4
    assert store.key[0][0, 0].tolist() == [0.0] * 4 + [3.0] * 4 + [4.0] * 4
    assert store.value[2][0, 0].tolist() == store.key[0][0, 0].tolist()
    # a late object gets its own bucket whose first frame is permanent
    k, s, _ = _frame(9.0)
    store.add(k, {1: k.clone(), 2: k.clone(), 3: k.clone()}, s, None, as_permanent="first")
    assert store.buckets == {0: [1, 2], 1: [3]}
    assert store.perm_size(1) == 4 and store.size(1) == 4
    assert store.key[0][0, 0].tolist()[-4:] == [9.0] * 4


def test_usage_counters_and_obsolete_removal():
    store = KeyValueMemoryStore(save_usage=True)
    for t in range(3):
        k, s, _ = _frame(float(t), n=2)
        store.add(k, {1: k.clone()}, s, None)
    assert torch.allclose(store.life_count[0], torch.full((1, 6), 1e-7))
    store.update_bucket_usage(0, torch.tensor([[0.0, 5.0, 1.0, 0.0, 3.0, 2.0]]))
    store.remove_obsolete_features(0, 3)
    # tokens are [f0, f0, f1, f1, f2, f2]; the 3 most used are indices 1, 4, 5
    assert store.key[0][0, 0].tolist() == [0.0, 2.0, 2.0]
    assert sorted((store.use_count[0] / store.life_count[0])[0].round().tolist()) == [2.0, 3.0, 5.0]


# ---------------------------------------------------------------------------- the core
@pytest.fixture(scope="module")
def network(tmp_path_factory):
    from m3vos.trackers.models import load_model

    return load_model("cutie-small", own_weights(tmp_path_factory))


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    frames, gt = synth_clip(tmp_path_factory, objects=2, frames=12, height=48, width=80)
    images = [torch.from_numpy(f.copy()).permute(2, 0, 1).float() / 255 for f in frames]
    return images, torch.from_numpy(gt.astype(np.int64))


def _core(network, **settings):
    from m3vos.trackers.cutie.inference_core import InferenceCore

    return InferenceCore(network, EvalSettings.from_dict(settings))


def test_pad_is_centred_and_undone():
    from m3vos.trackers.cutie.inference_core import pad_divide_by, unpad

    x = torch.arange(2 * 35 * 50, dtype=torch.float32).view(2, 35, 50)
    padded, pad = pad_divide_by(x, 16)
    assert padded.shape[-2:] == (48, 64) and pad == (7, 7, 6, 7)
    assert torch.equal(unpad(padded, pad), x)


def test_long_term_memory_stays_bounded(network, clip):
    images, gt = clip
    core = _core(network, mem_every=1, use_long_term=True,
                 long_term={"max_mem_frames": 4, "min_mem_frames": 2, "num_prototypes": 8,
                            "max_num_tokens": 30, "buffer_tokens": 6})
    tokens = []
    with torch.inference_mode():
        for t in range(36):  # ping-pong over the 12 frames
            i = t % 22 if t % 22 < 12 else 21 - t % 22
            core.step(images[i], gt[0] if t == 0 else None, [1, 2] if t == 0 else None)
            tokens.append(core.memory.num_tokens())
    hw = 3 * 5
    # working memory: permanent + <= 3 temporary frames; long-term: <= max_num_tokens
    assert max(tokens) <= 4 * hw + 30
    assert tokens[-1] == tokens[-7]  # steady state: consolidation and pruning keep it flat
    assert core.memory.long_mem.size(0) > 0
    assert core.memory.work_mem.perm_size(0) == hw


def test_end_step_writes_no_memory_and_state_restores(network, clip):
    images, gt = clip
    core = _core(network)
    with torch.inference_mode():
        first = core.step(images[0], gt[0], [1, 2])
        assert core.last_readout is None  # the annotated frame is not segmented
        assert first.shape == (3, 48, 80)
        core.step(images[1])
        assert core.last_readout.shape == (1, 2, 256, 3, 5)
        saved = core.backup_state()
        tokens = core.memory.num_tokens()
        sensory = {k: v.clone() for k, v in core.memory.sensory.items()}
        core.step(images[2], end=True)  # the last frame: no memory, no sensory update
        assert core.memory.num_tokens() == tokens
        assert all(torch.equal(sensory[k], core.memory.sensory[k]) for k in sensory)
        core.step(images[3])  # changes sensory memory and last_mask
        assert not torch.equal(core.memory.sensory[1], sensory[1])
        core.restore_state(saved)
        assert core.curr_ti == 1 and core.last_mask is saved.last_mask
        assert all(torch.equal(sensory[k], core.memory.sensory[k]) for k in sensory)


def test_logit_scale_hook_and_amp_off_on_cpu(network, clip):
    images, gt = clip

    def run(scale=1.0, outer_autocast=False, **settings):
        core = _core(network, **settings)
        core.logit_scale = scale
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16,
                                                    enabled=outer_autocast):
            core.step(images[0], gt[0], [1, 2])
            return [core.step(images[t]) for t in (1, 2)]

    plain = run()
    assert all(p.dtype == torch.float32 for p in plain)
    assert all(torch.equal(a, b) for a, b in zip(plain, run(outer_autocast=True, amp=True)))
    boosted = run(scale=2.0)
    assert (boosted[0] - plain[0]).abs().max() > 1e-3
    # a sharper sigmoid gives a sharper distribution over the channels: lower entropy per pixel
    def entropy(p: torch.Tensor) -> float:
        return float(-(p * p.clamp_min(1e-9).log()).sum(0).mean())

    assert entropy(boosted[0]) < entropy(plain[0]) - 1e-3


def test_given_mask_wins_and_late_object_gets_a_new_channel(network, clip):
    images, gt = clip
    core = _core(network)
    with torch.inference_mode():
        core.step(images[0], torch.where(gt[0] == 3, 0, gt[0]), [1, 2])
        core.step(images[1])
        new = torch.zeros_like(gt[2])
        new[10:20, 10:30] = 5
        prob = core.step(images[2], new, [5])
        assert prob.shape[0] == 4
        labels = core.output_prob_to_mask(prob)
        assert bool((labels[10:20, 10:30] == 5).all())
        assert core.memory.work_mem.buckets == {0: [1, 2], 1: [5]}
        assert core.step(images[3]).shape[0] == 4


def test_chunk_size_is_honoured(network, clip):
    """Chunks of >= N objects are the unchunked path; chunks of 1 change the result (the
    fuser's "others" and the transformer then see one object at a time)."""
    images, gt = clip

    def run(chunk_size):
        core = _core(network, chunk_size=chunk_size, mem_every=1)
        with torch.inference_mode():
            core.step(images[0], gt[0], [1, 2])
            return torch.stack([core.step(images[t]) for t in (1, 2)])

    whole = run(-1)
    assert torch.equal(whole, run(2))
    assert (whole - run(1)).abs().max() > 1e-4


def test_full_long_term_memory_without_usage_is_a_clear_error(network, clip):
    images, gt = clip
    core = _core(network, mem_every=1, use_long_term=True,
                 long_term={"count_usage": False, "max_mem_frames": 3, "min_mem_frames": 2,
                            "num_prototypes": 4, "max_num_tokens": 10, "buffer_tokens": 2})
    with torch.inference_mode(), pytest.raises(BadInputError, match="count_usage"):
        core.step(images[0], gt[0], [1, 2])
        for t in range(1, 12):
            core.step(images[t])
