"""Config → model, vocabulary, datasets; shared by train / eval / predict (evaluation: ``evaluation.py``)."""
from __future__ import annotations

import warnings

import torch

from backbone import build_backbone
from backbone.text import build_text_classifier

from .config import FCCLIPConfig
from .data import PanopticDataset, SemanticSegDataset, training_class_names
from .modeling.ensemble import seen_classes
from .modeling.fcclip import FCCLIP, FCCLIPModelConfig


def build_dataset(cfg: FCCLIPConfig, train: bool, spec) -> PanopticDataset | SemanticSegDataset:
    """The training set (COCO panoptic) or the evaluation set named by ``data.val_*``."""
    d = cfg.data
    if train:
        return PanopticDataset(d.train_json, d.train_png, d.train_images, True, d.image_size, spec.mean, spec.std,
                               d.scale_range, d.train_class_names, on_bad_record=d.on_bad_record,
                               drop_emptied_segments=d.drop_emptied_segments)
    if d.val_task == "semantic":
        if not d.val_sem_seg or not d.val_class_names:
            raise ValueError("data.val_task=semantic needs data.val_sem_seg (label maps) and data.val_class_names")
        return SemanticSegDataset(d.val_images, d.val_sem_seg, d.val_class_names, d.image_size, spec.mean, spec.std,
                                  d.val_ignore_label, d.val_label_suffix, d.test_pad, d.on_bad_record)
    return PanopticDataset(d.val_json, d.val_png, d.val_images, False, d.image_size, spec.mean, spec.std,
                           d.scale_range, d.val_class_names, d.val_sem_seg, d.val_ignore_label, d.test_pad,
                           d.on_bad_record)


def build_model(cfg: FCCLIPConfig) -> tuple[FCCLIP, list[str]]:
    """The model and its training classes (their number sizes the criterion), read from ``data.train_class_names``
    or ``data.train_json``'s categories — never by building the training set (``data.vocabulary``)."""
    names = training_class_names(cfg.data.train_class_names, cfg.data.train_json)
    return FCCLIP(cfg.model, build_clip(cfg.model), len(names)), names


def build_clip(m: FCCLIPModelConfig):
    """The frozen CLIP backbone of the model config."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(m.backbone, pretrained=m.pretrained, mode=m.backbone_mode,
                              window_placement=m.window_placement, window_batch_size=m.window_batch_size,
                              reference_skip_pos_embed=m.reference_skip_pos_embed)


def text_classifier(model: FCCLIP, names: list[str], cache_dir: str | None):
    """The text classifier of ``names``: FC-CLIP's 14 prompts, max over synonyms."""
    return build_text_classifier(model.backbone, names, templates="fcclip", reduce="max", cache_dir=cache_dir)


def set_vocabulary(model: FCCLIP, names: list[str], is_thing: torch.Tensor, train_names: list[str],
                   cache_dir: str | None) -> None:
    """The model's own vocabulary: ``text_classifier`` of ``names``; "seen" = a synonym shared with the training
    vocabulary."""
    model.set_vocabulary(text_classifier(model, names, cache_dir), is_thing, seen_classes(names, train_names))
