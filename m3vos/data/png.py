"""A fast decoder for the PNGs masks are made of: 8-bit palette or grayscale, not interlaced.

Scoring decodes every mask once, and for such files PIL's per-file overhead costs more than
inflating the data. This reads the chunks, inflates IDAT with zlib and undoes the row filters
with numpy. Anything it is not sure to decode exactly as PIL does (other bit depths or colour
types, interlacing, animation, compressed ancillary chunks, a bad CRC, a short or long stream,
long sequential Paeth/Average runs) returns None, and the caller asks PIL: results are always
PIL's, and so are the errors for damaged files.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

_inflate_lib: Any
try:        # zlib-ng inflates the same bytes ~20x faster than the system zlib here (benchmarks.md)
    from zlib_ng import zlib_ng as _inflate_lib
except ImportError:  # pragma: no cover - the stdlib zlib gives the same bytes, slower
    _inflate_lib = zlib

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

#: Largest mask m3vos decodes, in pixels: PIL's default decompression-bomb threshold
#: (`PIL.Image.MAX_IMAGE_PIXELS`, about 9459 x 9459). A 4K mask is 8.3 million pixels.
MAX_MASK_PIXELS = 89_478_485

# Chunks that change nothing in the pixels PIL returns for a P or L image and that PIL reads
# without a failure mode of its own. Any other chunk sends the file to PIL.
_HARMLESS = {b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"pHYs", b"tEXt", b"tIME", b"bKGD", b"sBIT", b"hIST"}

# Known signatures of other image formats, to say what a misnamed file really is.
_OTHER_FORMATS = (
    (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"), (b"BM", "BMP"),
    (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"RIFF", "WebP/RIFF"), (b"\x00\x00\x01\x00", "ICO"),
    (b"8BPS", "PSD"), (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"P5", "PGM"), (b"P6", "PPM"),
)


def sniff_format(head: bytes) -> str | None:
    """The format a file's first bytes announce ("PNG", "JPEG", ...), None when unknown."""
    if head.startswith(PNG_SIGNATURE):
        return "PNG"
    for magic, name in _OTHER_FORMATS:
        if head.startswith(magic):
            return name
    return None


@dataclass(frozen=True)
class PngHeader:
    width: int
    height: int
    bit_depth: int
    color_type: int
    interlace: int


def read_header(data: bytes) -> PngHeader | None:
    """The IHDR fields of PNG bytes (signature already checked), or None if IHDR is not first."""
    if len(data) < 33 or data[12:16] != b"IHDR" or struct.unpack(">I", data[8:12])[0] != 13:
        return None
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return PngHeader(w, h, depth, ctype, interlace)


@dataclass(frozen=True)
class DecodedPng:
    mode: str                   # "P" or "L", as PIL names it
    pixels: np.ndarray          # H x W uint8, what np.asarray(PIL image) gives
    palette: bytes | None       # the PLTE chunk's RGB bytes (P only)


