"""SAM 2 / 2.1 trackers (transformers engine) and `--weights random[:SEED]` for model trackers.

Runs on the CPU with random weights at a small `image_size`, through the real CLI: run, score,
resume and `--workers 2` (byte-identical), the contract checks, checkpoint loading in both
real formats (strict, no pickled code), and the missing-engine error.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from helpers_cutie import ONE_THREAD_ENV
from helpers_run import png_tree, synth_dataset

sam2_video = pytest.importorskip(
    "transformers.models.sam2_video",
    reason="SAM 2 trackers need transformers >= 5.24 (pip install 'm3vos[sam2]'; in the test extra)")

SMALL = ["--config", "image_size=128"]   # same weights as 1024, 64x fewer pixels


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_dataset(tmp_path_factory.mktemp("sam2") / "ds", videos=2, frames=3, seed=5)


def test_run_random_weights_scores_resumes_and_matches_two_workers(cli, data, tmp_path):
    out = tmp_path / "out"
    proc = cli("run", "--model", "sam2.1-tiny", "--weights", "random", *SMALL, "--data", data,
               "--out", out, "--workers", "2", "--format", "json", env=ONE_THREAD_ENV, check=0)
    assert "warning: random weights: the numbers mean nothing" in proc.stderr
    names = json.loads(proc.stdout)["done"]
    assert len(names) == 2
    run = json.loads((out / "run.json").read_text())
    assert run["weights"] == {"random": True, "seed": 0}
    assert run["identity"]["weights_sha256"] == "random:0" and run["status"] == "complete"
    two_workers = png_tree(out)
    assert len(two_workers) == 6
    # forget one video (as after a crash before its record) and resume serially
    shutil.rmtree(out / names[0])
    (out / ".m3vos" / "done" / f"{names[0]}.json").unlink()
    resumed = json.loads(cli("run", "--model", "sam2.1-tiny", "--weights", "random", *SMALL, "--data", data,
                             "--out", out, "--format", "json", env=ONE_THREAD_ENV, check=0).stdout)
    assert resumed["skipped"] == [names[1]] and resumed["done"] == [names[0]]
    assert png_tree(out) == two_workers
    # another seed is another run: refused in the same folder, never mixed
    proc = cli("run", "--model", "sam2.1-tiny", "--weights", "random:1", *SMALL, "--data", data,
               "--out", out, env=ONE_THREAD_ENV, check=2)
    assert "weights_sha256" in proc.stderr
    cli("score", out, "--data", data, check=0)
    res = json.loads((out / "results.json").read_text())
    assert len(res["per_object"]) >= 2 and "J&F-Mean" in res["global"]


def test_trackers_test_random_weights_for_sam2_and_cutie(cli):
    from m3vos.selftest import self_test

    rep = json.loads(cli("trackers", "test", "sam2.1-tiny", "--weights", "random:3", *SMALL, "--format", "json",
                         env=ONE_THREAD_ENV, check=0).stdout)
    assert rep["ok"], rep
    assert any(c["name"] == "frame 0 reproduces the given mask" and c["ok"] for c in rep["checks"])
    rep = self_test("cutie-small", weights="random", config={"size": 64})   # the same checks, in-process
    assert rep.ok, rep.to_dict()
    assert "only ground-truth ids" in {c.name for c in rep.checks}
    proc = cli("trackers", "test", "flow", "--weights", "random", check=1)
    assert "has no weights to randomise" in proc.stdout
    proc = cli("run", "--model", "sam2.1-tiny", "--weights", "random:x", "--data", ".", "--out", "o", check=2)
    assert proc.stderr.startswith("error: --weights random:x: the seed must be a non-negative integer")


def test_revos_and_sam2_build_from_a_seed_without_a_file():
    import torch

    from m3vos.trackers.revos.tracker import ReVOSTracker
    from m3vos.trackers.sam2.tracker import Sam2TinyTracker

    a = ReVOSTracker(weights=Path("random:2"), config={"size": 64}).network.state_dict()
    assert sum(k.startswith("readout_fuser.") for k in a) == 16   # the whole ReVOS network
    assert all(torch.isfinite(v).all() for v in a.values() if v.is_floating_point())
    net = Sam2TinyTracker(weights=Path("random:2"), config={"image_size": 128}).network
    assert "occlusion_spatial_embedding_parameter" not in net.state_dict()   # a 2.0 model


def test_seeded_random_parameters_are_reproducible_and_leave_the_rng_alone():
    import torch

    from m3vos.trackers.models import build_model
    from m3vos.trackers.random_weights import random_seed, seeded_build

    assert (random_seed("random"), random_seed("random:7"), random_seed("w.pth")) == (0, 7, None)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = seeded_build(lambda: build_model("cutie-small"), 4).state_dict()
    after = torch.rand(1)
    assert torch.equal(before, after)   # the caller's RNG stream is untouched
    b = seeded_build(lambda: build_model("cutie-small"), 4).state_dict()
    c = seeded_build(lambda: build_model("cutie-small"), 5).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """sam2.1-tiny with seeded random parameters, saved by transformers itself (`save_pretrained`,
    the format of the hub files) and under Meta's names (the format of the .pt release)."""
    import torch

    from helpers_sam2 import hf_to_meta
    from m3vos.trackers.random_weights import seeded_build
    from m3vos.trackers.sam2.model import build_model
    from m3vos.trackers.sam2.variants import VARIANTS

    root = tmp_path_factory.mktemp("sam2w")
    model = seeded_build(lambda: build_model(VARIANTS["sam2.1-tiny"], 128), 11)
    with torch.no_grad():   # one table in Meta's model (pe_layer), two equal copies in transformers'
        model.shared_image_embedding.positional_embedding.copy_(
            model.prompt_encoder.shared_embedding.positional_embedding)
    model.save_pretrained(root / "hf")
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save({"model": hf_to_meta(state)}, root / "sam2.1_hiera_tiny.pt")
    return root, state


