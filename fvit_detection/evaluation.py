"""Evaluation on the ``data.val_*`` set: inference over (this rank's shard of) the dataset, results merged across
ranks, COCO / LVIS metrics (``builder.py`` builds the model and datasets)."""
from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import torch

from shared.engine import all_gather_objects
from shared.io import load_json

from .builder import build_dataset, novel_mask, set_vocabulary
from .config import FViTConfig
from .data import collate
from .metrics import DetectionResults, evaluate_coco_ov, evaluate_lvis, run_inference
from .modeling.detector import FViT


def evaluate(model: FViT, cfg: FViTConfig, rank: int = 0, world_size: int = 1, progress: bool = True):
    """Inference on (this rank's shard of) the val set, merged across ranks; returns (metrics, results: a
    ``DetectionResults``, written with ``results.write_json(path)``)."""
    ds = build_dataset(cfg, train=False, spec=model.backbone.spec)
    names = ds.class_names
    set_vocabulary(model, names, novel_mask(cfg.data.val_ann, names, cfg), cfg.text_cache)
    n = len(ds) if cfg.eval.max_images is None else min(len(ds), cfg.eval.max_images)
    shard = torch.utils.data.Subset(ds, list(range(rank, n, world_size)))
    loader = torch.utils.data.DataLoader(shard, batch_size=cfg.eval.batch_size, collate_fn=collate)
    device = next(model.parameters()).device
    label_to_cat = [c["id"] for c in ds.categories]
    results = run_inference(model, _on_device(loader, device), label_to_cat, progress)
    results = DetectionResults.merge(all_gather_objects(results))  # columns: compact to gather
    image_ids = {ds.images[i]["id"] for i in range(n)}
    metrics = {}
    if rank == 0:
        novel_ids = {c for c, nv in zip(label_to_cat, novel_mask(cfg.data.val_ann, names, cfg).tolist()) if nv}
        with _ground_truth(cfg.data.val_ann, image_ids if n < len(ds) else None) as gt:
            if cfg.data.format == "lvis":
                iou_types = tuple(cfg.eval.iou_types) if cfg.model.with_mask else ("bbox",)
                metrics = evaluate_lvis(gt, results, iou_types, novel_ids)
            else:
                metrics = evaluate_coco_ov(gt, results, novel_ids)
        metrics["num_images"] = n
    return metrics, results


def _on_device(loader, device):
    for batch in loader:
        yield {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


@contextlib.contextmanager
def _ground_truth(ann_file: str, image_ids: set[int] | None):
    """The ground-truth file, or (``image_ids``: for ``eval.max_images``) a temporary one restricted to those
    images, removed afterwards."""
    if image_ids is None:
        yield ann_file
        return
    data = load_json(ann_file)
    data["images"] = [im for im in data["images"] if im["id"] in image_ids]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in image_ids]
    with tempfile.TemporaryDirectory(prefix="fvit-eval-") as tmp:
        path = Path(tmp) / Path(ann_file).name
        path.write_text(json.dumps(data))
        yield str(path)
