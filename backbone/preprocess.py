"""RGB image → normalised tensor, with the spec's mean/std (files are read with ``shared.image.read_image``)."""
from __future__ import annotations

import torch
from PIL import Image


def to_tensor(image: Image.Image, size: tuple[int, int] | None, mean, std) -> torch.Tensor:
    """PIL image → (1, 3, H, W) float, resized (bicubic) to ``size`` = (H, W) when given, CLIP-normalised."""
    if size is not None:
        image = image.resize((size[1], size[0]), Image.BICUBIC)
    x = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = x.view(image.height, image.width, 3).permute(2, 0, 1).float().div(255)
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    return x.unsqueeze(0)
