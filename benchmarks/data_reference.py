"""The data path as it was before issue #20, frozen for side-by-side comparison (``benchmarks/data.py``) and for
the equivalence tests: LSJ that resizes every mask over the whole jittered frame and boxes every mask with one
``np.nonzero`` each; normalise-then-pad out of place; LVIS evaluation from one Python dict per detection, ground truth
loaded once per IoU type. Not used by the packages: do not import it outside benchmarks/ and tests/."""
from __future__ import annotations

import contextlib
import io
import math
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch
from PIL import Image

from shared.formats.coco import mask_to_rle
from shared.transforms import Instances


# --- shared/transforms.py ----------------------------------------------------------------------------------------
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


# --- fvit_detection/metrics.py -----------------------------------------------------------------------------------
def results_records(det: dict, image_id: int, label_to_cat: list[int]) -> list[dict]:
    """``rescale_detections`` output of one image → COCO/LVIS result records (bbox xywh, RLE masks)."""
    out = []
    for k in range(len(det["boxes"])):
        x0, y0, x1, y1 = det["boxes"][k].tolist()
        rec = {"image_id": image_id, "category_id": int(label_to_cat[int(det["labels"][k])]),
               "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(det["scores"][k])}
        if "masks" in det:
            rec["segmentation"] = mask_to_rle(det["masks"][k])
        out.append(rec)
    return out


def _split_means(precision: np.ndarray, cat_ids: list[int], novel_cat_ids: set[int]) -> dict:
    """AP and AP50 averaged over base / novel classes from a COCOeval precision array [T, R, K, A, M]."""
    out = {}
    for name, sel in (("base", [k for k, c in enumerate(cat_ids) if c not in novel_cat_ids]),
                      ("novel", [k for k, c in enumerate(cat_ids) if c in novel_cat_ids])):
        for key, t in (("AP", slice(None)), ("AP50", slice(0, 1))):
            vals = []
            for k in sel:
                p = precision[t, :, k, 0, -1]
                if (p > -1).any():
                    vals.append(float(p[p > -1].mean()))
            out[f"{key}_{name}"] = float(np.mean(vals)) if vals else float("nan")
    return out


LVIS_MAX_DETS = 300  # the lvis api's LVISResults default, the official LVIS setting


def lvis_api_results(results: list[dict], max_dets: int = LVIS_MAX_DETS) -> list[dict]:
    """The detections the official lvis api evaluates, in its order (``LVISResults`` + ``LVISEval._prepare``).

    1. Per image (in order of first appearance), when it has more than ``max_dets`` detections, its ``max_dets``
       highest scores (a stable sort: ties keep the file order); images at or under the cap are left as they are.
    2. Then detections without a positive finite area are dropped: ``area`` = w·h of the ``bbox`` when the first
       record has a ``bbox`` (also for segm, as lvis-api computes it), else the RLE mask area; ``get_ann_ids``
       keeps only 0 < area < inf. So a zero-area box still takes one of the ``max_dets`` places.
    hotcoco keeps zero-area detections, which changes AP (they are false positives there). Ground truth: see
    ``_lvis_api_gt``.
    """
    if not results:
        return []
    per_image: dict = defaultdict(list)
    for r in results:
        per_image[r["image_id"]].append(r)
    capped = []
    for anns in per_image.values():
        if max_dets >= 0 and len(anns) > max_dets:
            anns = sorted(anns, key=lambda a: a["score"], reverse=True)[:max_dets]
        capped += anns
    if "bbox" in capped[0]:
        areas = [r["bbox"][2] * r["bbox"][3] for r in capped]
    else:
        from pycocotools import mask as mask_utils

        areas = [float(mask_utils.area(r["segmentation"])) for r in capped]
    return [r for r, a in zip(capped, areas) if 0 < a < math.inf]


def _lvis_api_gt(gt_file: str):
    """The ground truth as the lvis api evaluates it: ``get_ann_ids`` (with category ids, as ``LVISEval._prepare``
    calls it) also drops annotations without a positive finite area, which hotcoco would count as misses."""
    import hotcoco

    gt = hotcoco.COCO(str(gt_file))
    # cheap check first (hotcoco's area range is inclusive: from the smallest positive float); rewrite only if needed
    if len(gt.get_ann_ids(area_rng=[math.ulp(0.0), math.inf])) != len(gt.get_ann_ids()):
        data = gt.dataset
        data["annotations"] = [a for a in data["annotations"] if 0 < a["area"] < math.inf]
        gt.dataset = data
    return gt


def evaluate_lvis(gt_file: str, results: list[dict], iou_types=("bbox", "segm"),
                  novel_cat_ids: set[int] = frozenset()) -> dict:
    """LVIS v1 federated AP exactly as the official lvis api computes it (hotcoco's LVISeval on the detections the
    api keeps, ``lvis_api_results``): AP, AP50, APr/APc/APf, plus AP / AP50 averaged over the base and the novel
    classes of the split."""
    import hotcoco

    metrics = {}
    kept = lvis_api_results(results)
    for iou_type in iou_types:
        if not results or (iou_type == "segm" and "segmentation" not in results[0]):
            continue
        gt = _lvis_api_gt(gt_file)
        # already capped: hotcoco must not cap again (its cap would let in a detection the api had cut)
        ev = hotcoco.LVISeval(gt, hotcoco.LVISResults(gt, kept, max_dets=-1), iou_type)
        with contextlib.redirect_stdout(io.StringIO()):
            ev.run()
        r = ev.get_results()
        metrics.update({f"{iou_type}_{k}": float(r[k]) for k in ("AP", "AP50", "APr", "APc", "APf")})
        split = _split_means(np.array(ev.eval["precision"]), list(ev.params.cat_ids), set(novel_cat_ids))
        metrics.update({f"{iou_type}_{k}": v for k, v in split.items()})
    return metrics




# --- the mask padding both datasets did inline (now shared.transforms.pad_masks) --------------------------------------
def pad_masks(masks: np.ndarray, size: int) -> torch.Tensor:
    m = torch.zeros((len(masks), size, size), dtype=torch.uint8)
    m[:, :masks.shape[1], :masks.shape[2]] = torch.from_numpy(masks.astype(np.uint8))
    return m
