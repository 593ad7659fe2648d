"""LLaVA image reading (the project's one reader) and preprocessing: optional pad-to-square with the CLIP mean
colour, then the CLIP processor."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from shared.errors import UserError
from shared.image import read_image

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class ImageError(UserError, ValueError):
    """A missing or unreadable image (the message names the file)."""


def make_image_processor(image_size: int, mean=CLIP_MEAN, std=CLIP_STD):
    """CLIP processor: resize shortest edge to R (bicubic), centre-crop R×R, normalise."""
    from transformers import CLIPImageProcessor

    return CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size={"height": image_size, "width": image_size},
                              image_mean=list(mean), image_std=list(std), resample=3, do_convert_rgb=True,
                              do_center_crop=True, do_resize=True, do_normalize=True, do_rescale=True)


def open_image(source: str | Path | bytes, reading: str = "photo", what: str = "image") -> Image.Image:
    """RGB image via ``shared.image.read_image``: a path, or the bytes of an image file (base64 questions; ``what``
    names them). ``reading``: ``photo`` (EXIF orientation applied, 16-bit / CMYK / palette rules) or ``reference``
    (LLaVA's ``Image.open(path).convert('RGB')``: the stored orientation). A missing or unreadable image raises
    ``ImageError`` naming it."""
    try:
        return read_image(source, reading, what)
    except (FileNotFoundError, ValueError) as e:
        raise ImageError(str(e)) from None


def expand2square(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Reference ``expand2square``: paste centred on a square canvas of side max(w, h)."""
    w, h = img.size
    if w == h:
        return img
    if w > h:
        out = Image.new(img.mode, (w, w), background)
        out.paste(img, (0, (w - h) // 2))
    else:
        out = Image.new(img.mode, (h, h), background)
        out.paste(img, ((h - w) // 2, 0))
    return out


def process_images(images: list[Image.Image], processor, aspect: str = "pad") -> torch.Tensor:
    """(B, 3, R, R) float tensor; ``aspect`` is ``pad`` (stage 2 / eval) or ``square`` (stage 1 default)."""
    if aspect not in ("pad", "square"):
        raise ValueError(f"image_aspect_ratio must be 'pad' or 'square', got {aspect!r}")
    if aspect == "pad":
        bg = tuple(int(x * 255) for x in processor.image_mean)
        images = [expand2square(im, bg) for im in images]
    return processor(images=images, return_tensors="pt")["pixel_values"]
