"""Image + instance transforms shared by detection and segmentation (numpy in, numpy/tensor out)."""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
import torch
from PIL import Image


@dataclass
class Instances:
    """One image and its objects. boxes: (n, 4) xyxy float32 (None where a transform was asked not to compute them);
    labels: (n,) int64; masks: (n, H, W) bool or None."""

    image: np.ndarray  # (H, W, 3) uint8
    boxes: np.ndarray | None
    labels: np.ndarray
    masks: np.ndarray | None = None


@functools.lru_cache(maxsize=4096)
def _nearest_index(src: int, dst: int) -> np.ndarray:
    """(dst,) source pixel of each output pixel when PIL resizes ``src`` pixels to ``dst`` with NEAREST.

    Read from PIL itself (a resized ramp): its nearest scaling looks up one such table per axis, so gathering rows and
    columns with these tables reproduces ``Image.resize(..., NEAREST)`` bit for bit, on any crop of the output."""
    ramp = Image.fromarray(np.arange(src, dtype=np.int32)[None])
    idx = np.asarray(ramp.resize((dst, 1), Image.NEAREST), dtype=np.intp)[0]
    idx.flags.writeable = False
    return idx


def _gather_masks(masks: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[list, np.ndarray, np.ndarray]:
    """NEAREST-resized masks at the output pixels ``ys`` × ``xs`` (from ``_nearest_index``), computed only there,
    still packed: masks (n, H, W) bool → (one (len(ys), len(xs)) integer image per 64 masks, mask k in bit k % 64 of
    image k // 64; which output rows (n, len(ys)) and columns (n, len(xs)) of each mask hold a pixel). The source is
    read once per 64 masks, the gather done once per packed image."""
    n, ch, cw = len(masks), len(ys), len(xs)
    crops, rows, cols = [], np.zeros((n, ch), bool), np.zeros((n, cw), bool)
    if n == 0 or ch == 0 or cw == 0:
        return crops, rows, cols
    y_lo, y_hi, x_lo, x_hi = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1  # the source pixels read
    ys, xs = ys - y_lo, xs - x_lo
    for start in range(0, n, 64):
        chunk = masks[start:start + 64, y_lo:y_hi, x_lo:x_hi]
        dtype = next(t for t in (np.uint8, np.uint16, np.uint32, np.uint64) if np.iinfo(t).bits >= len(chunk))
        packed = np.zeros(chunk.shape[1:], dtype)
        for j, m in enumerate(chunk):
            packed |= np.left_shift(m, j, dtype=dtype)  # from bool, not its bytes: True may be stored as 255
        crop = np.take(np.take(packed, ys, axis=0), xs, axis=1)
        row_bits, col_bits = np.bitwise_or.reduce(crop, axis=1), np.bitwise_or.reduce(crop, axis=0)
        bits = (np.ones(1, dtype) << np.arange(len(chunk), dtype=dtype))[:, None]
        rows[start:start + len(chunk)], cols[start:start + len(chunk)] = (row_bits & bits) != 0, (col_bits & bits) != 0
        crops.append(crop)
    return crops, rows, cols


def _unpack_masks(crops: list, rows: np.ndarray, cols: np.ndarray, index: np.ndarray,
                  canvas: int | None = None) -> np.ndarray:
    """Masks ``index`` of ``_gather_masks``' output → (len(index), h, w) bool, or (len(index), canvas, canvas) with
    that at the top-left. Each mask is unpacked only inside its box, into a zero-initialised array (calloc: pages
    outside every box are never touched)."""
    ch, cw = rows.shape[1], cols.shape[1]
    out = np.zeros((len(index), canvas, canvas) if canvas is not None else (len(index), ch, cw), bool)
    for o, k in enumerate(np.asarray(index).tolist()):
        r, c = rows[k], cols[k]
        if not r.any():
            continue
        crop = crops[k // 64]
        y0, y1, x0, x1 = int(r.argmax()), ch - int(r[::-1].argmax()), int(c.argmax()), cw - int(c[::-1].argmax())
        np.not_equal(crop[y0:y1, x0:x1] & crop.dtype.type(1 << (k % 64)), 0, out=out[o, y0:y1, x0:x1])
    return out


def _boxes_from_extents(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Tightest xyxy boxes (n, 4) float32 (x1 = last column + 1) of masks from their occupied rows (n, h) and columns
    (n, w); [0, 0, 0, 0] for an empty mask."""
    h, w = rows.shape[1], cols.shape[1]
    boxes = np.stack([cols.argmax(1), rows.argmax(1), w - cols[:, ::-1].argmax(1), h - rows[:, ::-1].argmax(1)],
                     axis=1).astype(np.float32).reshape(-1, 4)
    boxes[~rows.any(1)] = 0
    return boxes


def _resize(inst: Instances, scale: float) -> Instances:
    h, w = inst.image.shape[:2]
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    image = np.asarray(Image.fromarray(inst.image).resize((nw, nh), Image.BILINEAR))
    masks = None
    if inst.masks is not None:
        crops, rows, cols = _gather_masks(inst.masks, _nearest_index(h, nh), _nearest_index(w, nw))
        masks = _unpack_masks(crops, rows, cols, np.arange(len(inst.masks)))
    boxes = inst.boxes * np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32)
    return Instances(image, boxes.astype(np.float32), inst.labels, masks)


def resize_long_side(inst: Instances, size: int) -> tuple[Instances, float]:
    """Keep-ratio resize so the image fits in size × size (the long side becomes ``size``)."""
    scale = size / max(inst.image.shape[:2])
    return _resize(inst, scale), scale


def large_scale_jitter(inst: Instances, rng: np.random.Generator, size: int, scale_range=(0.1, 2.0),
                       flip_prob: float = 0.5, min_box_size: float = 0.01, return_boxes: bool = True,
                       mask_canvas: int | None = None) -> Instances:
    """LSJ: fit into a square of side size·U(scale_range) (keep ratio), random crop of at most size × size,
    horizontal flip. Boxes are recomputed from masks when masks exist, else clipped; boxes smaller than
    ``min_box_size`` after cropping are dropped (a crop without objects is kept).

    Masks are resized (NEAREST) only inside the crop, flipped on the way. ``return_boxes=False`` (callers that use
    only the masks): with masks, ``boxes`` comes back None. ``mask_canvas``: masks come back as
    (n, mask_canvas, mask_canvas), the crop at the top-left and zeros elsewhere (the padded size a batch needs,
    written once). Otherwise the same output, bit for bit, as resizing the whole frame and cropping after.
    """
    r = rng.uniform(*scale_range)
    h0, w0 = inst.image.shape[:2]
    scale = size * r / max(h0, w0)
    resized = _resize(replace(inst, masks=None), scale)
    h, w = resized.image.shape[:2]
    y0 = int(rng.integers(0, max(h - size, 0) + 1))
    x0 = int(rng.integers(0, max(w - size, 0) + 1))
    y1, x1 = min(y0 + size, h), min(x0 + size, w)
    image = resized.image[y0:y1, x0:x1]
    flip = rng.random() < flip_prob  # drawn last, as before: the crop and the flip come from the same draws
    if inst.masks is not None:
        if mask_canvas is not None and max(y1 - y0, x1 - x0) > mask_canvas:
            raise ValueError(f"mask_canvas={mask_canvas} is smaller than the {y1 - y0}×{x1 - x0} crop")
        xs = _nearest_index(w0, w)[x0:x1]
        crops, rows, cols = _gather_masks(inst.masks, _nearest_index(h0, h)[y0:y1], xs[::-1] if flip else xs)
        boxes = None
        if return_boxes or min_box_size > -np.inf:
            boxes = _boxes_from_extents(rows, cols[:, ::-1] if flip else cols)  # in the crop before the flip
    else:
        boxes = resized.boxes - np.array([x0, y0, x0, y0], np.float32)
        boxes = np.clip(boxes, 0, [x1 - x0, y1 - y0, x1 - x0, y1 - y0]).astype(np.float32)
    if boxes is not None:
        keep = ((boxes[:, 2] - boxes[:, 0]) > min_box_size) & ((boxes[:, 3] - boxes[:, 1]) > min_box_size)
    else:
        keep = np.ones(len(inst.labels), bool)
    masks = None
    if inst.masks is not None:  # only the kept masks are unpacked
        masks = _unpack_masks(crops, rows, cols, np.flatnonzero(keep), mask_canvas)
    out = Instances(image, boxes[keep] if boxes is not None else None, inst.labels[keep], masks)
    if flip:
        cw = out.image.shape[1]
        out = replace(out, image=out.image[:, ::-1].copy())
        if out.boxes is not None:
            out.boxes = np.stack([cw - out.boxes[:, 2], out.boxes[:, 1], cw - out.boxes[:, 0], out.boxes[:, 3]],
                                 axis=1).astype(np.float32).reshape(-1, 4)
    if not return_boxes and out.masks is not None:
        out.boxes = None
    return out


def pad_masks(masks: np.ndarray, size: int) -> torch.Tensor:
    """(n, h, w) bool → (n, size, size) uint8 0/1 with zeros bottom/right. Masks already (n, size, size) (LSJ's
    ``mask_canvas``) are shared, not copied: their bytes must be 0/1, as this module's transforms and numpy's
    comparisons write them (a bool array from PIL's mode "1" stores True as 255)."""
    if masks.shape[1:] == (size, size):
        return torch.from_numpy(np.ascontiguousarray(masks).view(np.uint8))
    out = np.zeros((len(masks), size, size), np.uint8)
    out[:, :masks.shape[1], :masks.shape[2]] = masks
    return torch.from_numpy(out)


def eval_input(image: np.ndarray, size: int, mean, std, pad: str = "mean") -> tuple[torch.Tensor, tuple[int, int]]:
    """Test-time input of a (H, W, 3) uint8 image: long side resized to ``size``, normalised, padded to size × size
    → (tensor (3, size, size), content (h, w)); the resize factor is size / max(H, W)."""
    inst, _ = resize_long_side(Instances(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), size)
    return normalize_and_pad(inst.image, mean, std, size, pad), inst.image.shape[:2]


def whole_cells_multiple(strides) -> int:
    """The smallest side that is a whole number of cells at every stride (strides may be fractional: 3.5 → 7)."""
    fr = [Fraction(s).limit_denominator(1000) for s in strides]
    m = Fraction(math.lcm(*(f.numerator for f in fr)), math.gcd(*(f.denominator for f in fr)))
    return int(m) if m.denominator == 1 else m.numerator


def normalize_and_pad(image: np.ndarray, mean, std, size: int, pad: str = "mean") -> torch.Tensor:
    """(h, w, 3) uint8 → (3, size, size) float: (x/255 − mean) / std, padded bottom/right with 0 after normalising
    (``pad="mean"``: the mean colour; detectron2's ImageList) or with black before it (``pad="black"``: the
    reference Sliding FC-CLIP's fixed 1344² canvas)."""
    h, w = image.shape[:2]
    if h > size or w > size:
        raise ValueError(f"image {h}×{w} larger than the pad size {size}")
    if pad not in ("mean", "black"):
        raise ValueError(f"pad={pad!r}: expected 'mean' or 'black'")
    mean, std = torch.tensor(mean)[:, None, None], torch.tensor(std)[:, None, None]
    # in place on the image's corner of a zero canvas (calloc: the padding costs nothing); the same float32 ops in
    # the same order as (x.float() / 255 − mean) / std on a separate tensor, so the same values bit for bit
    out = torch.from_numpy(np.zeros((3, size, size), np.float32))
    x = out[:, :h, :w]
    np.copyto(x.numpy(), np.asarray(image, dtype=np.uint8).transpose(2, 0, 1))  # uint8 → float32: exact
    x.div_(255).sub_(mean).div_(std)
    if pad == "black" and (h < size or w < size):  # black (0) normalised like the image: (0 − mean) / std
        black = (torch.zeros(3, 1, 1) - mean) / std
        out[:, h:] = black
        out[:, :h, w:] = black
    return out
