"""Reading and writing object-id masks as PNG files.

A mask PNG is either a palette ("P") image whose indices are object ids, or an 8-bit grayscale
("L") image whose grey values are object ids. 255 is "void". Colours are never looked at, as in
the DAVIS and M3-VOS evaluators. Anything else (RGB, 16-bit, corrupt) is a `BadInputError`
naming the file.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

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


def read_mask(path: str | os.PathLike[str]) -> np.ndarray:
    """Return the H x W uint8 id map of a palette or grayscale PNG."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            mode = im.mode
            if mode in ("P", "L"):
                arr = np.asarray(im)
            elif mode == "1":
                arr = np.asarray(im, dtype=np.uint8)
            else:
                raise BadInputError(
                    f"mask is a {mode} image, not a palette (P) or grayscale (L) PNG of object ids",
                    path=path,
                    hint="save masks as palette PNGs whose indices are object ids (0 background, 255 void)",
                )
    except FileNotFoundError:
        raise BadInputError("mask file is missing", path=path,
                            hint="write one PNG per frame, named like the ground-truth frame") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        size = path.stat().st_size if path.exists() else 0
        what = "empty file" if size == 0 else f"not a readable PNG ({exc.__class__.__name__}: {exc})"
        raise BadInputError(what, path=path, hint="re-export this frame as a PNG") from None
    if arr.ndim != 2:
        raise BadInputError(f"mask has shape {arr.shape}, expected H x W", path=path,
                            hint="save masks as single-channel palette PNGs")
    return np.ascontiguousarray(arr, dtype=np.uint8)


def read_palette(path: str | os.PathLike[str]) -> bytes | None:
    """The palette of a PNG (768 bytes), or None for a grayscale PNG."""
    with Image.open(path) as im:
        if im.mode != "P":
            return None
        pal = im.getpalette() or []
    pal = bytes(pal[:768])
    return pal + bytes(768 - len(pal))


def encode_mask(ids: np.ndarray, palette: bytes | None = None) -> bytes:
    """PNG bytes of an id map as a palette image (the DAVIS palette unless one is given)."""
    if ids.ndim != 2:
        raise ValueError(f"id map must be 2-D, got shape {ids.shape}")
    im = Image.fromarray(np.ascontiguousarray(ids, dtype=np.uint8), mode="P")
    im.putpalette(palette if palette is not None else DAVIS_PALETTE)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def write_mask(path: str | os.PathLike[str], ids: np.ndarray, palette: bytes | None = None) -> None:
    """Write an id map as a palette PNG, atomically (temporary name, then rename)."""
    from m3vos.utils.atomic import atomic_write_bytes

    atomic_write_bytes(path, encode_mask(ids, palette))
