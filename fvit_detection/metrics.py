"""Evaluation glue: detections → columns (``DetectionResults``) → LVIS/COCO result json; LVIS federated AP
(hotcoco) and OV-COCO AP50 (pycocotools). Imports no torch (the functions that take model outputs import it)."""
from __future__ import annotations

import contextlib
import gc
import io
import json
import math
import os
from typing import Iterator

import numpy as np

from shared.formats.coco import mask_to_rle
from shared.io import atomic_path


@contextlib.contextmanager
def _gc_paused():
    """Python's cyclic garbage collector off for a block that makes many small objects and no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


RESULT_ROW = np.dtype([("image_id", "<i8"), ("category_id", "<i8"), ("bbox", "<f8", 4), ("score", "<f8"),
                       ("mask_size", "<i8", 2), ("rle_blob", "<i8"), ("rle_start", "<i8"), ("rle_end", "<i8")])
RESULT_BLOCK_ROWS = 1 << 16  # rows per storage block: large allocations, given back whole when freed


class DetectionResults:
    """The detections of an evaluation as columns, with no dict per detection: image id, category id, xywh box and
    score (float64: the values the result json holds) and, where there are masks, the compressed COCO RLE of each
    (its counts in one bytes buffer per added image). Built image by image (``add`` / ``add_detections``) into
    fixed-size blocks of ``RESULT_ROW`` records, merged across ranks (``merge``), evaluated as they are
    (``evaluate_lvis``), written as the COCO/LVIS result json one record at a time (``write_json``, the same bytes
    as ``json.dumps`` of the records)."""

    def __init__(self):
        self._blocks: list[np.ndarray] = []  # RESULT_ROW blocks; all full but the last
        self._filled = 0  # rows used in the last block
        self._blobs: list[bytes] = []  # RLE counts, one buffer per added image (rows point into them)
        self._with_masks: bool | None = None  # decided by the first add
        self.has_boxes = True  # False only for records read without a "bbox" (masks only)

    # --- building ---
    def _append(self, rows: np.ndarray) -> None:
        while len(rows):
            if not self._blocks or self._filled == len(self._blocks[-1]):
                self._blocks.append(np.zeros(RESULT_BLOCK_ROWS, RESULT_ROW))
                self._filled = 0
            k = min(len(rows), len(self._blocks[-1]) - self._filled)
            self._blocks[-1][self._filled:self._filled + k] = rows[:k]
            self._filled += k
            rows = rows[k:]

    def add(self, image_id: int, boxes_xywh: np.ndarray, scores: np.ndarray, category_ids: np.ndarray,
            rles: list[dict] | None = None) -> None:
        """One image's detections: boxes (N, 4) xywh, scores (N,), category ids (N,), RLEs (``{"size", "counts"}``,
        counts bytes or str) or None. Every added image has masks, or none has."""
        n = len(scores)
        if self._with_masks is not None and (rles is not None) != self._with_masks:
            raise ValueError(f"image {image_id}: {'no ' if rles is None else ''}masks, unlike the images before it")
        self._with_masks = rles is not None
        rows = np.zeros(n, RESULT_ROW)
        rows["image_id"], rows["category_id"] = image_id, np.asarray(category_ids, np.int64).reshape(n)
        rows["bbox"], rows["score"] = np.asarray(boxes_xywh, np.float64).reshape(n, 4), np.asarray(scores).reshape(n)
        if rles is not None:
            if len(rles) != n:
                raise ValueError(f"image {image_id}: {len(rles)} masks for {n} detections")
            self._set_masks(rows, [r["size"] for r in rles], [r["counts"] for r in rles])
        self._append(rows)

    def _set_masks(self, rows: np.ndarray, sizes: list, counts: list) -> None:
        counts = [c.encode() if isinstance(c, str) else bytes(c) for c in counts]
        ends = np.cumsum([len(c) for c in counts], dtype=np.int64)
        rows["mask_size"] = np.array(sizes, np.int64).reshape(len(counts), 2)
        rows["rle_blob"], rows["rle_start"], rows["rle_end"] = len(self._blobs), ends - [len(c) for c in counts], ends
        self._blobs.append(b"".join(counts))

    def add_detections(self, det: dict, image_id: int, label_to_cat: list[int]) -> None:
        """One image's ``rescale_to_original`` output (xyxy boxes, labels = category positions, bool masks)."""
        from pycocotools import mask as mask_utils

        xyxy = np.asarray(det["boxes"]).astype(np.float64).reshape(-1, 4)
        boxes = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)  # as [x0, y0, x1 − x0, y1 − y0]
        cats = np.asarray(label_to_cat, np.int64)[np.asarray(det["labels"], np.int64)]
        rles = None
        if "masks" in det:  # one mask at a time: no second (N, H, W) copy
            rles = [mask_utils.encode(np.asfortranarray(m, dtype=np.uint8)) for m in det["masks"]]
        self.add(image_id, boxes, det["scores"], cats, rles)

    @classmethod
    def from_records(cls, records: list[dict]) -> DetectionResults:
        """COCO/LVIS result records (``bbox`` xywh, ``score``, ``category_id``, ``image_id``, optional RLE
        ``segmentation``) → columns. As the lvis api, the first record decides whether boxes (and masks) are read."""
        out = cls()
        if not records:
            return out
        out.has_boxes, out._with_masks = "bbox" in records[0], "segmentation" in records[0]
        for k, r in enumerate(records):
            if ("bbox" in r) != out.has_boxes or ("segmentation" in r) != out._with_masks:
                raise ValueError(f"result record {k} (image {r.get('image_id')}): has "
                                 f"{'no ' if 'bbox' not in r else ''}bbox and "
                                 f"{'no ' if 'segmentation' not in r else ''}segmentation, unlike the first record")
        rows = np.zeros(len(records), RESULT_ROW)
        rows["image_id"] = [r["image_id"] for r in records]
        rows["category_id"] = [r["category_id"] for r in records]
        rows["bbox"] = [r["bbox"] for r in records] if out.has_boxes else np.nan
        rows["score"] = [r["score"] for r in records]
        if out._with_masks:
            out._set_masks(rows, [r["segmentation"]["size"] for r in records],
                           [r["segmentation"]["counts"] for r in records])
        out._append(rows)
        return out

    @classmethod
    def merge(cls, parts: list[DetectionResults]) -> DetectionResults:
        """Several ranks' results, in the order given."""
        out = cls()
        for p in parts:
            if not len(p):
                continue
            if out._with_masks is not None and p._with_masks != out._with_masks:
                raise ValueError("DetectionResults.merge: some parts have masks and some do not")
            out._with_masks = p._with_masks
            out.has_boxes = out.has_boxes and p.has_boxes
            rows = p.rows().copy()
            rows["rle_blob"] += len(out._blobs)
            out._append(rows)
            out._blobs += p._blobs
        return out

    def __getstate__(self) -> dict:  # pickled (the all-gather across ranks) as one array, not part-filled blocks
        self.rows()
        return self.__dict__

    # --- reading ---
    def __len__(self) -> int:
        return sum(len(b) for b in self._blocks[:-1]) + self._filled if self._blocks else 0

    @property
    def has_masks(self) -> bool:
        return bool(self._with_masks) and len(self) > 0

    def rows(self) -> np.ndarray:
        """All detections as one ``RESULT_ROW`` array (the blocks are joined into it, once)."""
        if not self._blocks:
            return np.zeros(0, RESULT_ROW)
        if len(self._blocks) > 1 or self._filled < len(self._blocks[0]):
            joined = np.concatenate(self._blocks[:-1] + [self._blocks[-1][:self._filled]])
            self._blocks, self._filled = [joined], len(joined)
        return self._blocks[0]

    def columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(image_ids (N,) int64, category_ids (N,) int64, boxes (N, 4) float64 xywh, scores (N,) float64) (views)."""
        rows = self.rows()
        return rows["image_id"], rows["category_id"], rows["bbox"], rows["score"]

    def rles(self, index: np.ndarray | None = None) -> list[dict]:
        """RLE dicts ({"size": [h, w], "counts": bytes}) of the detections at ``index`` (default: all), in its order."""
        rows = self.rows() if index is None else self.rows()[np.asarray(index, np.int64)]
        blobs, out = self._blobs, []
        with _gc_paused():  # hundreds of thousands of new dicts: no cyclic-garbage passes over them meanwhile
            for size, k, a, b in zip(rows["mask_size"].tolist(), rows["rle_blob"].tolist(), rows["rle_start"].tolist(),
                                     rows["rle_end"].tolist()):
                out.append({"size": size, "counts": blobs[k][a:b]})
        return out

    def records(self) -> Iterator[dict]:
        """The result records, one at a time: image_id, category_id, bbox (xywh), score[, segmentation (RLE, counts
        str)] — the dicts ``json.load`` of ``write_json``'s file gives back."""
        image_ids, category_ids, boxes, scores = self.columns()
        step = 4096  # detections turned into Python values at a time
        for a in range(0, len(image_ids), step):
            b = min(a + step, len(image_ids))
            rles = self.rles(np.arange(a, b)) if self._with_masks else None
            for j, (i, c, box, s) in enumerate(zip(image_ids[a:b].tolist(), category_ids[a:b].tolist(),
                                                   boxes[a:b].tolist(), scores[a:b].tolist())):
                rec = {"image_id": i, "category_id": c}
                if self.has_boxes:
                    rec["bbox"] = box
                rec["score"] = s
                if rles is not None:
                    rec["segmentation"] = {"size": rles[j]["size"], "counts": rles[j]["counts"].decode("ascii")}
                yield rec

    def write_json(self, path: str | os.PathLike) -> None:
        """The COCO/LVIS result json (a list of ``records``), written atomically one record at a time."""
        with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write("[")
            for k, rec in enumerate(self.records()):
                f.write((", " if k else "") + json.dumps(rec))
            f.write("]\n")


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


