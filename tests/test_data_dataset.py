"""The dataset model: layouts, split files, the data-root lookup, laziness, objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from m3vos.data.config import get_data_root, set_data_root
from m3vos.data.dataset import open_dataset
from m3vos.data.masks import write_mask
from m3vos.data.synth import make_synthetic_dataset
from m3vos.errors import BadInputError


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "synth", videos=4, frames=8, seed=3)


def _copy_as(src: Path, dest: Path, *, ann: str, img: str, split: str | None) -> Path:
    """Re-arrange the synthetic release into another layout."""
    shutil.copytree(src / "data" / "Annotations", dest / ann)
    shutil.copytree(src / "data" / "JPEGImages", dest / img)
    if split:
        (dest / split).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / "data" / "ImageSets" / "val.txt", dest / split)
    return dest


def test_hf_layout(synth_root: Path) -> None:
    ds = open_dataset(synth_root)
    assert ds.layout == "hf"
    assert ds.annotations_dir == synth_root / "data" / "Annotations"
    assert ds.images_dir == synth_root / "data" / "JPEGImages"
    names = (synth_root / "data/ImageSets/val.txt").read_text().split()
    assert ds.video_names == names and len(ds) == 4
    v = ds.video(names[0])
    assert [p.name for p in v.mask_paths] == [f"{i:07d}.png" for i in range(8)]
    assert v.stems == [p.stem for p in v.frame_paths]
    assert v.size == (120, 160) and v.fps == 30
    ident = ds.identity()
    assert ident["layout"] == "hf" and ident["n_videos"] == 4 and len(ident["manifest_sha256"]) == 64
    # The release's data/ folder given as root still finds meta/ beside it.
    assert open_dataset(synth_root / "data").layout == "hf"


def test_vost_and_davis_layouts(synth_root: Path, tmp_path: Path) -> None:
    vost = _copy_as(synth_root, tmp_path / "vost", ann="Annotations", img="JPEGImages", split="ImageSets/val.txt")
    ds = open_dataset(vost)
    assert ds.layout == "vost" and len(ds) == 4 and ds.images_dir == vost / "JPEGImages"
    davis = _copy_as(synth_root, tmp_path / "davis", ann="Annotations/480p", img="JPEGImages/480p",
                     split="ImageSets/2017/val.txt")
    ds = open_dataset(davis)
    assert ds.layout == "davis" and ds.annotations_dir == davis / "Annotations" / "480p"
    assert ds.images_dir == davis / "JPEGImages" / "480p"
    assert ds.video(ds.video_names[0]).size == (120, 160)


def test_davis_root_written_by_the_shared_generator(shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dev"
    subprocess.run([sys.executable, str(shared_dir / "fixtures/scoring/synth_vos.py"), "--seed", "1",
                    "--num-seqs", "1", "--out", str(out)], check=True, capture_output=True, timeout=120)
    ds = open_dataset(out)
    assert ds.layout == "davis" and ds.identity()["split_source"] == "ImageSets/2017/val.txt"
    v = next(iter(ds))
    assert len(v.mask_paths) == len(v.frame_paths) > 0
    assert v.object_ids == list(range(1, int(v.first_mask()[v.first_mask() != 255].max()) + 1))


def test_missing_split_falls_back_to_folders(synth_root: Path, tmp_path: Path) -> None:
    root = _copy_as(synth_root, tmp_path / "nosplit", ann="Annotations", img="JPEGImages", split=None)
    ds = open_dataset(root)
    assert ds.video_names == sorted(p.name for p in (root / "Annotations").iterdir())
    assert "annotation folders" in ds.identity()["split_source"]
    # Another split asked for while split files exist: an error naming the ones there are.
    (root / "ImageSets").mkdir()
    (root / "ImageSets" / "train.txt").write_text(ds.video_names[0] + "\n")
    with pytest.raises(BadInputError, match="found train"):
        open_dataset(root)


def test_unknown_and_ambiguous_layouts(synth_root: Path, tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "frames").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    with pytest.raises(BadInputError) as exc:
        open_dataset(tmp_path / "junk")
    msg = exc.value.one_line()
    assert "unknown dataset layout" in msg and "frames/" in msg and "notes.txt" in msg
    assert "data/Annotations" in msg and "ImageSets/2017" in msg   # what was expected
    both = _copy_as(synth_root, tmp_path / "both", ann="Annotations", img="JPEGImages", split="ImageSets/val.txt")
    shutil.copytree(synth_root / "data", both / "data")
    with pytest.raises(BadInputError, match="ambiguous"):
        open_dataset(both)
    two = _copy_as(synth_root, tmp_path / "two", ann="Annotations", img="JPEGImages", split="ImageSets/val.txt")
    shutil.copytree(two / "ImageSets", tmp_path / "x")
    shutil.move(str(tmp_path / "x"), two / "ImageSets" / "2017")
    with pytest.raises(BadInputError, match="ambiguous"):
        open_dataset(two)
    with pytest.raises(BadInputError, match="does not exist"):
        open_dataset(tmp_path / "nowhere")


def test_data_root_lookup(synth_root: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    with pytest.raises(BadInputError) as exc:
        open_dataset()
    assert "m3vos data download" in exc.value.one_line() and "--data" in exc.value.one_line()
    assert get_data_root() is None
    cfg = set_data_root(synth_root)
    assert cfg.parent == Path(os.environ["M3VOS_CONFIG_DIR"])
    assert json.loads(cfg.read_text())["data_root"] == str(synth_root.resolve())
    assert open_dataset().root == synth_root.resolve()
    monkeypatch.setenv("M3VOS_DATA", str(synth_root / "data"))       # the env var wins
    assert get_data_root() == synth_root / "data"
    # The CLI sees the same configuration.
    proc = cli("data", "info", "--json", check=0)
    assert json.loads(proc.stdout)["n_videos"] == 4


def test_corrupt_config_is_one_line(monkeypatch: pytest.MonkeyPatch, cli) -> None:
    cfg = Path(os.environ["M3VOS_CONFIG_DIR"]) / "config.json"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("{not json")
    proc = cli("data", "info", check=2)
    assert proc.stderr.startswith("error: ") and "config.json" in proc.stderr and "Traceback" not in proc.stderr


def test_opening_is_lazy(synth_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import PIL.Image

    import m3vos.data.masks as masks

    calls: list[str] = []          # images opened by PIL, masks decoded by m3vos' own PNG reader
    real_open, real_read = PIL.Image.open, masks.read_mask
    monkeypatch.setattr(PIL.Image, "open", lambda fp, *a, **k: calls.append(str(fp)) or real_open(fp, *a, **k))
    reads: list[str] = []
    monkeypatch.setattr(masks, "read_mask", lambda p, *a, **k: reads.append(str(p)) or real_read(p, *a, **k))
    ds = open_dataset(synth_root)
    ds.identity()
    names = [v.name for v in ds]
    assert names == ds.video_names and calls == [] and reads == []   # no image read to open or list
    ds.objects()
    assert len(reads) == len(ds) and calls == []           # objects(): one first mask per video


def test_objects_follow_the_first_frame_rule(synth_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "ids"
    shutil.copytree(synth_root, root)
    ds = open_dataset(root)
    v = ds.video(ds.video_names[0])
    first = np.zeros(v.size, dtype=np.uint8)
    first[2:5, 2:5] = 3
    first[10:12, 10:12] = 255                              # void does not count
    write_mask(v.mask_paths[0], first)
    v = open_dataset(root).video(v.name)
    assert v.object_ids == [1, 2, 3]
    objs = v.objects
    assert [o.key for o in objs] == [f"{v.name}_{k}" for k in (1, 2, 3)]
    with pytest.raises(BadInputError, match="did you mean"):
        ds.video(v.name[:-1])


def test_synth_objects_carry_labels(synth_root: Path) -> None:
    from m3vos.data import taxonomy

    ds = open_dataset(synth_root)
    objs = ds.objects()
    assert objs and all(o.transition in taxonomy.TRANSITIONS for o in objs)
    assert all(o.group == taxonomy.TRANSITION_GROUP[o.transition] for o in objs)
    assert all(o.intra == (o.group != "CP") for o in objs)
    assert {o.core for o in objs} == {True, False}
    assert {o.difficulty for o in objs} <= {"easy", "mid", "hard"} and "hard" in {o.difficulty for o in objs}


def test_split_names_cannot_escape_the_root(synth_root: Path, tmp_path: Path) -> None:
    root = _copy_as(synth_root, tmp_path / "esc", ann="Annotations", img="JPEGImages", split="ImageSets/val.txt")
    (root / "ImageSets" / "val.txt").write_text("# comment\n\n../../etc\n")
    with pytest.raises(BadInputError, match="line 3.*no paths allowed"):
        open_dataset(root)
