"""Box helpers that also run inside an exported (traced) graph."""
from __future__ import annotations

import torch


def clip_boxes(boxes: torch.Tensor, size) -> torch.Tensor:
    """(N, 4) xyxy clipped to [0, w] × [0, h]; ``size`` = (h, w) as ints or as a (2,) tensor.

    Equal to torchvision's ``clip_boxes_to_image`` (clamp to 0, then to the side), which turns a tensor size
    into a constant when traced; here a tensor size stays an input of the graph.
    """
    if isinstance(size, torch.Tensor):
        h, w = size[0].to(boxes.dtype), size[1].to(boxes.dtype)
        limit = torch.stack([w, h, w, h])
    else:
        h, w = size
        limit = torch.tensor([w, h, w, h], dtype=boxes.dtype, device=boxes.device)
    return torch.min(boxes.clamp(min=0), limit.to(boxes.device))