def lvis_api_order(results: DetectionResults, max_dets: int = LVIS_MAX_DETS) -> np.ndarray:
    """Indices of the detections the official lvis api evaluates, in its order (``LVISResults`` +
    ``LVISEval._prepare``).

    1. Per image (in order of first appearance), when it has more than ``max_dets`` detections, its ``max_dets``
       highest scores (a stable sort: ties keep the file order); images at or under the cap are left as they are.
    2. Then detections without a positive finite area are dropped: ``area`` = w·h of the ``bbox`` when there are
       boxes (also for segm, as lvis-api computes it), else the RLE mask area; ``get_ann_ids`` keeps only
       0 < area < inf. So a zero-area box still takes one of the ``max_dets`` places.
    hotcoco keeps zero-area detections, which changes AP (they are false positives there). Ground truth: see
    ``_lvis_api_gt``.
    """
    image_ids, _, boxes, scores = results.columns()
    n = len(image_ids)
    if n == 0:
        return np.zeros(0, np.int64)
    _, first, image_index = np.unique(image_ids, return_index=True, return_inverse=True)
    appearance = np.argsort(np.argsort(first))[image_index]  # the image's rank in order of first appearance
    count = np.bincount(image_index)[image_index]
    capped = count > max_dets if max_dets >= 0 else np.zeros(n, bool)
    # by image, then (capped images only) by descending score, then file order: lexsort is stable, last key first
    order = np.lexsort((np.arange(n), np.where(capped, -scores, 0.0), appearance))
    if capped.any():
        group = appearance[order]
        rank = np.arange(n) - np.searchsorted(group, group)  # position inside its image
        order = order[rank < max_dets]
    if results.has_boxes:
        area = boxes[order, 2] * boxes[order, 3]
    else:
        from pycocotools import mask as mask_utils

        area = mask_utils.area(results.rles(order)).astype(np.float64) if len(order) else np.zeros(0)
    return order[(area > 0) & (area < math.inf)]


