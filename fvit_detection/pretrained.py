"""``FViT``: the detector with ``from_pretrained`` / ``save_pretrained`` / ``set_classes`` / ``predict`` / ``draw``.

    from fvit_detection import FViT
    model = FViT.from_pretrained("outputs/demo/fvit_detection/pretrained")
    model.set_classes(["red circle", "blue square,blue box"], ids=[3, 7])   # ids: default 1, 2, …
    result = model.predict("image.jpg", score_threshold=0.3)   # result["category_ids"]: [3|7, …] per box
    model.draw("image.jpg", result).save("out.png")            # detections scoring ≥ 0.3 (min_score=)
    other = model.predict("image.jpg", classes="cat;dog")      # this call only: the model keeps its vocabulary
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from PIL import Image

from shared.classes import normalize_name
from shared.draw import DETECTION_MIN_SCORE
from shared.pretrained import (ClassifierCache, PretrainedError, PretrainedMixin, Vocabulary, check_classes_list,
                               restore_config, to_rgb)
from shared.transforms import eval_input

from .builder import build_model, text_embeddings
from .config import FViTConfig
from .modeling.detector import FViT as FViTModule
from .modeling.detector import FViTModelConfig
from .modeling.postprocess import rescale_to_original


class FViT(PretrainedMixin, FViTModule):
    """The F-ViT module plus the user-facing API; ``model(batch)`` still runs the raw detector.

    Base classes (fusion exponent α) are those sharing a normalised synonym with ``train_classes``; the others
    are novel (β). ``image_size``: the long side the input is resized to (the config's ``data.image_size``).
    """

    KIND = "fvit"
    CARD_TITLE = "F-ViT open-vocabulary detector"
    PIPELINE_TAG = "object-detection"
    CARD_TAGS = ("f-vit", "object-detection", "instance-segmentation")
    CARD_IMPORT = "from fvit_detection import FViT"

    def __init__(self, cfg: FViTModelConfig, backbone, image_size: int, train_classes: Sequence[str]):
        super().__init__(cfg, backbone)
        self.cfg_model = cfg
        self.image_size = image_size
        self.train_classes = list(train_classes)
        self.class_names: list[str] = []
        self.category_ids: list[int] = []
        self.vocabulary: Vocabulary | None = None
        self.text_cache: str | None = "outputs/text_cache"
        self._classifiers = ClassifierCache()

    # --- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: FViTConfig, checkpoint: str | dict | None = None,
                    class_names: Sequence[str] | None = None):
        """From a training config and weights (``last.pt`` of ``fvit_detection.train`` or a state dict in its
        layout; none: initial weights); the vocabulary is ``class_names`` (ids 1, 2, …) or the training set's
        categories (with their ids)."""
        from shared.io import load_json

        cats = sorted(load_json(cfg.data.train_ann, "annotation json")["categories"], key=lambda c: c["id"])
        names = [c["name"] for c in cats]
        model = build_model(cfg, cls=cls, image_size=cfg.data.image_size, train_classes=base_classes(cfg, names))
        if checkpoint is not None:
            model.load_trained(checkpoint)
        model.text_cache = cfg.text_cache
        model.eval()
        if class_names:
            return model.set_classes(class_names)
        return model.set_classes(names, [c["id"] for c in cats])

    @classmethod
    def build_from_pretrained(cls, model_cfg: dict, extra: dict, backbone_included: bool):
        mc = restore_config(FViTModelConfig, model_cfg, "config.json model")
        if backbone_included:
            mc.pretrained = None  # the CLIP weights are in model.safetensors: nothing to download or read
        cfg = FViTConfig(model=mc)
        model = build_model(cfg, cls=cls, image_size=int(extra["image_size"]),
                            train_classes=check_classes_list(extra.get("train_classes"), "config.json train_classes"))
        model.cfg_model.pretrained = model_cfg.get("pretrained")  # what a later save_pretrained records
        return model

    def pretrained_config(self) -> dict:
        return {"image_size": self.image_size, "train_classes": self.train_classes, "classes": self.class_names,
                "category_ids": self.category_ids}

    def restore_vocabulary(self, config: dict) -> None:
        self.set_classes(check_classes_list(config.get("classes"), "config.json classes"), config.get("category_ids"))

    # --- vocabulary ---------------------------------------------------------------------------------------------
    def set_classes(self, classes: str | Sequence[str] | Vocabulary, ids: Sequence[int] | None = None) -> FViT:
        """Set the vocabulary: ``["traffic light", "cat,kitty"]`` (``,`` = synonyms), ``"a;b,c"`` or
        ``"@classes.txt"``; ``ids``: each class's category id, which results carry as ``category_ids`` (default:
        the ``id:`` lines of an ``@`` file, else 1, 2, …). Text embeddings are cached per vocabulary (in memory and
        in ``text_cache``). For one call only: ``predict(..., classes=...)``."""
        return super().set_classes(classes, ids)

    def build_classifier(self, classes: list[str]):
        train = {normalize_name(s) for c in self.train_classes for s in c.split(",")}
        novel = torch.tensor([not any(normalize_name(s) in train for s in n.split(",")) for n in classes])
        return classes, self.roi_heads.prepare_vocabulary(text_embeddings(self, classes, self.text_cache), novel)

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        heads = self.roi_heads
        heads.text_embeddings, heads.novel = vocabulary.classifier.to(heads.temperature.device)
        self.class_names, self.category_ids = list(vocabulary.class_names), list(vocabulary.category_ids)
        self.vocabulary = vocabulary

    # --- inference ----------------------------------------------------------------------------------------------
    def _predict_batch(self, images: list[np.ndarray], score_threshold: float | None,
                       vocabulary: Vocabulary) -> list[dict]:
        spec, device = self.backbone.spec, self.device
        inputs = [eval_input(im, self.image_size, spec.mean, spec.std) for im in images]
        sizes = [s for _, s in inputs]
        dets = self.detect(torch.stack([x for x, _ in inputs]).to(device), sizes,
                           vocabulary=vocabulary.classifier.to(device))
        out = []
        for det, im, size in zip(dets, images, sizes):
            r = rescale_to_original(det, size, im.shape[:2])
            if score_threshold is not None:
                keep = r["scores"] >= score_threshold
                r = {k: v[keep] for k, v in r.items()}
            r["category_ids"] = np.asarray(vocabulary.category_ids, np.int64)[r["labels"]]
            r["label_names"] = [vocabulary.class_names[int(k)].split(",")[0] for k in r["labels"]]
            out.append(r)
        return out

    def draw(self, image: Any, result: dict, min_score: float = DETECTION_MIN_SCORE) -> Image.Image:
        """The image with the masks, boxes and ``name score`` labels of the result's detections scoring at least
        ``min_score`` (default ``shared.draw.DETECTION_MIN_SCORE``; 0 draws all)."""
        from shared.draw import draw_detections

        return draw_detections(Image.fromarray(to_rgb(image)), result, min_score)


def base_classes(cfg: FViTConfig, names: list[str]) -> list[str]:
    """The classes of the training set that were trained on: all but the split's novel ones."""
    from .builder import novel_mask

    return [n for n, nv in zip(names, novel_mask(cfg.data.train_ann, names, cfg).tolist()) if not nv]


