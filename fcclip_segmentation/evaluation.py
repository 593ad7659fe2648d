"""Evaluation on the ``data.val_*`` set: inference over (this rank's shard of) the dataset, panoptic PNG + json
predictions, results merged across ranks, PQ / mIoU / mask and box AP (``builder.py`` builds the model and
datasets)."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from shared.engine import all_gather_objects
from shared.formats.coco import mask_to_rle
from shared.formats.panoptic import id_to_rgb
from shared.io import atomic_path, atomic_write_json

from .builder import build_dataset, set_vocabulary
from .config import FCCLIPConfig
from .data import PanopticDataset, collate
from .metrics import SemanticSegEvaluator, panoptic_quality
from .modeling.fcclip import FCCLIP
from .modeling.postprocess import instance_inference, panoptic_inference, semantic_labels


def evaluate(model: FCCLIP, cfg: FCCLIPConfig, train_names: list[str], out_dir: Path, rank: int = 0,
             world_size: int = 1, progress: bool = True) -> dict:
    """On the ``data.val_*`` set: panoptic PNG + json predictions and PQ/SQ/RQ, mIoU, and (with
    ``data.val_instances``) mask/box AP; a semantic-only set gives mIoU. ``cfg.eval.tasks`` selects among them."""
    from tqdm import tqdm

    ds = build_dataset(cfg, train=False, spec=model.backbone.spec)
    panoptic_set = isinstance(ds, PanopticDataset)
    tasks = set(cfg.eval.tasks) if panoptic_set else {"semantic"}
    set_vocabulary(model, ds.class_names, ds.is_thing, train_names, cfg.text_cache)
    n = len(ds) if cfg.eval.max_images is None else min(len(ds), cfg.eval.max_images)
    if "instance" in tasks and cfg.data.val_instances:  # pycocotools would refuse it only after the inference
        check_instances_json(cfg.data.val_instances, [r["image"] for r in ds.records[:n]],
                             [c for c in ds.categories if c.get("isthing")])
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, list(range(rank, n, world_size))),
                                         batch_size=cfg.eval.batch_size, collate_fn=collate)
    pred_dir = out_dir / "panoptic_pred"
    if "panoptic" in tasks:
        pred_dir.mkdir(parents=True, exist_ok=True)
    semantic = SemanticSegEvaluator(len(ds.class_names), cfg.data.val_ignore_label)
    label_to_cat = [c["id"] for c in ds.categories] if panoptic_set else []
    annotations, instances = [], []
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for batch in tqdm(loader, desc="eval", disable=not progress, leave=False):
            batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
            for out, image_id, (oh, ow), fname, sem_gt in zip(model(batch), batch["image_ids"], batch["orig_sizes"],
                                                              batch["file_names"], batch["sem_gts"]):
                masks = F.interpolate(out["mask_logits"][None], size=(oh, ow), mode="bilinear",
                                      align_corners=False)[0]
                probs = out["probs"]
                if "panoptic" in tasks:
                    pan, segs = panoptic_inference(probs, masks, model.is_thing, model.cfg.object_mask_threshold,
                                                   model.cfg.overlap_threshold)
                    png = Path(fname).stem + ".png"
                    with atomic_path(pred_dir / png, durable=False) as tmp:  # one per image: no fsync each
                        Image.fromarray(id_to_rgb(pan.cpu().numpy())).save(tmp, format="PNG")
                    annotations.append({"image_id": image_id, "file_name": png, "segments_info": [
                        {"id": s["id"], "category_id": label_to_cat[s["category"]], "isthing": int(s["isthing"]),
                         "iscrowd": 0, "area": int((pan == s["id"]).sum())} for s in segs]})
                if "semantic" in tasks:
                    try:
                        semantic.update(semantic_labels(probs, masks).cpu().numpy(), sem_gt)
                    except ValueError as e:
                        raise ValueError(f"semantic ground truth of {fname}: {e}") from None
                if "instance" in tasks and cfg.data.val_instances:
                    inst = instance_inference(probs, masks, model.is_thing, model.cfg.test_topk)
                    for k in range(len(inst["scores"])):
                        x0, y0, x1, y1 = inst["boxes"][k].tolist()
                        instances.append({"image_id": image_id, "category_id": label_to_cat[int(inst["labels"][k])],
                                          "score": float(inst["scores"][k]), "bbox": [x0, y0, x1 - x0, y1 - y0],
                                          "segmentation": mask_to_rle(inst["masks"][k].cpu().numpy())})
    annotations = [a for part in all_gather_objects(annotations) for a in part]
    instances = [r for part in all_gather_objects(instances) for r in part]
    confusions = all_gather_objects(semantic.confusion)
    metrics: dict = {}
    if rank != 0:
        return metrics
    metrics["num_images"] = n
    if "panoptic" in tasks:
        predicted = {a["image_id"] for a in annotations}
        images = [r["image"] for r in ds.records if r["image"]["id"] in predicted]
        pred_json = out_dir / "panoptic_pred.json"
        atomic_write_json(pred_json, {"images": images, "annotations": annotations, "categories": ds.categories})
        with tempfile.TemporaryDirectory(prefix="fcclip-eval-") as tmp:  # eval.max_images: no file left behind
            gt_json = cfg.data.val_json if n == len(ds) else _subset_json(cfg.data.val_json, images, Path(tmp))
            pq = panoptic_quality(gt_json, pred_json, cfg.data.val_png, pred_dir)
        for group in ("All", "Things", "Stuff"):
            for k in ("pq", "sq", "rq"):  # None (json null) for a group without classes, with the reason
                v = pq[group][k]
                metrics[f"{k.upper()}_{group.lower()}"] = None if v is None else float(v)
            if "reason" in pq[group]:
                metrics[f"PQ_{group.lower()}_reason"] = pq[group]["reason"]
    if "semantic" in tasks:
        semantic.confusion = sum(confusions)
        sem = semantic.compute()
        metrics.update({k: sem[k] for k in ("mIoU", "fwIoU", "mACC", "pACC")})
        # a list in label order: first synonyms repeat in A-847 ("bag", "pot", …)
        metrics["IoU_per_class"] = [{"label": i, "name": name.split(",")[0], "IoU": None if np.isnan(iou) else iou}
                                    for i, (name, iou) in enumerate(zip(ds.class_names, sem["IoU"]))]
    if instances:
        metrics.update(_instance_ap(cfg.data.val_instances, instances))
    return metrics


def check_instances_json(path: str, images: list[dict], thing_categories: list[dict]) -> None:
    """``DatasetError`` (naming ``data.val_instances``, the file and what is missing) unless the COCO instances json
    at ``path`` holds every evaluated image (by id) and every thing category of the panoptic set (by id), and an
    ``annotations`` list: the ground truth of mask / box AP must be the panoptic set's own objects."""
    from shared.formats.validate import DatasetError
    from shared.ground_truth import GroundTruth

    gt = GroundTruth(path, "data.val_instances")
    where = f"data.val_instances {path}"
    ids = {im["id"] for im in gt.images.values()}
    missing = [im["id"] for im in images if im["id"] not in ids]
    if missing:
        raise DatasetError(f"{where}: {len(missing)} of the {len(images)} evaluated images are not in its images, "
                           f"e.g. id {missing[0]!r} (a COCO instances json of the same images as data.val_json)")
    cat_ids = {c["id"] for c in gt.categories}
    absent = [f"{c['id']} ({c.get('name', '?')})" for c in thing_categories if c["id"] not in cat_ids]
    if absent:
        raise DatasetError(f"{where}: the thing categories {', '.join(absent[:5])}"
                           f"{' …' if len(absent) > 5 else ''} of data.val_json are not in its categories")
    if not gt.has_annotations:
        raise DatasetError(f"{where}: missing top-level list 'annotations' (a COCO instances json)")


def _subset_json(path: str, images: list[dict], out_dir: Path) -> Path:
    from shared.io import load_json

    data = load_json(path)
    ids = {im["id"] for im in images}
    data["images"] = [im for im in data["images"] if im["id"] in ids]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in ids]
    out = out_dir / "panoptic_gt_subset.json"
    atomic_write_json(out, data)
    return out


def _instance_ap(gt_file: str, results: list[dict]) -> dict:
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_file)
        dt = gt.loadRes(results)
        for iou_type in ("segm", "bbox"):
            ev = COCOeval(gt, dt, iou_type)
            ev.evaluate(), ev.accumulate(), ev.summarize()
            out[f"{iou_type}_AP"], out[f"{iou_type}_AP50"] = float(ev.stats[0]), float(ev.stats[1])
    return out
