"""Variants of a real photo, made at test time, that must read exactly like their plain counterpart.

- ``rotated.jpg``: the photo's own JPEG bytes with an EXIF orientation tag 6 inserted (as a phone writes a
  portrait shot: the pixels stay stored sideways, not re-encoded); ``upright.png``: the shown picture (the decoded
  photo turned 90° clockwise), lossless.
- ``grey16.png``: the photo's grey version × 257 as a 16-bit grey PNG (Pillow mode ``I;16``); ``grey8.png``: the
  grey version, 8-bit.
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION = 0x0112
# EXIF orientation → np.rot90 turns (counter-clockwise) that show the stored pixels upright
SHOWN_TURNS = {1: 0, 3: 2, 6: -1, 8: 1}
PAIRS = (("rotated.jpg", "upright.png"), ("grey16.png", "grey8.png"))  # (variant, its plain counterpart)


def with_orientation(jpeg: bytes, orientation: int) -> bytes:
    """The JPEG ``jpeg`` with an EXIF APP1 segment holding ``orientation`` right after SOI; pixels untouched."""
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    payload = exif.tobytes()  # b"Exif\0\0" + the TIFF block
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def png16(array: np.ndarray) -> bytes:
    """A 16-bit PNG of an (H, W) or (H, W, 3) uint16 array (grey or RGB; Pillow cannot write 16-bit RGB)."""
    h, w = array.shape[:2]
    colour_type = 2 if array.ndim == 3 else 0
    raw = b"".join(b"\x00" + np.ascontiguousarray(row).astype(">u2").tobytes() for row in array)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, colour_type, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def write_variants(photo: Path, folder: Path) -> dict[str, Path]:
    """The four files of the module docstring, made from the real JPEG ``photo``, in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = photo.read_bytes()
    with Image.open(photo) as im:
        stored = np.asarray(im.convert("RGB"))
        grey = np.asarray(im.convert("L"))
    out = {name: folder / name for pair in PAIRS for name in pair}
    out["rotated.jpg"].write_bytes(with_orientation(raw, 6))
    Image.fromarray(np.ascontiguousarray(np.rot90(stored, SHOWN_TURNS[6]))).save(out["upright.png"])
    Image.fromarray(grey.astype(np.uint16) * 257).save(out["grey16.png"])
    Image.fromarray(grey).save(out["grey8.png"])
    return out
