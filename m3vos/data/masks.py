"""Reading and writing object-id masks as PNG files.

A mask PNG is either a palette ("P") image whose indices are object ids, or an 8-bit grayscale
("L") image whose grey values are object ids. 255 is "void". Colours are never looked at, as in
the DAVIS and M3-VOS evaluators. Anything else (not a PNG whatever its name, larger than
`MAX_MASK_PIXELS`, RGB, 16-bit, corrupt) is a `BadInputError` naming the file.
"""

from __future__ import annotations

import functools
import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from m3vos.data.png import MAX_MASK_PIXELS, PNG_SIGNATURE, decode_png, read_header, sniff_format
from m3vos.errors import BadInputError

VOID_ID = 255


def davis_palette() -> bytes:
    """The 256-colour palette used by DAVIS / M3-VOS annotations (bit-interleaved colour map)."""
    pal = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        pal[i] = (r, g, b)
    return pal.tobytes()


DAVIS_PALETTE = davis_palette()


class MaskModeError(BadInputError):
    """A file that is not a palette/grayscale PNG of ids (RGB, 16-bit, a JPEG named .png, ...);
    `shape` is its (H, W) when known."""

    def __init__(self, message: str, *, shape: tuple[int, int] | None = None, **kw) -> None:
        self.shape = shape
        super().__init__(message, **kw)


def _read_bytes(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadInputError("mask file is missing", path=path,
                            hint="write one PNG per frame, named like the ground-truth frame") from None
    except OSError as exc:
        raise BadInputError(f"not a readable PNG ({exc.__class__.__name__}: {exc.strerror or exc})", path=path,
                            hint="re-export this frame as a PNG") from None
    if not data:
        raise BadInputError("empty file", path=path, hint="re-export this frame as a PNG")
    if not data.startswith(PNG_SIGNATURE):
        fmt = sniff_format(data[:16])
        what = f"a {fmt} file named .png" if fmt else "not a PNG file (no PNG signature)"
        raise MaskModeError(f"{what}; masks must be PNG files", path=path,
                            hint="save the mask as a palette PNG whose indices are object ids "
                                 "(0 background, 255 void)")
    hdr = read_header(data)
    if hdr is not None:
        _check_size(path, hdr.width, hdr.height)
    return data


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_MASK_PIXELS:
        raise BadInputError(f"mask is {width}x{height} pixels (W x H), more than the {MAX_MASK_PIXELS:,} "
                            "pixels m3vos decodes (PIL's decompression-bomb limit)", path=path,
                            hint="masks must have the size of their video frames; re-export this frame")


def _decode(path: Path, gray: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(H x W id map, and with `gray` its PIL `convert("L")` luminance) of a mask PNG, or a
    one-line BadInputError naming the file.

    The common 8-bit palette/grayscale PNG goes through `m3vos.data.png` (the same pixels as PIL,
    several times faster); anything else is read by PIL, as before."""
    data = _read_bytes(path)
    fast = decode_png(data)
    if fast is not None:
        if not gray:
            return fast.pixels, None
        if fast.mode == "L":
            return fast.pixels, fast.pixels
        return fast.pixels, _luminance_lut(fast.palette or b"")[fast.pixels]
    lum = None
    try:
        with Image.open(io.BytesIO(data)) as im:
            _check_size(path, *im.size)
            mode = im.mode
            if mode in ("P", "L"):
                arr = np.asarray(im)
            elif mode == "1":
                arr = np.asarray(im, dtype=np.uint8)
            else:
                raise MaskModeError(
                    f"mask is a {mode} image, not a palette (P) or grayscale (L) PNG of object ids",
                    path=path, shape=(im.size[1], im.size[0]),
                    hint="save masks as palette PNGs whose indices are object ids (0 background, 255 void)",
                )
            if gray:
                lum = np.asarray(im.convert("L"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadInputError(f"not a readable PNG ({exc.__class__.__name__}: {exc})", path=path,
                            hint="re-export this frame as a PNG") from None
    if arr.ndim != 2:
        raise MaskModeError(f"mask has shape {arr.shape}, expected H x W", path=path, shape=arr.shape[:2],
                            hint="save masks as single-channel palette PNGs")
    return np.ascontiguousarray(arr, dtype=np.uint8), lum


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Return the H x W uint8 id map of a palette or grayscale PNG."""
    return _decode(Path(path))[0]


def read_mask_gray(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """(id map, the luminance PIL's `convert("L")` gives): what the official entropy script reads."""
    ids, lum = _decode(Path(path), gray=True)
    assert lum is not None
    return ids, lum


@functools.lru_cache(maxsize=64)
def _luminance_lut(palette: bytes) -> np.ndarray:
    """Grey level of each palette index, computed by PIL itself (exactly its P -> L rounding)."""
    im = Image.frombytes("P", (256, 1), bytes(range(256)))
    im.putpalette(palette, rawmode="RGB")
    return np.asarray(im.convert("L"))[0].copy()


def read_palette(path: str | os.PathLike[str]) -> bytes | None:
    """The palette of a PNG (768 bytes), or None for a grayscale PNG."""
    with Image.open(path) as im:
        if im.mode != "P":
            return None
        pal = im.getpalette() or []
    pal = bytes(pal[:768])
    return pal + bytes(768 - len(pal))


#: zlib strategy for mask PNGs: run-length (Z_RLE). An id map is long runs of one value, so
#: this gives files as small as Pillow's default (level 6, default strategy) or smaller, about
#: 2.5x faster to write (docs/benchmarks.md, "Pipeline"). Only the bytes change, never a pixel.
MASK_PNG_OPTIONS: dict[str, int] = {"compress_type": 3, "compress_level": 6}


def encode_mask(ids: np.ndarray, palette: bytes | None = None) -> bytes:
    """PNG bytes of an id map as a palette image (the DAVIS palette unless one is given)."""
    if ids.ndim != 2:
        raise ValueError(f"id map must be 2-D, got shape {ids.shape}")
    im = Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8), mode="P")
    im.putpalette(palette if palette is not None else DAVIS_PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG", **MASK_PNG_OPTIONS)
    return buf.getvalue()


def write_mask(path: str | os.PathLike[str], ids: np.ndarray, palette: bytes | None = None) -> None:
    """Write an id map as a palette PNG, atomically (temporary name, then rename)."""
    from m3vos.utils.atomic import atomic_write_bytes

    atomic_write_bytes(path, encode_mask(ids, palette))