def export_pretrained(module: FViTModule, cfg: FViTConfig, class_names: Sequence[str], out,
                      category_ids: Sequence[int] | None = None, metrics: dict | None = None) -> None:
    """Save a trained detector module (e.g. at the end of training) as a pretrained folder, sharing its CLIP;
    ``class_names`` / ``category_ids``: the training set's categories (its novel classes stay novel); ``metrics``:
    the run's final evaluation, for the model card (with the training and evaluation data of ``cfg``)."""
    api = FViT(cfg.model, module.backbone, cfg.data.image_size, base_classes(cfg, list(class_names)))
    api.load_state_dict(module.state_dict())
    api.text_cache = cfg.text_cache
    d = cfg.data
    novel = d.novel_classes_file or f"LVIS frequency {d.novel_frequencies}"
    card = {"training_data": {"format": d.format, "train_ann": d.train_ann, "train_images": d.train_images,
                              "novel classes (held out)": novel, "evaluated on": d.val_ann},
            "run": {"steps": cfg.train.max_steps, "batch_size": cfg.train.batch_size, "out_dir": cfg.train.out_dir},
            "metrics": metrics or {}}
    api.to(next(module.parameters()).device).eval().set_classes(class_names, category_ids).save_pretrained(
        out, card=card)


__all__ = ["FViT", "PretrainedError", "export_pretrained"]