def lvis_api_results(results: list[dict], max_dets: int = LVIS_MAX_DETS) -> list[dict]:
    """The result records the official lvis api evaluates, in its order (``lvis_api_order`` on records)."""
    return [results[i] for i in lvis_api_order(DetectionResults.from_records(results), max_dets).tolist()]


def _positive_area(anns: list[dict]) -> list[dict]:
    """The ground truth the lvis api evaluates: ``get_ann_ids`` (with category ids, as ``LVISEval._prepare`` calls
    it) drops annotations without a positive finite area, which hotcoco would count as misses."""
    return [a for a in anns if 0 < a["area"] < math.inf]


LVIS_IMAGES_PER_UPDATE = 200  # images fed to hotcoco at a time: bounds the dicts alive (ground truth, RLEs) at once


def evaluate_lvis(gt_file: str, results: DetectionResults | list[dict], iou_types=("bbox", "segm"),
                  novel_cat_ids: set[int] = frozenset(), images_per_update: int = LVIS_IMAGES_PER_UPDATE) -> dict:
    """LVIS v1 federated AP exactly as the official lvis api computes it (hotcoco's LVIS-style evaluation on the
    detections the api keeps, ``lvis_api_order``): AP, AP50, APr/APc/APf, plus AP / AP50 averaged over the base and
    the novel classes of the split. ``results``: columns, or result records.

    Streamed: the ground truth is read once (by hotcoco, for every IoU type); per IoU type in turn, the images go
    to a ``hotcoco.StreamingEval`` ``images_per_update`` at a time, in image-id order as ``LVISEval`` takes them,
    each batch's detections as one (K, 7) array [image_id, x, y, w, h, score, category_id] in the api's order (row
    area = the box's, as the lvis api computes it for records with a bbox). Only one batch's ground-truth and RLE
    dicts, and one evaluator, exist at a time."""
    import hotcoco

    if not isinstance(results, DetectionResults):
        results = DetectionResults.from_records(results)
    iou_types = [t for t in iou_types if len(results) and (t != "segm" or results.has_masks)]
    if not iou_types:
        return {}
    gt = hotcoco.COCO(str(gt_file))
    categories = gt.load_cats(gt.get_cat_ids())
    order = lvis_api_order(results)  # at most LVIS_MAX_DETS per image: LVIS-style evaluation's own cap keeps all
    image_ids, category_ids, boxes, scores = results.columns()
    by_image = order[np.argsort(image_ids[order], kind="stable")]  # grouped by image id, api order inside
    sorted_ids = image_ids[by_image]
    gt_images = np.array(sorted(gt.get_img_ids()), np.int64)
    metrics = {}
    for iou_type in iou_types:  # one pass per IoU type: one evaluator's state alive at a time
        streaming = hotcoco.StreamingEval(categories, iou_type, lvis_style=True)
        # the batches' dicts hold no cycles: without collector passes, which would walk every object of the process
        with _gc_paused():
            for start in range(0, len(gt_images), images_per_update):
                batch = gt_images[start:start + images_per_update]
                lo, hi = np.searchsorted(sorted_ids, batch[0], "left"), np.searchsorted(sorted_ids, batch[-1], "right")
                sel = by_image[lo:hi][np.isin(sorted_ids[lo:hi], batch)]  # in api order per image
                rows = np.concatenate([image_ids[sel, None], boxes[sel], scores[sel, None], category_ids[sel, None]],
                                      axis=1).astype(np.float64)
                images = gt.load_imgs(batch.tolist())
                anns = _positive_area(gt.load_anns(gt.get_ann_ids(img_ids=batch.tolist())))
                if iou_type == "segm":
                    streaming.update(images, anns, rows, segmentation=results.rles(sel))
                else:
                    streaming.update(images, anns, rows)
        ev = streaming.finalize()
        del streaming
        with contextlib.redirect_stdout(io.StringIO()):
            ev.accumulate()
            ev.summarize()
        r = ev.get_results()
        metrics.update({f"{iou_type}_{k}": float(r[k]) for k in ("AP", "AP50", "APr", "APc", "APf")})
        split = _split_means(np.asarray(ev.eval["precision"]), list(ev.params.cat_ids), set(novel_cat_ids))
        metrics.update({f"{iou_type}_{k}": v for k, v in split.items()})
        del ev
    return metrics


