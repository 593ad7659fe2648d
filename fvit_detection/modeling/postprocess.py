"""Detections at the model's input resolution → the original image's pixels (predict, the API, eval, export)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .boxes import clip_boxes

MASK_THRESHOLD = 0.5  # the reference's mask_thr_binary: a pixel is in the mask when its probability is >= 0.5
PASTE_BUDGET_BYTES = 256 * 2**20  # float32 grid values pasted at once on an accelerator (mmdet: 1 GiB)


def rescale_to_original(det: dict, size: tuple[int, int], orig_size: tuple[int, int]) -> dict:
    """One image's detections on the padded input → numpy boxes (N, 4) xyxy, scores, labels and, when the model has
    a mask head (``det["mask_probs"]``: (N, 1, M, M) probabilities), bool masks (N, H, W) in original image pixels.

    ``size``: the resized content (h, w) inside the padded input; ``orig_size``: the original (H, W). Boxes are
    divided by the real per-axis factors (w / W, h / H), as mmdet's ``bboxes / scale_factor`` — not by the nominal
    size / max(H, W), which the rounded sides miss by up to half a pixel — and clipped to [0, W] × [0, H]. Masks are
    pasted into those boxes at the original size (``paste_masks``), as the reference's ``get_seg_masks``.
    """
    (h, w), (oh, ow) = (tuple(int(v) for v in size), tuple(int(v) for v in orig_size))
    factor = torch.tensor([w / ow, h / oh, w / ow, h / oh], dtype=torch.float32)
    boxes = clip_boxes(det["boxes"].float().cpu() / factor, (oh, ow))
    out = {"boxes": boxes.numpy(), "scores": det["scores"].float().cpu().numpy(), "labels": det["labels"].cpu().numpy()}
    if "mask_probs" in det:
        out["masks"] = paste_masks(det["mask_probs"], boxes.to(det["mask_probs"].device), (oh, ow))
    return out


def paste_masks(probs: torch.Tensor, boxes: torch.Tensor, image_size: tuple[int, int],
                threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """(N, 1, M, M) mask probabilities + (N, 4) xyxy boxes in the image's pixels → (N, H, W) bool numpy masks.

    The rule of mmdet's ``FCNMaskHead.get_seg_masks`` (the F-ViT reference): the pixel centred at (x + ½, y + ½) reads
    the M × M map bilinearly at ((x + ½ − x0) / (x1 − x0), (y + ½ − y0) / (y1 − y0)) of its extent
    (``grid_sample``, ``align_corners=False``, zero outside the map) and is in the mask when that value is
    ``>= threshold``. Only the region of the boxes (± 1 px) is sampled: beyond it the value is < ½ of the map's edge,
    so no pixel there can reach ½. On the CPU one mask at a time (least work), elsewhere chunks of
    ``PASTE_BUDGET_BYTES``.
    """
    height, width = (int(v) for v in image_size)
    n = len(probs)
    out = torch.zeros((n, height, width), dtype=torch.bool, device=probs.device)
    if n == 0 or height == 0 or width == 0:
        return out.cpu().numpy()
    per_chunk = 1 if probs.device.type == "cpu" else max(1, PASTE_BUDGET_BYTES // (4 * height * width))
    boxes = boxes.float()
    for start in range(0, n, per_chunk):
        part = slice(start, min(n, start + per_chunk))
        b = boxes[part]
        # the region the boxes of this chunk cover, one pixel more on each side, inside the image
        x_lo = int(max(0, float(b[:, 0].min().floor()) - 1))
        y_lo = int(max(0, float(b[:, 1].min().floor()) - 1))
        x_hi = int(min(width, float(b[:, 2].max().ceil()) + 1))
        y_hi = int(min(height, float(b[:, 3].max().ceil()) + 1))
        if x_hi <= x_lo or y_hi <= y_lo:
            continue
        xs = torch.arange(x_lo, x_hi, dtype=torch.float32, device=probs.device) + 0.5
        ys = torch.arange(y_lo, y_hi, dtype=torch.float32, device=probs.device) + 0.5
        gx = (xs - b[:, 0:1]) / (b[:, 2:3] - b[:, 0:1]) * 2 - 1
        gy = (ys - b[:, 1:2]) / (b[:, 3:4] - b[:, 1:2]) * 2 - 1
        # a box of zero width or height: the reference reads its map's centre column / row (±inf → 0)
        gx, gy = (g.masked_fill(torch.isinf(g), 0.0) for g in (gx, gy))
        k = len(b)
        grid = torch.stack([gx[:, None, :].expand(k, len(ys), len(xs)), gy[:, :, None].expand(k, len(ys), len(xs))],
                           dim=3)
        values = F.grid_sample(probs[part].float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        out[part, y_lo:y_hi, x_lo:x_hi] = values[:, 0] >= threshold
    return out.cpu().numpy()
