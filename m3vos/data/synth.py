"""A small synthetic M3-VOS in the Hugging Face release layout, for demos, tests and new users.

Objects change "phase" in ways that trouble trackers: they melt and spread, break into pieces,
dissolve and fade, grow from nothing after frame 0, dash across the frame, leave it, or diffuse
into a cloud of specks. Each one carries a real transition label of the taxonomy, and the
metadata files come in the official formats so every part of m3vos reads them as it would the
real labels. Video `i` depends only on (`seed`, `i`), never on how many videos are made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from m3vos.data import taxonomy
from m3vos.errors import BadInputError

#: behaviour -> (transition, before state, after state); every transition is one of the 23.
BEHAVIOURS: dict[str, tuple[str, str, str]] = {
    "melt": ("melt", "solid:non_particulate:rigid body", "liquid:non viscous"),
    "dissolve": ("dissolve", "solid:particulate", "liquid:non viscous"),
    "break": ("break", "solid:non_particulate:rigid body", "solid:particulate"),
    "separate": ("separate", "solid:non_particulate:rigid body", "solid:non_particulate:rigid body"),
    "grow": ("crystallize", "liquid:non viscous", "solid:particulate"),
    "deposit": ("deposition", "aerosol/gas", "solid:particulate"),
    "dash": ("flow", "liquid:non viscous", "liquid:non viscous"),
    "exit": ("flow out", "liquid:viscous", "liquid:viscous"),
    "diffuse": ("diffusion", "aerosol/gas", "aerosol/gas"),
    "vaporize": ("vaporize", "liquid:non viscous", "aerosol/gas"),
    "stretch": ("stretch", "solid:non_particulate:flexible body", "solid:non_particulate:flexible body"),
    "twist": ("twist", "solid:non_particulate:flexible body", "solid:non_particulate:flexible body"),
}

LATE = {"grow", "deposit"}     # objects that appear after frame 0

#: Object plans per video (the late object, if any, comes first so it gets id 1 and is scored).
PLANS: tuple[tuple[str, ...], ...] = (
    ("melt",),
    ("grow", "break"),
    ("dissolve", "dash"),
    ("exit", "stretch", "diffuse"),
    ("separate", "melt"),
    ("deposit", "vaporize"),
    ("twist", "dash", "break"),
    ("dissolve",),
)

_NOUNS = ("wax", "ice", "sugar", "clay", "ink", "salt", "foam", "jelly", "butter", "glass")

CHALLENGE_FAST = "Fast Motion"
CHALLENGE_OUT = "Out of frame"
CHALLENGE_SMALL = "Small Object"
CHALLENGE_OCCLUSION = "Occlusion"


@dataclass
class _Obj:
    behaviour: str
    radius: float
    speed: float
    start: int                      # first frame where the object is visible
    centre: np.ndarray              # (y, x)
    velocity: np.ndarray            # px / frame
    angle: float
    colour: np.ndarray              # RGB float
    texture: np.ndarray             # H2 x W2 float in [-1, 1], sampled relative to the centre
    pieces: np.ndarray              # n x 2 unit directions for fragments
    specks: np.ndarray              # H x W float in [0, 1], per-object noise for sparse shapes
    stats: dict = field(default_factory=dict)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Value noise in [-1, 1]: random values on a coarse grid, bilinearly upsampled."""
    import cv2

    gh, gw = max(2, h // cell + 2), max(2, w // cell + 2)
    coarse = rng.uniform(-1, 1, (gh, gw)).astype(np.float32)
    return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC).clip(-1, 1)


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    base = rng.uniform(60, 190, 3).astype(np.float32)
    tex = (0.6 * _smooth_noise(rng, h, w, 24) + 0.3 * _smooth_noise(rng, h, w, 8)
           + 0.1 * rng.uniform(-1, 1, (h, w)).astype(np.float32))
    tint = rng.uniform(0.6, 1.4, 3).astype(np.float32)
    return np.clip(base[None, None, :] + 45 * tex[..., None] * tint[None, None, :], 0, 255)