COCO_OV_MAX_DETS = [100, 300, 1000]  # F-ViT's CocoDatasetOV.evaluate (mmdet's proposal_nums) instead of [1, 10, 100]


def evaluate_coco_ov(gt_file: str, results: DetectionResults | list[dict], novel_cat_ids: set[int]) -> dict:
    """pycocotools bbox AP/AP50 plus the OV-COCO headline: AP50 averaged over novel / base / all classes.

    As F-ViT: ``maxDets = [100, 300, 1000]``, so AP50 (``summarize`` reads ``maxDets[2]``) and the per-class AP50
    (the last entry) count up to 1000 detections per image and class, not 100; ``bbox_AP`` (``summarize``'s
    ``stats[0]`` uses its default 100, which both lists hold) still counts 100."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if isinstance(results, DetectionResults):
        results = list(results.records())
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


def run_inference(model, loader, label_to_cat: list[int], progress: bool = True) -> DetectionResults:
    """The model's detections on every batch of ``loader``, in original image pixels, as columns."""
    import torch
    from tqdm import tqdm

    from .modeling.postprocess import rescale_to_original

    model.eval()
    results = DetectionResults()
    with torch.no_grad():
        for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
            for det, image_id, size, orig in zip(model(batch), batch["image_ids"], batch["image_sizes"],
                                                 batch["orig_sizes"]):
                results.add_detections(rescale_to_original(det, size, orig), int(image_id), label_to_cat)
    return results
