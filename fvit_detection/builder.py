"""Config → model, vocabulary, datasets; shared by train / eval / predict (evaluation: ``evaluation.py``)."""
from __future__ import annotations

import warnings

import torch

from backbone import build_backbone
from backbone.text import build_text_classifier
from shared.engine.config import resolve_input_path
from shared.io import load_json

from .config import FViTConfig
from .data import DetectionDataset
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
        novel = set(load_json(resolve_input_path(cfg.data.novel_classes_file),  # also for configs built in code
                              "novel class list (data.novel_classes_file)"))
        unknown = novel - set(class_names)
        if unknown:
            raise ValueError(f"{cfg.data.novel_classes_file}: classes not in {ann_file}: {sorted(unknown)[:5]}")
        return torch.tensor([n in novel for n in class_names])
    cats = sorted(load_json(ann_file, "annotation json")["categories"], key=lambda c: c["id"])
    return torch.tensor([c.get("frequency") in cfg.data.novel_frequencies for c in cats])


def text_embeddings(model: FViT, class_names: list[str], cache_dir: str | None) -> torch.Tensor:
    """(C+1, D): text embeddings of ``class_names`` (+ "background" last) with F-ViT's 63 prompts, averaged over
    synonyms."""
    return build_text_classifier(model.backbone, class_names, templates="fvit", reduce="mean", background=True,
                                 cache_dir=cache_dir).weight


def set_vocabulary(model: FViT, class_names: list[str], novel: torch.Tensor, cache_dir: str | None) -> None:
    """The model's own vocabulary: ``text_embeddings`` of ``class_names`` and their novel flags (C,)."""
    model.roi_heads.set_vocabulary(text_embeddings(model, class_names, cache_dir), novel)


def build_dataset(cfg: FViTConfig, train: bool, spec) -> DetectionDataset:
    d = cfg.data
    return DetectionDataset(d.train_ann if train else d.val_ann, d.train_images if train else d.val_images,
                            train=train, size=d.image_size, mean=spec.mean, std=spec.std,
                            with_masks=cfg.model.with_mask and train, scale_range=d.scale_range,
                            on_bad_record=d.on_bad_record)
