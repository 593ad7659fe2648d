"""Detections at the model's input resolution → the original image's pixels (predict, the API, eval, export)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .boxes import clip_boxes


def rescale_to_original(det: dict, size: tuple[int, int], orig_size: tuple[int, int]) -> dict:
    """One image's detections on the padded input → numpy boxes (N, 4) xyxy, scores, labels and bool masks (N, H, W)
    (when the model has masks) in original image pixels.

    ``size``: the resized content (h, w) inside the padded input; ``orig_size``: the original (H, W). Boxes are
    divided by the real per-axis factors (w / W, h / H), as mmdet's ``bboxes / scale_factor`` — not by the nominal
    size / max(H, W), which the rounded sides miss by up to half a pixel — and clipped to [0, W] × [0, H].
    """
    (h, w), (oh, ow) = (tuple(int(v) for v in size), tuple(int(v) for v in orig_size))
    factor = torch.tensor([w / ow, h / oh, w / ow, h / oh], dtype=torch.float32)
    boxes = clip_boxes(det["boxes"].float().cpu() / factor, (oh, ow))
    out = {"boxes": boxes.numpy(), "scores": det["scores"].float().cpu().numpy(), "labels": det["labels"].cpu().numpy()}
    if "masks" in det:
        if len(det["boxes"]):
            m = det["masks"][:, :, :h, :w].float()
            up = F.interpolate(m, size=(oh, ow), mode="bilinear", align_corners=False)[:, 0]
            out["masks"] = (up > 0.5).cpu().numpy()
        else:
            out["masks"] = np.zeros((0, oh, ow), bool)
    return out
