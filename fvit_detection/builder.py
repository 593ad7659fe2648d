"""Config → model, vocabulary, datasets, evaluation; shared by train / eval / predict."""
from __future__ import annotations

import contextlib
import json
import tempfile
import warnings
from pathlib import Path

import torch

from backbone import build_backbone
from backbone.text import build_text_classifier
from shared.engine import all_gather_objects
from shared.io import load_json

from .config import FViTConfig
from .data import DetectionDataset, collate
from .metrics import DetectionResults, evaluate_coco_ov, evaluate_lvis, run_inference
from .modeling.detector import FViT, FViTModelConfig


def backbone_options(m: FViTModelConfig) -> dict:
    """The ``BackboneOptions`` the detector's config selects (sliding windows; placement; pos-embed handling)."""
    return dict(mode="sliding", window_stride=m.window_stride, window_placement=m.window_placement,
                window_batch_size=m.window_batch_size, reference_skip_pos_embed=m.reference_skip_pos_embed)


def build_model(cfg: FViTConfig, cls: type[FViT] = FViT, **kwargs) -> FViT:
    """The detector (``cls``: ``FViT`` or a subclass such as the pretrained API, with its extra ``kwargs``)."""
    m = cfg.model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(m.backbone, pretrained=m.pretrained, **backbone_options(m))
    return cls(m, bb, **kwargs)


def novel_mask(ann_file: str, class_names: list[str], cfg: FViTConfig) -> torch.Tensor:
    """(C,) bool: novel classes of the split, from the names file or from LVIS frequencies."""
    if cfg.data.novel_classes_file:
        novel = set(load_json(cfg.data.novel_classes_file, "novel class list"))
        unknown = novel - set(class_names)
        if unknown:
            raise ValueError(f"{cfg.data.novel_classes_file}: classes not in {ann_file}: {sorted(unknown)[:5]}")
        return torch.tensor([n in novel for n in class_names])
    cats = sorted(load_json(ann_file, "annotation json")["categories"], key=lambda c: c["id"])
    return torch.tensor([c.get("frequency") in cfg.data.novel_frequencies for c in cats])


def set_vocabulary(model: FViT, class_names: list[str], novel: torch.Tensor, cache_dir: str | None) -> None:
    """Text embeddings of ``class_names`` (+ "background" last) with F-ViT's 63 prompts, averaged over synonyms."""
    clf = build_text_classifier(model.backbone, class_names, templates="fvit", reduce="mean", background=True,
                                cache_dir=cache_dir)
    model.roi_heads.set_vocabulary(clf.weight, novel)


def build_dataset(cfg: FViTConfig, train: bool, spec) -> DetectionDataset:
    d = cfg.data
    return DetectionDataset(d.train_ann if train else d.val_ann, d.train_images if train else d.val_images,
                            train=train, size=d.image_size, mean=spec.mean, std=spec.std,
                            with_masks=cfg.model.with_mask and train, scale_range=d.scale_range,
                            on_bad_record=d.on_bad_record)


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
