"""`m3vos trackers test NAME`: run a tracker on a tiny synthetic video and check the contract.

The video has non-contiguous dataset ids (2 and 5, plus 7 appearing late for trackers that
accept late objects) and a custom palette, so remapping and palette handling are exercised
along with the tracker's own obligations (every frame, in order, right shapes, known ids).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from m3vos.errors import M3vosError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class SelfTestReport:
    model: str
    checks: list[Check] = field(default_factory=list)
    fps: float | None = None
    warnings: list[str] = field(default_factory=list)   # for the user; not part of the contract

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.checks.append(Check(name, bool(ok), detail))
        return bool(ok)

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "ok": self.ok, "fps": self.fps,
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks]}


def synthetic_video(frames: int = 10, height: int = 72, width: int = 96, late: bool = True):
    """Smooth textured background, two textured boxes moving apart (ids 2, 5) and, optionally,
    id 7 appearing at frame 4; a void corner (255) that must never become an object."""
    import cv2

    from m3vos.runner.video import VideoSource

    rng = np.random.default_rng(0)

    def texture(h: int, w: int) -> np.ndarray:
        coarse = rng.integers(0, 255, size=(max(h // 8, 2), max(w // 8, 2), 3), dtype=np.uint8)
        return cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)

    bg, tex2, tex5, tex7 = texture(height, width), texture(20, 24), texture(16, 16), texture(14, 14)
    imgs, gts = [], []
    for t in range(frames):
        img = bg.copy()
        ids = np.zeros((height, width), dtype=np.uint8)
        y, x = 10 + t, 8 + 2 * t
        img[y:y + 20, x:x + 24] = tex2
        ids[y:y + 20, x:x + 24] = 2
        y2, x2 = 40 - t, 60 - t
        img[y2:y2 + 16, x2:x2 + 16] = tex5
        ids[y2:y2 + 16, x2:x2 + 16] = 5
        if late and t >= 4:
            img[50:64, 8:22] = tex7
            ids[50:64, 8:22] = 7
        ids[0:2, 0:2] = 255
        imgs.append(img)
        gts.append(ids)
    palette = bytes(np.random.default_rng(1).integers(0, 256, 768, dtype=np.uint8).tolist())
    src = VideoSource(name="selftest", stems=[f"{t:05d}" for t in range(frames)], first_mask=gts[0],
                      size=(height, width), palette=palette, frame_arrays=imgs)
    if late:
        src.late_masks = {4: np.where(gts[4] == 7, 7, 0).astype(np.uint8)}
    return src, gts


def check_tracker(model: str, *, device: str = "auto", weights: str | None = None,
                 config: dict[str, Any] | None = None) -> SelfTestReport:
    """`m3vos trackers test`: an unknown model or device is bad input (`BadInputError`, not a
    failed contract); `device` auto picks CUDA for torch trackers when present. Random weights
    (`random[:SEED]`) add a warning to the report."""
    from m3vos.runner.options import resolve_device
    from m3vos.trackers.random_weights import WARNING, random_seed
    from m3vos.trackers.registry import get_tracker

    cls = get_tracker(model)
    report = self_test(model, device=resolve_device(device, needs_torch=cls.capabilities.needs_torch),
                       weights=weights, config=config)
    if weights is not None and random_seed(weights) is not None:
        report.warnings.append(WARNING)
    return report


def self_test(model: str, *, device: str = "cpu", weights: str | None = None,
              config: dict[str, Any] | None = None) -> SelfTestReport:
    """Every check that fails says what the tracker did and what the contract wants."""
    from PIL import Image

    from m3vos.runner.api import resolve_weights
    from m3vos.runner.process import track_video
    from m3vos.runner.store import RunStore
    from m3vos.trackers.registry import get_tracker

    report = SelfTestReport(model)
    try:
        cls = get_tracker(model)
    except M3vosError as exc:
        report.add("found in the registry", False, exc.one_line())
        return report
    report.add("found in the registry", True, f"{cls.__module__}:{cls.__qualname__}")
    try:
        wfile = resolve_weights(cls, model, weights)
        tracker = cls(device=device, weights=wfile, config=config or {}, amp=False)
    except Exception as exc:  # noqa: BLE001  (reported, not raised: this is a diagnostic)
        report.add("constructs", False, exc.one_line() if isinstance(exc, M3vosError) else f"{type(exc).__name__}: {exc}")
        return report
    report.add("constructs", True, f"capabilities: {', '.join(cls.capabilities.flags()) or 'none'}")
    late = cls.capabilities.late_objects
    src, gts = synthetic_video(late=late)
    with tempfile.TemporaryDirectory(prefix="m3vos-selftest-") as tmp:
        store = RunStore(tmp)
        t0 = time.perf_counter()
        try:
            rec = track_video(tracker, src, store)
        except Exception as exc:  # noqa: BLE001
            msg = exc.one_line() if isinstance(exc, M3vosError) else f"{type(exc).__name__}: {exc}"
            report.add("yields every frame once, in order, with valid shapes and ids", False, msg)
            return report
        finally:
            tracker.close()
        report.fps = round(src.num_frames / max(time.perf_counter() - t0, 1e-9), 2)
        report.add("yields every frame once, in order, with valid shapes and ids", True,
                   f"{rec['frames']} frames, {rec['objects']} objects")
        folder = Path(tmp) / src.name
        pngs = sorted(folder.glob("*.png"))
        report.add("one PNG per frame", len(pngs) == src.num_frames, f"{len(pngs)} of {src.num_frames}")
        wanted_ids = {0, 2, 5} | ({7} if late else set())
        bad_mode, bad_size, bad_pal, bad_ids = [], [], [], set()
        first_j = None
        for t, p in enumerate(pngs):
            with Image.open(p) as im:
                if im.mode != "P":
                    bad_mode.append(p.name)
                if (im.height, im.width) != src.size:
                    bad_size.append(p.name)
                if bytes(im.getpalette()[:768]) != src.palette:
                    bad_pal.append(p.name)
                arr = np.asarray(im)
            bad_ids |= set(np.unique(arr).tolist()) - wanted_ids
            if t == 0:
                gt = np.isin(gts[0], [2, 5])
                pr = np.isin(arr, [2, 5])
                first_j = (gt & pr).sum() / max((gt | pr).sum(), 1)
        report.add("palette PNGs", not bad_mode, f"not palette: {bad_mode[:3]}" if bad_mode else "mode P")
        report.add("ground-truth size", not bad_size,
                   f"wrong size: {bad_size[:3]}" if bad_size else f"{src.size[1]}x{src.size[0]}")
        report.add("ground-truth palette", not bad_pal, f"other palette: {bad_pal[:3]}" if bad_pal else "kept")
        report.add("only ground-truth ids", not bad_ids,
                   f"unexpected ids {sorted(bad_ids)} (expected {sorted(wanted_ids)})" if bad_ids
                   else f"ids {sorted(wanted_ids)} (non-contiguous, remapped and back)")
        if first_j is not None:
            report.add("frame 0 reproduces the given mask", first_j >= 0.9, f"J = {first_j:.3f}")
    return report
