"""Image + instance transforms shared by detection and segmentation (numpy in, numpy/tensor out)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image


@dataclass
class Instances:
    """One image and its objects. boxes: (n, 4) xyxy float32; labels: (n,) int64; masks: (n, H, W) bool or None."""

    image: np.ndarray  # (H, W, 3) uint8
    boxes: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None = None


def _resize(inst: Instances, scale: float) -> Instances:
    h, w = inst.image.shape[:2]
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    image = np.asarray(Image.fromarray(inst.image).resize((nw, nh), Image.BILINEAR))
    masks = None
    if inst.masks is not None:
        masks = np.stack([np.asarray(Image.fromarray(m).resize((nw, nh), Image.NEAREST)) for m in inst.masks]) \
            if len(inst.masks) else np.zeros((0, nh, nw), bool)
    boxes = inst.boxes * np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32)
    return Instances(image, boxes.astype(np.float32), inst.labels, masks)


def resize_long_side(inst: Instances, size: int) -> tuple[Instances, float]:
    """Keep-ratio resize so the image fits in size × size (the long side becomes ``size``)."""
    scale = size / max(inst.image.shape[:2])
    return _resize(inst, scale), scale


def _boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    boxes = np.zeros((len(masks), 4), np.float32)
    for i, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs):
            boxes[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return boxes


def large_scale_jitter(inst: Instances, rng: np.random.Generator, size: int, scale_range=(0.1, 2.0),
                       flip_prob: float = 0.5, min_box_size: float = 0.01) -> Instances:
    """LSJ: fit into a square of side size·U(scale_range) (keep ratio), random crop of at most size × size,
    horizontal flip. Boxes are recomputed from masks when masks exist, else clipped; boxes smaller than
    ``min_box_size`` after cropping are dropped (a crop without objects is kept).
    """
    r = rng.uniform(*scale_range)
    inst = _resize(inst, size * r / max(inst.image.shape[:2]))
    h, w = inst.image.shape[:2]
    y0 = int(rng.integers(0, max(h - size, 0) + 1))
    x0 = int(rng.integers(0, max(w - size, 0) + 1))
    y1, x1 = min(y0 + size, h), min(x0 + size, w)
    image = inst.image[y0:y1, x0:x1]
    masks = inst.masks[:, y0:y1, x0:x1] if inst.masks is not None else None
    if masks is not None:
        boxes = _boxes_from_masks(masks)
    else:
        boxes = inst.boxes - np.array([x0, y0, x0, y0], np.float32)
        boxes = np.clip(boxes, 0, [x1 - x0, y1 - y0, x1 - x0, y1 - y0]).astype(np.float32)
    keep = ((boxes[:, 2] - boxes[:, 0]) > min_box_size) & ((boxes[:, 3] - boxes[:, 1]) > min_box_size)
    out = Instances(image, boxes[keep], inst.labels[keep], masks[keep] if masks is not None else None)
    if rng.random() < flip_prob:
        cw = out.image.shape[1]
        out = replace(out, image=out.image[:, ::-1].copy(),
                      boxes=np.stack([cw - out.boxes[:, 2], out.boxes[:, 1], cw - out.boxes[:, 0], out.boxes[:, 3]],
                                     axis=1).astype(np.float32).reshape(-1, 4),
                      masks=out.masks[:, :, ::-1].copy() if out.masks is not None else None)
    return out


def eval_input(image: np.ndarray, size: int, mean, std, pad: str = "mean") -> tuple[torch.Tensor, tuple[int, int]]:
    """Test-time input of a (H, W, 3) uint8 image: long side resized to ``size``, normalised, padded to size × size
    → (tensor (3, size, size), content (h, w)); the resize factor is size / max(H, W)."""
    inst, _ = resize_long_side(Instances(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), size)
    return normalize_and_pad(inst.image, mean, std, size, pad), inst.image.shape[:2]


def normalize_and_pad(image: np.ndarray, mean, std, size: int, pad: str = "mean") -> torch.Tensor:
    """(h, w, 3) uint8 → (3, size, size) float: (x/255 − mean) / std, padded bottom/right with 0 after normalising
    (``pad="mean"``: the mean colour; detectron2's ImageList) or with black before it (``pad="black"``: the
    reference Sliding FC-CLIP's fixed 1344² canvas)."""
    h, w = image.shape[:2]
    if h > size or w > size:
        raise ValueError(f"image {h}×{w} larger than the pad size {size}")
    if pad not in ("mean", "black"):
        raise ValueError(f"pad={pad!r}: expected 'mean' or 'black'")
    x = torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(255)
    if pad == "black":
        x = torch.nn.functional.pad(x, (0, size - w, 0, size - h))
    x = (x - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]
    return torch.nn.functional.pad(x, (0, size - x.shape[-1], 0, size - x.shape[-2]))