def _make_obj(rng: np.random.Generator, behaviour: str, h: int, w: int, frames: int) -> _Obj:
    short = min(h, w)
    size_class = rng.choice(["small", "medium", "large"], p=[0.3, 0.45, 0.25])
    radius = short * {"small": rng.uniform(0.05, 0.08), "medium": rng.uniform(0.1, 0.16),
                      "large": rng.uniform(0.18, 0.24)}[size_class]
    if behaviour in ("dash",):
        speed = short * rng.uniform(0.08, 0.14)
    elif behaviour == "exit":
        speed = short * rng.uniform(0.04, 0.07)
    else:
        speed = short * rng.uniform(0.0, 0.025)
    margin = radius + 2
    centre = np.array([rng.uniform(margin, h - margin), rng.uniform(margin, w - margin)])
    theta = rng.uniform(0, 2 * np.pi)
    velocity = speed * np.array([np.sin(theta), np.cos(theta)])
    if behaviour == "exit":
        # Start inside, head for the nearest side, gone well before the end.
        centre = np.array([rng.uniform(margin, h - margin), w * rng.uniform(0.35, 0.55)])
        direction = 1.0 if rng.random() < 0.5 else -1.0
        dist = (w - centre[1] if direction > 0 else centre[1]) + radius + 2
        speed = max(speed, dist / max(1, int(frames * 0.6)))
        velocity = np.array([rng.uniform(-0.2, 0.2) * speed, direction * speed])
    start = int(rng.integers(max(1, frames // 8), max(2, frames // 3) + 1)) if behaviour in LATE else 0
    n_pieces = int(rng.integers(3, 7)) if behaviour == "break" else 2
    angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n_pieces, endpoint=False)
    return _Obj(
        behaviour=behaviour, radius=float(radius), speed=float(speed), start=start,
        centre=centre, velocity=velocity, angle=float(rng.uniform(0, np.pi)),
        colour=rng.uniform(30, 230, 3).astype(np.float32),
        texture=_smooth_noise(rng, 2 * h, 2 * w, 5),
        pieces=np.stack([np.sin(angles), np.cos(angles)], axis=1),
        specks=(_smooth_noise(rng, h, w, 3) + 1) / 2,
        stats={"size_class": str(size_class)},
    )


def _ellipse(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, a: float, b: float,
             angle: float) -> np.ndarray:
    """Filled rotated ellipse; evaluated only inside its bounding box (big frames stay fast)."""
    h, w = yy.shape
    out = np.zeros((h, w), dtype=bool)
    a, b = max(a, 0.5), max(b, 0.5)
    reach = max(a, b) + 1
    y0, y1 = max(0, int(cy - reach)), min(h, int(cy + reach) + 2)
    x0, x1 = max(0, int(cx - reach)), min(w, int(cx + reach) + 2)
    if y0 >= y1 or x0 >= x1:
        return out
    c, s = np.cos(angle), np.sin(angle)
    dy, dx = yy[y0:y1, x0:x1] - cy, xx[y0:y1, x0:x1] - cx
    u = dx * c + dy * s
    v = -dx * s + dy * c
    out[y0:y1, x0:x1] = (u / a) ** 2 + (v / b) ** 2 <= 1.0
    return out


def _shape(o: _Obj, t: int, frames: int, yy: np.ndarray, xx: np.ndarray, h: int, w: int
           ) -> tuple[np.ndarray, float]:
    """The object's mask at frame t and its opacity (1 opaque .. 0 invisible)."""
    empty = np.zeros((h, w), dtype=bool)
    if t < o.start:
        return empty, 0.0
    span = max(1, frames - 1 - o.start)
    s = (t - o.start) / span                  # 0 .. 1 over the object's life
    cy, cx = o.centre
    r = o.radius
    b = o.behaviour
    if b == "melt":
        a_, b_ = r * (1 + 0.9 * s), r * (1 - 0.75 * s)
        bottom = cy + r
        return _ellipse(yy, xx, bottom - b_, cx, a_, b_, 0.0), 1.0
    if b == "dissolve":
        rr = r * (1 - 0.5 * s)
        keep = o.specks > 0.15 + 1.1 * s      # erodes into specks, gone by ~80 % of its life
        return _ellipse(yy, xx, cy, cx, rr, rr, 0.0) & keep, 1.0 - 0.6 * s
    if b in ("break", "separate"):
        if s < 0.25:
            return _ellipse(yy, xx, cy, cx, r, r * 0.8, o.angle), 1.0
        k = (s - 0.25) / 0.75
        spread = r * (0.3 + 2.2 * k)
        n = len(o.pieces)
        pr = r / np.sqrt(n) * 1.1
        mask = empty.copy()
        for d in o.pieces:
            mask |= _ellipse(yy, xx, cy + d[0] * spread, cx + d[1] * spread, pr, pr * 0.8, o.angle)
        return mask, 1.0
    if b in ("grow", "deposit"):
        rr = max(1.0, r * min(1.0, 0.08 + s * 1.1))
        mask = _ellipse(yy, xx, cy, cx, rr, rr * 0.85, o.angle)
        if b == "deposit":
            mask &= o.specks > 0.25
        return mask, 1.0
    if b in ("dash", "exit", "twist", "stretch"):
        pos = o.centre + o.velocity * (t - o.start)
        if b == "dash":     # bounce off the walls
            pos = np.array([_bounce(pos[0], r, h), _bounce(pos[1], r, w)])
        a_, b_ = r, r * 0.7
        angle = o.angle
        if b == "stretch":
            a_, b_ = r * (1 + 1.2 * s), r * 0.7 / (1 + 0.6 * s)
        elif b == "twist":
            angle = o.angle + 2.5 * np.pi * s
            a_, b_ = r * 1.3, r * 0.45
        elif b == "dash":
            a_ = r * (1 + 0.3 * np.sin(t))
        return _ellipse(yy, xx, pos[0], pos[1], a_, b_, angle), 1.0
    if b in ("diffuse", "vaporize"):
        rr = r * (1 + 1.5 * s)
        thr = 0.2 + 0.55 * s if b == "diffuse" else 0.1 + 1.1 * s   # vapour thins out to nothing
        return _ellipse(yy, xx, cy, cx, rr, rr, 0.0) & (o.specks > thr), 1.0 - 0.5 * s
    raise ValueError(f"unknown behaviour {b!r}")


def _bounce(x: float, r: float, n: int) -> float:
    lo, hi = r, n - 1 - r
    if hi <= lo:
        return n / 2
    period = 2 * (hi - lo)
    y = (x - lo) % period
    return lo + (y if y <= hi - lo else period - y)


def _centroid(mask: np.ndarray) -> tuple[float, float] | None:
    ys, xs = np.nonzero(mask)
    return (float(ys.mean()), float(xs.mean())) if ys.size else None


def _render_video(rng: np.random.Generator, plan: tuple[str, ...], frames: int, h: int, w: int
                  ) -> tuple[list[_Obj], list[tuple[np.ndarray, np.ndarray]]]:
    bg = _background(rng, h, w)
    objs = [_make_obj(rng, b, h, w, frames) for b in plan]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    tex_off = np.array([h // 2, w // 2])
    areas: list[list[float]] = [[] for _ in objs]
    cents: list[list[tuple[float, float]]] = [[] for _ in objs]
    out: list[tuple[np.ndarray, np.ndarray]] = []
    noise_bank = [rng.normal(0, 2.0, (h, w, 3)).astype(np.float32) for _ in range(3)]
    for t in range(frames):
        img = bg.copy()
        ids = np.zeros((h, w), dtype=np.uint8)
        # Paint in reverse id order so that id 1 (the late object, when there is one) is on top.
        for k in range(len(objs), 0, -1):
            o = objs[k - 1]
            mask, alpha = _shape(o, t, frames, yy, xx, h, w)
            if not mask.any():
                continue
            cy, cx = _centroid(mask) or (o.centre[0], o.centre[1])
            ty = np.clip((yy[mask] - cy + tex_off[0]).astype(np.int32), 0, o.texture.shape[0] - 1)
            tx = np.clip((xx[mask] - cx + tex_off[1]).astype(np.int32), 0, o.texture.shape[1] - 1)
            shade = o.texture[ty, tx][:, None] * 60
            colour = np.clip(o.colour[None, :] + shade, 0, 255)
            img[mask] = alpha * colour + (1 - alpha) * img[mask]
            ids[mask] = k
        for k, o in enumerate(objs, start=1):
            m = ids == k
            areas[k - 1].append(float(m.mean()))
            c = _centroid(m)
            if c is not None:
                cents[k - 1].append(c)
        img += noise_bank[t % len(noise_bank)]          # sensor noise; a small bank keeps big frames fast
        np.clip(img, 0, 255, out=img)
        out.append((img.astype(np.uint8), ids))
    diag = float(np.hypot(h, w))
    for k, o in enumerate(objs):
        present = [a for a in areas[k] if a > 0]
        steps = [np.hypot(p[0] - q[0], p[1] - q[1]) for p, q in zip(cents[k][1:], cents[k][:-1])]
        o.stats.update(
            appears_at=next((t for t, a in enumerate(areas[k]) if a > 0), None),
            last_visible=max((t for t, a in enumerate(areas[k]) if a > 0), default=None),
            mean_area_ratio=float(np.mean(present)) if present else 0.0,
            mean_speed=float(np.mean(steps) / diag) if steps else 0.0,
        )
    return objs, out


def _visible_at_start(objs: list[_Obj], first_ids: np.ndarray) -> bool:
    """Every object meant to be there at frame 0 shows at least a few pixels (else it is not scored)."""
    return all(int((first_ids == k).sum()) >= 6 for k, o in enumerate(objs, start=1) if o.start == 0)


def _challenges(o: _Obj, frames: int) -> list[str]:
    out = []
    if o.behaviour == "dash" or o.stats.get("mean_speed", 0) > 0.03:
        out.append(CHALLENGE_FAST)
    if o.behaviour == "exit":
        out.append(CHALLENGE_OUT)
    if o.stats.get("mean_area_ratio", 1) < 0.0183:      # the official auto-tag threshold e^-4
        out.append(CHALLENGE_SMALL)
    return out


def _difficulty_score(o: _Obj) -> float:
    hard = {"dissolve": 3, "break": 3, "diffuse": 3, "vaporize": 3, "deposit": 2, "grow": 2, "dash": 2,
            "exit": 2, "melt": 1, "separate": 1, "twist": 1, "stretch": 0}[o.behaviour]
    small = 1.0 if o.stats.get("mean_area_ratio", 1) < 0.02 else 0.0
    return hard + small + 20 * o.stats.get("mean_speed", 0.0)


#: Layouts `make_synthetic_dataset` writes (see `m3vos.data.layout`).
LAYOUTS = ("hf", "vost", "davis", "ytvos", "mose")
YTVOS_STEP = 5      # YouTube-VOS frames are every 5th frame of the source video, named by that number


class _LayoutWriter:
    """Where one layout puts frames, masks and split lists, and which masks it keeps.

    `hf`: the M3-VOS release (dense masks, labels in meta/); `vost`: the VOST-like layout;
    `davis`: DAVIS 2017 (Annotations/480p, ImageSets/2017); `ytvos` and `mose`: a `train/`
    split with every frame annotated and a `valid/` split that, as the real ones, gives only
    the masks that start each object (YouTube-VOS: its first-appearance frames, listed in
    meta.json; MOSE: the first frame). The same videos go into both splits.
    """

    def __init__(self, layout: str, root: Path) -> None:
        self.layout = layout
        self.root = root
        self.meta_json: dict[str, dict[str, dict]] = {}

    def splits(self) -> list[str]:
        return ["train", "valid"] if self.layout in ("ytvos", "mose") else ["val"]

    def stem(self, t: int) -> str:
        return {"hf": f"{t:07d}", "ytvos": f"{t * YTVOS_STEP:05d}"}.get(self.layout, f"{t:05d}")

    def dirs(self, split: str, name: str) -> tuple[Path, Path]:
        base = {"hf": self.root / "data", "vost": self.root, "davis": self.root}.get(self.layout, self.root / split)
        sub = "480p" if self.layout == "davis" else ""
        return base / "JPEGImages" / sub / name, base / "Annotations" / sub / name

    def split_file(self, split: str) -> Path | None:
        return {"hf": self.root / "data" / "ImageSets" / "val.txt", "vost": self.root / "ImageSets" / "val.txt",
                "davis": self.root / "ImageSets" / "2017" / "val.txt"}.get(self.layout)

    def masks_to_write(self, split: str, id_maps: list[np.ndarray]) -> dict[int, np.ndarray]:
        """frame -> mask for this split: every frame, or only the masks that start objects."""
        if split != "valid":
            return dict(enumerate(id_maps))
        if self.layout == "mose":
            return {0: id_maps[0]}
        out: dict[int, np.ndarray] = {}
        seen: set[int] = {0}
        for t, ids in enumerate(id_maps):
            new = [int(k) for k in np.unique(ids).tolist() if k not in seen]
            if new:
                out[t] = np.where(np.isin(ids, new), ids, 0).astype(np.uint8)
                seen.update(new)
        return out

    def note_video(self, split: str, name: str, objs: list["_Obj"], id_maps: list[np.ndarray]) -> None:
        if self.layout != "ytvos":
            return
        objects = {}
        for k, o in enumerate(objs, start=1):
            frames = [self.stem(t) for t, ids in enumerate(id_maps) if (ids == k).any()]
            if frames:
                objects[str(k)] = {"category": o.behaviour, "frames": frames}
        self.meta_json.setdefault(split, {})[name] = {"objects": objects}

    def finish(self, names: list[str]) -> None:
        for split in self.splits():
            f = self.split_file(split)
            if f is not None:
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_text("".join(f"{n}\n" for n in names))
        for split, videos in self.meta_json.items():
            (self.root / split / "meta.json").write_text(json.dumps({"videos": videos}, indent=1) + "\n")


def make_synthetic_dataset(out: str | os.PathLike[str], *, videos: int = 6, seed: int = 0, frames: int = 24,
                           height: int = 120, width: int = 160, layout: str = "hf",
                           remember: bool = False) -> Path:
    """Write a synthetic dataset into `out` (a new or empty folder), in `layout` (default: the
    Hugging Face release; `vost`, `davis`, `ytvos` and `mose` mimic those benchmarks' layouts).

    The pixels do not depend on the layout; the M3-VOS label files (meta/) come with `hf` only.
    `remember`: also make it the default dataset (the user config), once it is complete.
    """
    from PIL import Image

    from m3vos.data.labels import CORE_FILE, DIFFICULTY_FILES, PHASE_LABEL_FILE, TARGET_OBJECT_FILE, \
        CHALLENGE_FILE, VALID_FILE
    from m3vos.data.manifest import write_manifest
    from m3vos.data.masks import encode_mask
    from m3vos.utils.atomic import atomic_dir

    if layout not in LAYOUTS:
        raise BadInputError(f"unknown synthetic layout {layout!r}", hint=f"use one of {', '.join(LAYOUTS)}")
    if videos < 1 or frames < 3 or height < 32 or width < 32:
        raise BadInputError(f"need videos >= 1, frames >= 3 and a size of at least 32 x 32 "
                            f"(got videos={videos}, frames={frames}, {height} x {width})",
                            hint="raise --videos/--frames or the size")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BadInputError("output folder exists and is not empty", path=out,
                            hint="pick a new folder (m3vos never writes over a dataset)")
    order = np.random.default_rng(seed).permutation(len(PLANS))
    names: list[str] = []
    phase: dict[str, dict[str, dict[str, str]]] = {}
    targets: dict[str, dict[str, dict]] = {}
    challenges: dict[str, dict[str, list[str]]] = {}
    scores: dict[str, float] = {}

    with atomic_dir(out) as tmp:
        writer = _LayoutWriter(layout, tmp)
        for i in range(videos):
            plan = PLANS[order[i % len(PLANS)]]
            rng = np.random.default_rng([seed, i])
            noun = _NOUNS[int(rng.integers(len(_NOUNS)))]
            verb = BEHAVIOURS[plan[-1]][0].replace(" ", "")
            name = f"{9001 + i:04d}_{verb}_{noun}_{i // len(PLANS) + 1}"
            names.append(name)

            for attempt in range(20):   # re-draw (deterministically) until frame 0 shows every object
                objs, rendered = _render_video(np.random.default_rng([seed, i, attempt]), plan, frames,
                                               height, width)
                if _visible_at_start(objs, rendered[0][1]):
                    break
            id_maps = [ids for _, ids in rendered]
            for split in writer.splits():
                jpg_dir, png_dir = writer.dirs(split, name)
                jpg_dir.mkdir(parents=True)
                png_dir.mkdir(parents=True)
                for t, (rgb, _) in enumerate(rendered):
                    Image.fromarray(rgb).save(jpg_dir / f"{writer.stem(t)}.jpg", quality=90)
                for t, ids in writer.masks_to_write(split, id_maps).items():
                    (png_dir / f"{writer.stem(t)}.png").write_bytes(encode_mask(ids))
                writer.note_video(split, name, objs, id_maps)
            phase[name] = {}
            targets[name] = {}
            challenges[name] = {}
            for k, o in enumerate(objs, start=1):
                transition, before, after = BEHAVIOURS[o.behaviour]
                assert taxonomy.transition_group(transition) is not None
                phase[name][str(k)] = {"before_state": before, "after_state": after, "phase transition": transition}
                targets[name][f"obj_{k}"] = {
                    "before_state": before, "after_state": after, "phase transition": transition,
                    "behaviour": o.behaviour, **{key: (round(v, 6) if isinstance(v, float) else v)
                                                 for key, v in o.stats.items()}}
                challenges[name][f"id_{k}"] = _challenges(o, frames)
                scores[f"{name}_{k}"] = _difficulty_score(o)

        writer.finish(names)
        if layout == "hf":
            meta = tmp / "meta"
            meta.mkdir()
            (meta / TARGET_OBJECT_FILE).write_text(json.dumps(targets, indent=1) + "\n")
            (meta / PHASE_LABEL_FILE).write_text(json.dumps(phase, indent=4, ensure_ascii=False) + "\n")
            (meta / CHALLENGE_FILE).write_text(json.dumps(challenges, indent=1) + "\n")
            core = names[::2]
            (meta / CORE_FILE).write_text("".join(f"{n}\n" for n in core))
            # Difficulty lists the official way: sort by score, hard = top 33 %, mid = top 66 %, easy = all.
            ranked = sorted(scores, key=lambda key: (-scores[key], key))
            n = len(ranked)
            lists = {"hard": ranked[: int(0.33 * n)], "mid": ranked[: int(0.66 * n)], "easy": ranked}
            for level, fname in DIFFICULTY_FILES.items():
                (meta / fname).write_text("".join(f"{k}\n" for k in lists[level]))
            (meta / VALID_FILE).write_text("".join(f"{k}\n" for k in sorted(scores)))
            (meta / "README.txt").write_text(
                f"Synthetic M3-VOS-style data made by `m3vos data synth` (seed {seed}, {videos} videos, "
                f"{frames} frames, {height}x{width}). Not real data.\n")
        else:
            (tmp / "README.txt").write_text(
                f"Synthetic data in the {layout} layout made by `m3vos data synth --layout {layout}` (seed {seed}, "
                f"{videos} videos, {frames} frames, {height}x{width}). Not real data.\n")
        source = {"kind": "synth", "seed": seed, "videos": videos, "frames": frames,
                  "height": height, "width": width}
        if layout != "hf":
            source["layout"] = layout
        write_manifest(tmp, source=source, timestamp=False, progress=False)
    if remember:
        from m3vos.data.config import set_data_root

        set_data_root(out)
    return out
