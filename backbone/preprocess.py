"""Image file → normalised tensor, with the spec's mean/std."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image, UnidentifiedImageError


def load_image(path: str | Path) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValueError(f"cannot read image {path}: {e}") from None


def to_tensor(image: Image.Image, size: tuple[int, int] | None, mean, std) -> torch.Tensor:
    """PIL image → (1, 3, H, W) float, resized (bicubic) to ``size`` = (H, W) when given, CLIP-normalised."""
    if size is not None:
        image = image.resize((size[1], size[0]), Image.BICUBIC)
    x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = x.view(image.height, image.width, 3).permute(2, 0, 1).float().div(255)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    return x.unsqueeze(0)