def decode_png(data: bytes) -> DecodedPng | None:
    """Decode an 8-bit palette/grayscale non-interlaced PNG exactly as PIL would, or None when
    the file is anything else or anything unusual (then PIL decides)."""
    hdr = read_header(data)
    if (hdr is None or hdr.bit_depth != 8 or hdr.color_type not in (0, 3) or hdr.interlace != 0
            or hdr.width == 0 or hdr.height == 0 or data[26] != 0 or data[27] != 0):
        return None
    pos, n = 8, len(data)
    idat: list[bytes] = []
    palette = None
    seen_end = False
    prev = b""
    while pos + 12 <= n:
        length = int.from_bytes(data[pos:pos + 4], "big")
        ctype = data[pos + 4:pos + 8]
        end = pos + 12 + length
        if end > n or zlib.crc32(data[pos + 4:end - 4]) != int.from_bytes(data[end - 4:end], "big"):
            return None                                  # truncated or damaged: PIL decides
        body = data[pos + 8:end - 4]
        if ctype == b"IDAT":
            if idat and prev != b"IDAT":                 # IDATs must be consecutive
                return None
            idat.append(body)
        elif ctype == b"IEND":
            seen_end = True
            break
        elif ctype == b"PLTE":
            if idat or palette is not None or length % 3 or length == 0:
                return None
            palette = body
        elif ctype != b"IHDR" or pos != 8:
            if ctype not in _HARMLESS:
                return None
        prev = ctype
        pos = end
    if not seen_end or not idat or (hdr.color_type == 3 and palette is None):
        return None
    stride = hdr.width + 1
    try:
        d = _inflate_lib.decompressobj()
        raw = d.decompress(b"".join(idat), hdr.height * stride + 1)
        if len(raw) != hdr.height * stride or not d.eof or d.unconsumed_tail or d.unused_data:
            return None
    except (zlib.error, _inflate_lib.error):
        return None
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(hdr.height, stride)
    pixels = unfilter(rows, budget=max(4096, hdr.height * hdr.width // 32))
    if pixels is None:
        return None
    return DecodedPng("P" if hdr.color_type == 3 else "L", pixels, palette)


def unfilter(rows: np.ndarray, budget: int) -> np.ndarray | None:
    """Undo PNG row filters for 1 byte per pixel (`rows`: H x (1 + W), filter byte first).

    None, Sub and Up are vectorised. Paeth is a cumulative sum (a Sub) wherever the row above is
    flat (b == c picks the left pixel); only where the row above changes is one scalar step
    needed. Average is scalar per pixel. Beyond `budget` scalar steps (noise-like masks) the
    caller is better served by PIL's C decoder: None.
    """
    h, stride = rows.shape
    w = stride - 1
    kinds = rows[:, 0]
    if kinds.max(initial=0) > 4:
        return None
    out = np.empty((h, w), dtype=np.uint8)
    data = rows[:, 1:]
    if not kinds.any():
        out[:] = data
        return out
    zero = np.zeros(w, dtype=np.uint8)
    steps = 0
    # Runs of rows with the same filter: None, Sub and Up are done a whole run at a time.
    bounds = np.flatnonzero(np.diff(kinds)) + 1
    for y0, y1 in zip([0, *bounds.tolist()], [*bounds.tolist(), h]):
        k = kinds[y0]
        if k == 0:
            out[y0:y1] = data[y0:y1]
        elif k == 1:
            np.cumsum(data[y0:y1], axis=1, dtype=np.uint8, out=out[y0:y1])
        elif k == 2:
            np.cumsum(data[y0:y1], axis=0, dtype=np.uint8, out=out[y0:y1])
            if y0:
                out[y0:y1] += out[y0 - 1]
        else:
            for y in range(y0, y1):
                prev = out[y - 1] if y else zero
                if k == 4:
                    steps += _paeth_row(data[y], prev, out[y])
                else:
                    steps += w
                    if steps > budget:
                        return None
                    _average_row(data[y], prev, out[y])
                if steps > budget:
                    return None
    return out


def _paeth_row(d: np.ndarray, b: np.ndarray, out: np.ndarray) -> int:
    """One Paeth row into `out`; returns the number of scalar steps it took."""
    w = d.size
    c = np.empty_like(b)
    c[0] = 0
    c[1:] = b[:-1]
    # Where b == c the predictor is the left pixel: those pixels are a running sum from the
    # last position where it is not (a "start"), whose value needs the left pixel itself.
    starts = np.flatnonzero(b != c)
    if starts.size == 0 or starts[0] != 0:
        starts = np.concatenate(([0], starts))
    cs = np.cumsum(d, dtype=np.uint8)
    dl, bl, cl, csl = d.tolist(), b.tolist(), c.tolist(), cs.tolist()
    values = []
    left_end = 0                     # value of the pixel left of the current start
    prev_start, prev_value = -1, 0
    for s in starts.tolist():
        if prev_start >= 0:
            left_end = (prev_value + csl[s - 1] - csl[prev_start]) & 0xFF
        a = left_end if s else 0
        bb, cc = bl[s], cl[s]
        p = a + bb - cc
        pa, pb, pc = abs(p - a), abs(p - bb), abs(p - cc)
        pred = a if (pa <= pb and pa <= pc) else (bb if pb <= pc else cc)
        v = (dl[s] + pred) & 0xFF
        values.append(v)
        prev_start, prev_value = s, v
    run = np.zeros(w, dtype=np.intp)
    run[starts[1:]] = 1
    run = np.cumsum(run)
    st = starts[run]
    # value = start value + (cs[x] - cs[start]) mod 256
    np.add(np.asarray(values, dtype=np.uint8)[run], cs - cs[st], out=out, casting="unsafe")
    return int(starts.size)


def _average_row(d: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    left = 0
    res = bytearray(d.size)
    for x, (dx, bx) in enumerate(zip(d.tolist(), b.tolist())):
        left = (dx + ((left + bx) >> 1)) & 0xFF
        res[x] = left
    out[:] = np.frombuffer(bytes(res), dtype=np.uint8)