def test_checkpoints_in_both_real_formats_load_strictly(written):
    import torch

    from helpers_sam2 import OFFICIAL_META_KEYS_21
    from m3vos.trackers.sam2.tracker import Sam21TinyTracker

    root, state = written
    meta = torch.load(root / "sam2.1_hiera_tiny.pt", weights_only=True)["model"]
    missing = [k for k in OFFICIAL_META_KEYS_21 if k not in meta]
    assert not missing, missing   # the file carries Meta's names, not transformers'
    for path in (root / "hf" / "model.safetensors", root / "sam2.1_hiera_tiny.pt"):
        tracker = Sam21TinyTracker(weights=path, config={"image_size": 128})
        loaded = tracker.network.state_dict()
        assert set(loaded) == set(state)
        assert all(torch.equal(loaded[k], state[k]) for k in state), path
    from m3vos.trackers.sam2.checkpoint import check_sam2_checkpoint

    rep = check_sam2_checkpoint("sam2.1-tiny", root / "sam2.1_hiera_tiny.pt")
    assert rep.ok and rep.num_tensors == len(state)
    # a wrong size (tiny into small) names the missing blocks
    rep = check_sam2_checkpoint("sam2.1-small", root / "sam2.1_hiera_tiny.pt")
    assert not rep.ok and "vision_encoder.backbone.blocks.12.attn.qkv.weight" in rep.load.missing
    # a 2.1 file is not a 2.0 model: `m3vos weights check` names the two 2.1-only tensors
    from m3vos.trackers.models import load_error
    from m3vos.trackers.weights import check_weights

    rep = check_weights("sam2-tiny", root / "hf" / "model.safetensors")
    err = load_error(rep)
    assert err.exit_code == 2 and "unexpected key(s): occlusion_spatial_embedding_parameter" in err.message
    assert "temporal_positional_encoding_projection_layer.weight" in err.message


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickled_code_and_truncated_files_are_refused(written, tmp_path):
    import torch

    from m3vos.errors import BadInputError
    from m3vos.trackers.sam2.checkpoint import read_sam2_checkpoint

    root, _ = written
    evil = tmp_path / "evil.pt"
    torch.save({"model": {"x": _Evil()}}, evil)
    with pytest.raises(BadInputError, match="refusing to load"):
        read_sam2_checkpoint(evil)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes((root / "hf" / "model.safetensors").read_bytes()[:5000])
    with pytest.raises(BadInputError, match="not a readable safetensors file"):
        read_sam2_checkpoint(cut)


