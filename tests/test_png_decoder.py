"""The fast mask decoder returns exactly what PIL returns: PNGs written here with every filter
type (a small writer with explicit filter bytes), by OpenCV, by PIL and by m3vos itself; the
files it does not handle go to PIL; damaged files fail as they did with PIL alone."""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from m3vos.data.masks import MaskModeError, encode_mask, read_mask, read_mask_gray
from m3vos.data.png import decode_png
from m3vos.errors import BadInputError


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filtered(img: np.ndarray, kinds: list[int]) -> bytes:
    """Rows of `img` filtered with kinds[y % len(kinds)] (0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth)."""
    out = bytearray()
    prev = [0] * img.shape[1]
    for y, row in enumerate(img.tolist()):
        k = kinds[y % len(kinds)]
        out.append(k)
        for x, v in enumerate(row):
            a = row[x - 1] if x else 0
            b = prev[x]
            c = prev[x - 1] if x else 0
            out.append((v - (0, a, b, (a + b) // 2, _paeth(a, b, c))[k]) & 0xFF)
        prev = row
    return bytes(out)


_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))  # x0, y0, dx, dy


def write_png(img: np.ndarray, kinds: list[int], *, palette: bytes | None = None, trns: bytes | None = None,
              idat_parts: int = 1, interlace: bool = False, text: bool = False) -> bytes:
    h, w = img.shape
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 3 if palette is not None else 0, 0, 0, int(interlace))
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    if palette is not None:
        out += _chunk(b"PLTE", palette)
    if trns is not None:
        out += _chunk(b"tRNS", trns)
    if text:
        out += _chunk(b"tEXt", b"Software\x00m3vos test")
    if interlace:
        raw = b"".join(_filtered(img[y0::dy, x0::dx], kinds) for x0, y0, dx, dy in _ADAM7
                       if img[y0::dy, x0::dx].size)
    else:
        raw = _filtered(img, kinds)
    z = zlib.compress(raw, 6)
    step = max(1, -(-len(z) // idat_parts))
    for i in range(0, len(z), step):
        out += _chunk(b"IDAT", z[i:i + step])
    return out + _chunk(b"IEND", b"")


def _pil(data: bytes) -> tuple[str, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # palette transparency in bytes: PIL warns on convert
        with Image.open(io.BytesIO(data)) as im:
            return im.mode, np.asarray(im), np.asarray(im.convert("L"))


def _check_same_as_pil(path: Path, data: bytes, *, fast: bool | None = None) -> None:
    """read_mask / read_mask_gray on the file equal PIL's array and convert("L")."""
    path.write_bytes(data)
    mode, ref, ref_gray = _pil(data)
    decoded = decode_png(data)
    if fast is not None:
        assert (decoded is not None) == fast, (path.name, mode)
    if decoded is not None:
        assert decoded.mode == mode and decoded.pixels.dtype == np.uint8
        np.testing.assert_array_equal(decoded.pixels, ref)
    ids, gray = read_mask_gray(path)
    np.testing.assert_array_equal(ids, ref)
    np.testing.assert_array_equal(read_mask(path), ref)
    np.testing.assert_array_equal(gray, ref_gray)


def _images(rng: np.random.Generator):
    """Label-like and noise-like images at odd sizes, 1x1 included."""
    for h, w in [(1, 1), (1, 7), (7, 1), (5, 3), (17, 31), (40, 33)]:
        ids = np.zeros((h, w), np.uint8)
        cv2.circle(ids, (w // 2, h // 2), max(1, min(h, w) // 3), 1, -1)
        ids[: max(1, h // 5), :] = 255
        yield ids
        yield rng.integers(0, 256, (h, w)).astype(np.uint8)


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_every_filter_type_palette_and_gray(tmp_path: Path, kind: int) -> None:
    rng = np.random.default_rng(kind)
    pal = bytes(rng.integers(0, 256, 768).astype(np.uint8))
    for i, img in enumerate(_images(rng)):
        for palette in (None, pal, pal[:3 * 7]):        # gray, full palette, short palette
            data = write_png(img, [kind], palette=palette, idat_parts=1 + i % 3)
            # Average (3) on noise may leave the vectorised path; every other filter stays on it
            _check_same_as_pil(tmp_path / f"f{kind}_{i}.png", data, fast=None if kind == 3 else True)


def test_mixed_filters_transparency_text_and_interlace(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    pal = bytes(rng.integers(0, 256, 768).astype(np.uint8))
    for i, img in enumerate(_images(rng)):
        kinds = [int(k) for k in rng.integers(0, 5, 9)]
        _check_same_as_pil(tmp_path / f"m{i}.png", write_png(img, kinds, palette=pal, trns=b"\x00\x80", text=True),
                           fast=None)
        _check_same_as_pil(tmp_path / f"g{i}.png", write_png(img, kinds, trns=b"\x00\x05"), fast=None)
        # interlaced: PIL decodes it, the fast path declines
        _check_same_as_pil(tmp_path / f"i{i}.png", write_png(img, [0], palette=pal, interlace=True), fast=False)


def test_opencv_pil_and_m3vos_written_pngs(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 0
    for img in _images(rng):
        for level in (0, 1, 6, 9):
            for strategy in (cv2.IMWRITE_PNG_STRATEGY_DEFAULT, cv2.IMWRITE_PNG_STRATEGY_FILTERED,
                             cv2.IMWRITE_PNG_STRATEGY_RLE):
                ok, buf = cv2.imencode(".png", img, [cv2.IMWRITE_PNG_COMPRESSION, level,
                                                     cv2.IMWRITE_PNG_STRATEGY, strategy])
                assert ok
                _check_same_as_pil(tmp_path / f"cv{n}.png", buf.tobytes())
                n += 1
        for mode in ("L", "P"):
            for optimize in (False, True):       # optimize may write fewer bits: PIL reads those
                im = Image.fromarray(img, mode="L")
                if mode == "P":
                    im = Image.fromarray(img, mode="P")
                    im.putpalette(bytes(range(256)) * 3)
                buf = io.BytesIO()
                im.save(buf, format="PNG", optimize=optimize)
                _check_same_as_pil(tmp_path / f"pil{n}.png", buf.getvalue())
                n += 1
        _check_same_as_pil(tmp_path / f"m3vos{n}.png", encode_mask(img), fast=True)
        n += 1
    assert n > 100


def test_synthetic_dataset_masks_decode_as_pil(tmp_path: Path) -> None:
    """Every mask `m3vos data synth` writes (what most tests score)."""
    from m3vos.data.synth import make_synthetic_dataset

    root = make_synthetic_dataset(tmp_path / "ds", videos=3, frames=4, seed=2)
    pngs = sorted(root.rglob("*.png"))
    assert len(pngs) >= 12
    for p in pngs:
        _check_same_as_pil(tmp_path / "copy.png", p.read_bytes(), fast=True)


def test_other_files_fall_back_to_pil_with_the_same_errors(tmp_path: Path) -> None:
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    # 16-bit gray and RGB: PIL reads them, read_mask refuses them as before
    for arr, mode in ((img.astype(np.uint16) * 300, "I;16"), (np.dstack([img] * 3), "RGB")):
        p = tmp_path / f"{mode.replace(';', '')}.png"
        ok, buf = cv2.imencode(".png", arr)
        p.write_bytes(buf.tobytes())
        assert decode_png(p.read_bytes()) is None
        with pytest.raises(MaskModeError, match="not a palette"):
            read_mask(p)
    # a 1-bit PNG (PIL mode "1"): read as 0/1 ids, its luminance 0/255 as PIL converts it
    p = tmp_path / "bits.png"
    Image.fromarray(img > 5).save(p)
    _check_same_as_pil(p, p.read_bytes(), fast=False)
    # damaged files: whatever PIL does (here: fail), read_mask does, as a BadInputError
    good = encode_mask(np.tile(img, (20, 20)))
    flipped = bytearray(good)
    flipped[-20] ^= 0xFF                                   # inside the last IDAT: CRC and data wrong
    for name, data in (("truncated", good[: len(good) // 2]), ("flipped", bytes(flipped)),
                       ("no_iend", good[:-12]), ("garbage", good[:8] + b"garbage" * 20)):
        p = tmp_path / f"{name}.png"
        p.write_bytes(data)
        try:
            ref = _pil(data)[1]
        except Exception:
            with pytest.raises(BadInputError, match="PNG"):
                read_mask(p)
        else:
            np.testing.assert_array_equal(read_mask(p), ref)
