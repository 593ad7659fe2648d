"""Evaluation glue for FC-CLIP: PQ/SQ/RQ with panopticapi's semantics (via hotcoco) and mIoU as detectron2's
SemSegEvaluator computes it."""
from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

import numpy as np

from shared.io import atomic_write_json, load_json


def panoptic_quality(gt_json: str | Path, pred_json: str | Path, gt_folder: str | Path,
                     pred_folder: str | Path) -> dict:
    """PQ, SQ, RQ for All / Things / Stuff (+ ``per_class``), exactly panopticapi's ``pq_compute``: a match needs
    IoU > 0.5 with the prediction's overlap with void left out of the union; crowd ground truth is not matched,
    and unmatched predictions that are more than half void or same-class crowd are not false positives.
    A group that averages over no class (no stuff classes, or none with a segment) has pq/sq/rq None and a
    ``reason`` (panopticapi would divide by zero).

    String image ids (Cityscapes, Mapillary Vistas, the reference's ADE20K) are renumbered consistently in both
    files first: hotcoco accepts integer ids only.
    """
    from hotcoco.panoptic import pq_compute

    with tempfile.TemporaryDirectory() as tmp:
        gt_json, pred_json = _integer_image_ids(Path(gt_json), Path(pred_json), Path(tmp))
        with contextlib.redirect_stdout(io.StringIO()):
            result = pq_compute(str(gt_json), str(pred_json), gt_folder=str(gt_folder), pred_folder=str(pred_folder))
        categories = None  # read only when a group is empty (the COCO json is large)
        for group, isthing in (("All", None), ("Things", True), ("Stuff", False)):
            if result[group]["n"] == 0:
                categories = categories or load_json(gt_json, "panoptic json")["categories"]
                result[group] = {"pq": None, "sq": None, "rq": None, "n": 0,
                                 "reason": _empty_group_reason(categories, isthing)}
    return result


def _empty_group_reason(categories: list[dict], isthing: bool | None) -> str:
    """Why a PQ group averages over no class: panopticapi divides by zero there, hotcoco reports −1; we say why."""
    kind = {None: "", True: "thing ", False: "stuff "}[isthing]
    if not any(isthing is None or bool(c.get("isthing", 0)) == isthing for c in categories):
        return f"the categories have no {kind}class"
    return f"no {kind}class has a ground-truth or predicted segment"


def _integer_image_ids(gt_json: Path, pred_json: Path, tmp: Path) -> tuple[Path, Path]:
    gt = load_json(gt_json, "panoptic json")
    ids = [im["id"] for im in gt.get("images", [])]
    if all(isinstance(i, int) and i >= 0 for i in ids):
        return gt_json, pred_json
    pred = load_json(pred_json, "panoptic prediction json")
    number = {i: n for n, i in enumerate(sorted(ids, key=str), 1)}
    out = []
    for data, path, name in ((gt, gt_json, "gt.json"), (pred, pred_json, "pred.json")):
        for im in data.get("images", []):
            im["id"] = number.get(im["id"], im["id"])
        for k, ann in enumerate(data.get("annotations", [])):
            if ann.get("image_id") not in number:
                raise ValueError(f"{path}: annotations[{k}] image_id {ann.get('image_id')!r} is not an image of "
                                 f"{gt_json}")
            ann["image_id"] = number[ann["image_id"]]
        atomic_write_json(tmp / name, data)
        out.append(tmp / name)
    return out[0], out[1]


class SemanticSegEvaluator:
    """Confusion-matrix mIoU as detectron2's ``SemSegEvaluator``: pixels labelled ``ignore_label`` in the ground
    truth are left out; a class without ground-truth pixels has IoU (and accuracy) NaN, also when it is predicted,
    and stays out of mIoU / fwIoU / mACC."""

    def __init__(self, num_classes: int, ignore_label: int = 255):
        self.num_classes, self.ignore_label = num_classes, ignore_label
        self.confusion = np.zeros((num_classes, num_classes), dtype=np.int64)  # [gt, pred]

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        if pred.shape != gt.shape:
            raise ValueError(f"prediction {pred.shape} and ground truth {gt.shape} differ in size")
        valid = gt != self.ignore_label
        g, p = gt[valid].astype(np.int64), pred[valid].astype(np.int64)
        if g.size and (g.max() >= self.num_classes or g.min() < 0):
            raise ValueError(f"ground-truth label {int(g.max())} outside [0, {self.num_classes}) and not "
                             f"the ignore label {self.ignore_label}")
        if p.size and (p.max() >= self.num_classes or p.min() < 0):
            raise ValueError(f"predicted label outside [0, {self.num_classes})")
        self.confusion += np.bincount(g * self.num_classes + p, minlength=self.num_classes**2).reshape(
            self.num_classes, self.num_classes)

    def compute(self) -> dict:
        c = self.confusion.astype(np.float64)
        tp, pos_gt, pos_pred = np.diag(c), c.sum(1), c.sum(0)
        union = pos_gt + pos_pred - tp
        has_gt = pos_gt > 0  # detectron2: iou_valid = acc_valid & (union > 0) = acc_valid
        iou = np.divide(tp, union, out=np.full_like(tp, np.nan), where=has_gt)
        acc = np.divide(tp, pos_gt, out=np.full_like(tp, np.nan), where=has_gt)
        total = pos_gt.sum()
        return {
            "mIoU": float(np.mean(iou[has_gt])) if has_gt.any() else float("nan"),
            "fwIoU": float(np.sum(iou[has_gt] * pos_gt[has_gt]) / total) if total else float("nan"),
            "mACC": float(np.mean(acc[has_gt])) if has_gt.any() else float("nan"),
            "pACC": float(tp.sum() / total) if total else float("nan"),
            "IoU": iou.tolist(),
        }