def test_missing_transformers_is_exit_2_with_the_install_hint(cli, tmp_path):
    shim = tmp_path / "shim" / "transformers"   # a transformers without SAM 2 video
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("")
    env = {"PYTHONPATH": str(shim.parent)}
    proc = cli("run", "--model", "sam2.1-tiny", "--weights", "random", "--data", ".", "--out",
               tmp_path / "o", env=env, check=2)
    assert proc.stderr.startswith("error: SAM 2 trackers need transformers >= 5.24")
    assert "pip install 'm3vos[sam2]'" in proc.stderr and "Traceback" not in proc.stderr
    rows = {r["name"]: r for r in json.loads(cli("trackers", "list", "--format", "json", env=env, check=0).stdout)}
    assert not rows["sam2.1-large"]["available"]
    assert "pip install 'm3vos[sam2]'" in rows["sam2.1-large"]["error"]
    assert rows["cutie-small"]["available"]


def test_weights_table_lists_every_variant_with_meta_urls_and_hub_ids(cli):
    rows = {r["name"]: r for r in json.loads(cli("weights", "list", "--format", "json", check=0).stdout)}
    assert rows["sam2.1-tiny"]["source_url"] == \
        "https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_tiny.pt"
    assert rows["sam2-base-plus"]["source_url"] == \
        "https://dl.fbaipublicfiles.com/segment_anything_2/072824/sam2_hiera_base_plus.pt"
    assert rows["sam2.1-large"]["hub_id"] == "facebook/sam2.1-hiera-large"
    assert {f"sam2{v}-{s}" for v in ("", ".1") for s in ("tiny", "small", "base-plus", "large")} <= set(rows)


def test_download_from_a_mirror_resumes_and_the_file_loads_strictly(written, monkeypatch, tmp_path):
    """`m3vos weights download sam2.1-tiny` path: Meta's file name under M3VOS_WEIGHTS_URL, a cut
    transfer resumed, then the strict check the command runs after downloading."""
    from helpers_data import FileServerState, serve_files
    from m3vos.trackers import weights as W
    from m3vos.trackers.sam2.checkpoint import check_sam2_checkpoint

    root, state = written
    body = (root / "sam2.1_hiera_tiny.pt").read_bytes()
    name = "/sam2.1_hiera_tiny.pt"
    monkeypatch.setenv("M3VOS_CACHE", str(tmp_path / "cache"))
    with serve_files(FileServerState(files={name: body}, cut_after={name: len(body) // 2},
                                     cuts_left={name: 1})) as (url, _):
        monkeypatch.setenv("M3VOS_WEIGHTS_URL", url)
        path = W.download_weights("sam2.1-tiny", progress=False)
    assert path == W.weights_path("sam2.1-tiny") and path.read_bytes() == body
    assert W.weights_for_model("sam2.1-tiny") == path   # what the tracker loads by default
    assert check_sam2_checkpoint("sam2.1-tiny", path).ok


def test_late_objects_are_prompted_at_their_first_frame():
    """Each object starts from its own first mask: id 7 of the self-test video appears at frame 4,
    is absent before, and its prompt frame reproduces the given mask (prompts are used as
    outputs, as in Meta's predictor), whatever the (random) weights."""
    import numpy as np

    from m3vos.selftest import synthetic_video
    from m3vos.runner.video import IdMap, make_input
    from m3vos.trackers.sam2.tracker import Sam21TinyTracker

    src, gts = synthetic_video(frames=6, late=True)
    ids = IdMap.for_source(src)
    tracker = Sam21TinyTracker(weights=Path("random:0"), config={"image_size": 128})
    outs = {o.frame: ids.to_dataset(o.labels) for o in tracker.track(make_input(src, type(tracker), ids))}
    assert sorted(outs) == list(range(6))

    def iou(a, b):
        return (a & b).sum() / max((a | b).sum(), 1)

    assert not any((outs[t] == 7).any() for t in range(4))
    assert iou(outs[4] == 7, gts[4] == 7) > 0.9
    for oid in (2, 5):
        assert iou(outs[0] == oid, gts[0] == oid) > 0.9
    assert not np.isin(outs[5], [255]).any()
