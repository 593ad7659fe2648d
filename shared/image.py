"""The project's one photo reader: a file, its bytes or a PIL image → an RGB (8 bits per channel) PIL image, as shown.

Every entry point and dataset reads photos with ``read_image``: the ``predict`` API (paths and PIL images), both
predict CLIs, the web app, the ONNX export's check image, LLaVA chat / eval (files and base64 questions) and the
F-ViT, FC-CLIP, LLaVA and CLIP pre-training datasets. ``np.asarray(read_image(x))`` is the (H, W, 3) uint8 array.

The ``photo`` reading (default):

- **Orientation**: the EXIF (or XMP) orientation tag is applied with ``PIL.ImageOps.exif_transpose``, as
  detectron2's ``read_image`` (FC-CLIP's reference) and mmcv's ``imfrombytes`` (F-ViT's reference: OpenCV's
  ``IMREAD_COLOR``, which applies it unless ``IMREAD_IGNORE_ORIENTATION`` is given) do:
  the output has the shown size, not the stored one, and carries no tag, so reading it again changes nothing.
  PIL images given to the API are transposed too. An EXIF block Pillow cannot parse gives no orientation (as
  detectron2 does).
- **Modes** (Pillow's mode after decoding → RGB):

  - ``RGB``: as stored. ``L``, ``1``: grey replicated to 3 channels (``1``: 0 / 255).
  - ``P``, ``PA`` (GIF, palette PNG): the palette colours; transparency dropped.
  - ``LA``, ``RGBA``: alpha dropped without compositing (the stored colour under a transparent pixel is kept), as
    the references do (detectron2's ``read_image``, LLaVA's ``convert('RGB')``): the models were trained so.
  - ``CMYK``: Pillow's conversion, R = round((255 − C)(255 − K) / 255), G and B alike. Pillow's JPEG decoder
    already un-inverts Adobe (Photoshop) CMYK JPEGs. ICC profiles are not applied (nor by the references).
  - ``YCbCr``, ``LAB``, ``HSV``: Pillow's conversion.
  - ``I;16`` / ``I;16L`` / ``I;16B`` / ``I;16N`` (16-bit grey; Pillow's mode for 16-bit grey PNGs): the high byte,
    v >> 8. Pillow applies that rule itself when it decodes 16-bit RGB / RGBA / LA PNGs into its 8-bit modes, so a
    16-bit picture reads the same saved grey or colour. (Pillow's own ``convert('RGB')`` clips at 255: almost all
    white.)
  - ``I`` (32-bit integer grey: 16-bit PNGs in older Pillow, PGM, TIFF): values in 0..65535 are taken as 16-bit
    (v >> 8); other values are an error naming the file.
  - ``F`` (32-bit float grey, TIFF): values in [0, 1] → round(255 v), the API's rule for float arrays; other or
    non-finite values are an error naming the file.
  - Other modes Pillow cannot convert to RGB (``La``, ...): an error naming the file and the mode.

  Multi-frame files (animated GIF / WebP, multi-page TIFF): the first frame.

The ``reference`` reading is Pillow's plain ``Image.open(f).convert('RGB')`` (LLaVA's training and eval code):
the stored orientation and Pillow's own mode conversion. It exists for LLaVA's ``--image_reading reference``.

Not photos: semantic label maps, panoptic segment-id PNGs (``shared.formats.panoptic.read_segment_ids``) and
other annotation PNGs keep their own exact readers (no orientation, no scaling: their values are ids) and are
never read here.

A missing file raises ``FileNotFoundError``, anything Pillow cannot decode (not an image, truncated, too large)
``ImageReadError``; both messages name the file (or what the bytes are, ``what``).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps

from shared.errors import UserError

READINGS = ("photo", "reference")
ImageSource = Union[str, os.PathLike, bytes, Image.Image]
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


class ImageReadError(UserError, ValueError):
    """A file or payload that is not a decodable image (the message names it)."""


def read_image(source: ImageSource, reading: str = "photo", what: str = "image") -> Image.Image:
    """A photo as an RGB PIL image (see the module docstring for the rules of ``reading``).

    ``source``: a path, the encoded bytes of an image file (``what`` names them in errors, e.g. "question 3
    (base64 image)") or a PIL image (no decoding errors possible; the rules still apply).
    """
    if reading not in READINGS:
        raise ValueError(f"image reading must be one of {', '.join(READINGS)}, got {reading!r}")
    if isinstance(source, Image.Image):
        return _to_rgb(source, reading, what)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name, opener = what, lambda: io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{what} not found: {path}")
        name, opener = f"{what} {path}", lambda: path
    else:
        raise TypeError(f"{what}: expected a path, bytes or a PIL image, got {type(source).__name__}")
    try:
        with Image.open(opener()) as im:
            im.load()  # decode now: a truncated or corrupt file fails here, with its name
            return _to_rgb(im, reading, name)
    except ImageReadError:
        raise
    except Exception as e:  # Pillow's decoders raise OSError, SyntaxError, ValueError, DecompressionBombError, ...
        raise ImageReadError(f"cannot read {name}: {_reason(e)}") from None


def _reason(e: Exception) -> str:
    text = str(e)
    if text.startswith("cannot identify image file"):
        return "not an image file Pillow can decode (wrong extension, or damaged)"
    return text or type(e).__name__


def _to_rgb(im: Image.Image, reading: str, name: str) -> Image.Image:
    if reading == "reference":
        return im.convert("RGB")
    try:
        im = ImageOps.exif_transpose(im)  # a new image, the orientation tag removed
    except Exception:  # an EXIF block Pillow cannot parse: no orientation to apply (detectron2 does the same)
        im = im.copy()  # never the caller's image, nor one tied to a file about to be closed
    if im.mode == "RGB":
        return im
    if im.mode in SIXTEEN_BIT_MODES or im.mode == "I":
        a = np.asarray(im)
        if im.mode == "I" and a.size and (a.min() < 0 or a.max() > 65535):
            raise ImageReadError(f"{name}: 32-bit integer image with values {a.min()}..{a.max()}, outside the "
                                 "16-bit range 0..65535 a photo can hold; save it as an 8- or 16-bit image")
        return _grey((a.astype(np.uint32) >> 8).astype(np.uint8))
    if im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        if a.size and not (np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1):
            raise ImageReadError(f"{name}: float image with values {np.nanmin(a):g}..{np.nanmax(a):g}; photos stored "
                                 "as float must lie in [0, 1]")
        return _grey(np.round(a * 255).astype(np.uint8))
    try:
        return im.convert("RGB")  # L, 1, P, PA, LA, RGBA, CMYK, YCbCr, LAB, HSV (rules in the module docstring)
    except ValueError as e:
        raise ImageReadError(f"{name}: image mode {im.mode!r} cannot be read as a photo ({e})") from None


def _grey(a: np.ndarray) -> Image.Image:
    return Image.fromarray(np.repeat(a[:, :, None], 3, axis=2), "RGB")
