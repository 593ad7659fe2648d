"""Evaluation glue: detections → LVIS/COCO result json; LVIS federated AP (hotcoco) and OV-COCO AP50 (pycocotools)."""
from __future__ import annotations

import contextlib
import io
import math
from collections import defaultdict

import numpy as np
import torch

from shared.formats.coco import mask_to_rle

from .modeling.postprocess import rescale_to_original


def rescale_detections(det: dict, scale: float, size: tuple[int, int], orig_size: tuple[int, int]) -> dict:
    """``rescale_to_original`` for callers that still pass the nominal factor: ``scale`` is not used (the real
    per-axis factors come from ``size`` and ``orig_size``)."""
    return rescale_to_original(det, size, orig_size)


def detections_to_results(detections: list[dict], batch: dict, label_to_cat: list[int]) -> list[dict]:
    """Per-image detections at the padded input resolution → result records in original image coordinates."""
    out = []
    for det, image_id, size, orig in zip(detections, batch["image_ids"], batch["image_sizes"], batch["orig_sizes"]):
        out += results_records(rescale_to_original(det, size, orig), int(image_id), label_to_cat)
    return out


def results_records(det: dict, image_id: int, label_to_cat: list[int]) -> list[dict]:
    """``rescale_to_original`` output of one image → COCO/LVIS result records (bbox xywh, RLE masks)."""
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


COCO_OV_MAX_DETS = [100, 300, 1000]  # F-ViT's CocoDatasetOV.evaluate (mmdet's proposal_nums) instead of [1, 10, 100]


def evaluate_coco_ov(gt_file: str, results: list[dict], novel_cat_ids: set[int]) -> dict:
    """pycocotools bbox AP/AP50 plus the OV-COCO headline: AP50 averaged over novel / base / all classes.

    As F-ViT: ``maxDets = [100, 300, 1000]``, so AP50 (``summarize`` reads ``maxDets[2]``) and the per-class AP50
    (the last entry) count up to 1000 detections per image and class, not 100; ``bbox_AP`` (``summarize``'s
    ``stats[0]`` uses its default 100, which both lists hold) still counts 100."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not results:
        return {"bbox_AP": 0.0, "bbox_AP50": 0.0, "novel_AP50": 0.0, "base_AP50": 0.0, "all_AP50": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        ev = COCOeval(gt, gt.loadRes(results), "bbox")
        ev.params.maxDets = list(COCO_OV_MAX_DETS)
        ev.evaluate(), ev.accumulate(), ev.summarize()
    prec = ev.eval["precision"][0, :, :, 0, -1]  # IoU 0.5, all recalls, classes, area all, max dets
    per_class = {}
    for k, cat in enumerate(ev.params.catIds):
        p = prec[:, k]
        per_class[cat] = float(p[p > -1].mean()) if (p > -1).any() else float("nan")

    def mean(ids):
        vals = [per_class[c] for c in ids if not np.isnan(per_class[c])]
        return float(np.mean(vals)) if vals else float("nan")

    cats = list(per_class)
    return {"bbox_AP": float(ev.stats[0]), "bbox_AP50": float(ev.stats[1]),
            "novel_AP50": mean([c for c in cats if c in novel_cat_ids]),
            "base_AP50": mean([c for c in cats if c not in novel_cat_ids]), "all_AP50": mean(cats)}


@torch.no_grad()
def run_inference(model, loader, label_to_cat: list[int], progress: bool = True) -> list[dict]:
    from tqdm import tqdm

    model.eval()
    results = []
    for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
        results += detections_to_results(model(batch), batch, label_to_cat)
    return results
