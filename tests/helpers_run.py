"""Helpers for the runner/tracker tests: small datasets, output trees, the test plug-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
PLUGIN_SRC = REPO / "tests" / "plugin_pkg" / "src"
PLUGIN_PKG = REPO / "tests" / "plugin_pkg"


def synth_dataset(root: Path, *, videos: int = 4, frames: int = 10, seed: int = 0) -> Path:
    """A small M3-VOS-like dataset (Hugging Face layout) from the library's own generator."""
    from m3vos.data.synth import make_synthetic_dataset

    return make_synthetic_dataset(root, videos=videos, frames=frames, seed=seed, height=64, width=96)


def davis_palette_variant() -> bytes:
    rng = np.random.default_rng(7)
    return bytes(rng.integers(0, 256, 768, dtype=np.uint8).tolist())


def write_video(root: Path, name: str, *, frames: int = 6, size: tuple[int, int] = (48, 64),
                ids: tuple[int, ...] = (1,), late: dict[int, int] | None = None,
                palette: bytes | None = None) -> None:
    """One VOST-like video: JPEGImages/<name>/*.jpg, Annotations/<name>/*.png (palette PNGs).

    `late` maps object id -> first frame it appears in (absent from frame 0).
    """
    h, w = size
    img_dir = root / "JPEGImages" / name
    ann_dir = root / "Annotations" / name
    img_dir.mkdir(parents=True, exist_ok=True)
    ann_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(name))
    bg = rng.integers(0, 200, size=(h, w, 3), dtype=np.uint8)
    late = late or {}
    for t in range(frames):
        img = bg.copy()
        m = np.zeros((h, w), dtype=np.uint8)
        for k, oid in enumerate(list(ids) + list(late)):
            if oid in late and t < late[oid]:
                continue
            y, x = 4 + 12 * k, 4 + t + 8 * k
            img[y:y + 10, x:x + 12] = (255, 60 * k % 255, 30)
            m[y:y + 10, x:x + 12] = oid
        Image.fromarray(img).save(img_dir / f"{t:07d}.jpg", quality=95)
        pim = Image.fromarray(m, mode="P")
        pim.putpalette(palette or davis_palette_variant())
        pim.save(ann_dir / f"{t:07d}.png")


def write_split(root: Path, names: list[str]) -> None:
    (root / "ImageSets").mkdir(parents=True, exist_ok=True)
    (root / "ImageSets" / "val.txt").write_text("\n".join(names) + "\n")


def vost_dataset(root: Path, names: list[str], *, frames: int = 5) -> Path:
    """A VOST-like dataset of `write_video` videos listed in `ImageSets/val.txt`."""
    for n in names:
        write_video(root, n, frames=frames)
    write_split(root, names)
    return root


def png_tree(out: Path) -> dict[str, bytes]:
    """Every prediction PNG under `out` (relative path -> bytes), hidden folders excluded."""
    tree = {}
    for p in sorted(out.rglob("*.png")):
        rel = p.relative_to(out)
        if any(part.startswith(".") for part in rel.parts):
            continue
        tree[str(rel)] = p.read_bytes()
    return tree


def leftovers(out: Path) -> list[str]:
    """Temporary files or folders a run must never leave behind."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*")
                  if p.name.startswith((".tmp-", ".old-")))


def plugin_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a CLI subprocess that can import the test plug-in module by reference."""
    env = {"PYTHONPATH": os.pathsep.join([str(PLUGIN_SRC), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
    env.update(extra or {})
    return env


def install_plugin(target: Path) -> Path:
    """Really install the test plug-in package (with its entry points) into `target`.

    pip builds from a copy, so no build/ or egg-info folder lands in the source tree.
    """
    import shutil

    src = target.parent / f"{target.name}-src"
    shutil.copytree(PLUGIN_PKG, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(src)],
                   check=True, capture_output=True, text=True, timeout=120)
    return target
