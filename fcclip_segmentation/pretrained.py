"""``FCCLIP``: the segmenter with ``from_pretrained`` / ``save_pretrained`` / ``set_classes`` / ``predict`` / ``draw``.

    from fcclip_segmentation import FCCLIP
    model = FCCLIP.from_pretrained("outputs/demo/fcclip_segmentation/pretrained")
    model.set_classes(["red circle", "sky*", "grass,lawn*"])   # a trailing * marks a stuff class; ids=[…]
    result = model.predict("image.jpg")   # segments: id, label, category_id, label_name, score, isthing, area
    model.draw("image.jpg", result).save("out.png")
    other = model.predict("image.jpg", classes="cat;sky*")   # this call only: the model keeps its vocabulary
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from shared.pretrained import (ClassifierCache, PretrainedError, PretrainedMixin, Vocabulary, check_classes_list,
                               restore_config, to_rgb)
from shared.transforms import eval_input

from .builder import build_clip, text_classifier
from .config import FCCLIPConfig
from .data import training_class_names, training_thing_flags
from .modeling.ensemble import seen_classes
from .modeling.fcclip import FCCLIP as FCCLIPModule
from .modeling.fcclip import FCCLIPModelConfig
from .modeling.postprocess import panoptic_inference, semantic_labels


def split_stuff(names: Sequence[str]) -> tuple[list[str], torch.Tensor]:
    """FC-CLIP class strings with an optional trailing ``*`` (stuff) → (names without it, is_thing (K,) bool)."""
    clean = [",".join(s.strip().rstrip("*").strip() for s in n.split(",")) for n in names]
    return clean, torch.tensor([not n.strip().endswith("*") for n in names])


class FCCLIP(PretrainedMixin, FCCLIPModule):
    """The FC-CLIP module plus the user-facing API; ``model(batch)`` still runs the raw network.

    A class is "seen" (ensemble exponent α) when one of its synonyms is a synonym of a training class (the
    reference's exact rule), else "unseen" (β). ``image_size`` / ``test_pad``: the config's test preprocessing.
    """

    KIND = "fcclip"
    CARD_TITLE = "FC-CLIP open-vocabulary panoptic segmenter"
    PIPELINE_TAG = "image-segmentation"
    CARD_TAGS = ("fc-clip", "panoptic-segmentation", "semantic-segmentation")
    CARD_IMPORT = "from fcclip_segmentation import FCCLIP"

    def __init__(self, cfg: FCCLIPModelConfig, backbone, train_classes: Sequence[str], image_size: int,
                 test_pad: str = "mean"):
        super().__init__(cfg, backbone, len(train_classes))
        self.cfg_model = cfg
        self.train_classes = list(train_classes)
        self.image_size, self.test_pad = image_size, test_pad
        self.text_cache: str | None = "outputs/text_cache"
        self.category_ids: list[int] = []
        self.vocabulary: Vocabulary | None = None
        self._classifiers = ClassifierCache()

    # --- construction -------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, cfg: FCCLIPConfig, checkpoint: str | dict | None = None,
                    class_names: Sequence[str] | None = None):
        """From a training config and weights (``last.pt`` of ``fcclip_segmentation.train`` or a state dict in its
        layout; none: initial weights); the vocabulary is ``class_names`` or the training classes (stuff marked).

        The training classes come from ``data.train_class_names`` (else ``data.train_json``'s categories) without
        reading the training set; only the default vocabulary reads the training json, for its thing/stuff flags."""
        d = cfg.data
        train_names = training_class_names(d.train_class_names, d.train_json)
        if class_names is None:  # checked before the CLIP model loads
            is_thing = training_thing_flags(d.train_class_names, d.train_json, train_names)
            class_names = [n + ("" if t else "*") for n, t in zip(train_names, is_thing.tolist())]
        model = cls(cfg.model, build_clip(cfg.model), train_names, d.image_size, d.test_pad)
        if checkpoint is not None:
            model.load_trained(checkpoint)
        model.text_cache = cfg.text_cache
        model.eval()
        return model.set_classes(class_names)

    @classmethod
    def build_from_pretrained(cls, model_cfg: dict, extra: dict, backbone_included: bool):
        mc = restore_config(FCCLIPModelConfig, model_cfg, "config.json model")
        if backbone_included:
            mc.pretrained = None  # the CLIP weights are in model.safetensors: nothing to download or read
        train = check_classes_list(extra.get("train_classes"), "config.json train_classes")
        model = cls(mc, build_clip(mc), train, int(extra["image_size"]), extra.get("test_pad", "mean"))
        model.cfg_model.pretrained = model_cfg.get("pretrained")  # what a later save_pretrained records
        return model

    def pretrained_config(self) -> dict:
        classes = [n + ("" if t else "*") for n, t in zip(self.class_names, self.is_thing.tolist())]
        return {"image_size": self.image_size, "test_pad": self.test_pad, "train_classes": self.train_classes,
                "classes": classes, "category_ids": self.category_ids}

    def restore_vocabulary(self, config: dict) -> None:
        self.set_classes(check_classes_list(config.get("classes"), "config.json classes"), config.get("category_ids"))

    # --- vocabulary ---------------------------------------------------------------------------------------------
    def set_classes(self, classes: str | Sequence[str] | Vocabulary, ids: Sequence[int] | None = None) -> FCCLIP:
        """Set the vocabulary: ``["traffic light", "cat,kitty", "sky*"]`` (``,`` = synonyms, trailing ``*`` =
        stuff), ``"a;b,c;sky*"`` or ``"@classes.txt"``; ``ids``: each class's category id, which segments carry
        as ``category_id`` (default: the ``id:`` lines of an ``@`` file, else 1, 2, …). Text embeddings are cached
        per vocabulary. For one call only: ``predict(..., classes=...)``."""
        return super().set_classes(classes, ids)

    def build_classifier(self, classes: list[str]):
        names, is_thing = split_stuff(classes)
        clf = text_classifier(self, names, self.text_cache)
        return names, self.prepare_vocabulary(clf, is_thing, seen_classes(names, self.train_classes))

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        FCCLIPModule.set_vocabulary(self, *vocabulary.classifier)
        self.category_ids = list(vocabulary.category_ids)
        self.vocabulary = vocabulary

    # --- inference ----------------------------------------------------------------------------------------------
    def _predict_batch(self, images: list[np.ndarray], score_threshold: float | None,
                       vocabulary: Vocabulary) -> list[dict]:
        spec, device = self.backbone.spec, self.device
        inputs = [eval_input(im, self.image_size, spec.mean, spec.std, self.test_pad) for im in images]
        batch = {"images": torch.stack([x for x, _ in inputs]).to(device), "image_sizes": [s for _, s in inputs]}
        threshold = self.cfg.object_mask_threshold if score_threshold is None else score_threshold
        classes = vocabulary.classifier.to(device)
        out = []
        for o, im in zip(self(batch, classes), images):
            masks = F.interpolate(o["mask_logits"][None], size=im.shape[:2], mode="bilinear", align_corners=False)[0]
            pan, segs = panoptic_inference(o["probs"], masks, classes.is_thing, threshold, self.cfg.overlap_threshold)
            pan = pan.cpu().numpy()
            out.append({
                "panoptic": pan,
                "segments": [{"id": s["id"], "label": s["category"],
                              "category_id": vocabulary.category_ids[s["category"]],
                              "label_name": vocabulary.class_names[s["category"]].split(",")[0], "score": s["score"],
                              "isthing": bool(s["isthing"]), "area": int((pan == s["id"]).sum())} for s in segs],
                "semantic": semantic_labels(o["probs"], masks).cpu().numpy()})
        return out

    def draw(self, image: Any, result: dict) -> Image.Image:
        """The image with the panoptic segments coloured and labelled."""
        from shared.draw import draw_panoptic

        return draw_panoptic(Image.fromarray(to_rgb(image)), result)


def export_pretrained(module: FCCLIPModule, cfg: FCCLIPConfig, train_names: Sequence[str], is_thing: torch.Tensor,
                      out, category_ids: Sequence[int] | None = None, metrics: dict | None = None) -> None:
    """Save a trained FC-CLIP module (e.g. at the end of training) as a pretrained folder, sharing its CLIP; its
    vocabulary: the training classes with their thing/stuff flags and ``category_ids`` (default 1, 2, …);
    ``metrics``: the run's final evaluation, for the model card (with the training and evaluation data of ``cfg``)."""
    api = FCCLIP(cfg.model, module.backbone, train_names, cfg.data.image_size, cfg.data.test_pad)
    api.load_state_dict(module.state_dict())
    api.text_cache = cfg.text_cache
    api.to(next(module.parameters()).device).eval()
    d = cfg.data
    card = {"training_data": {"train_json": d.train_json, "train_png": d.train_png, "train_images": d.train_images,
                              "class names": d.train_class_names or "the train json's categories",
                              "evaluated on": d.val_json if d.val_task == "panoptic" else d.val_images},
            "run": {"steps": cfg.train.max_steps, "batch_size": cfg.train.batch_size, "out_dir": cfg.train.out_dir},
            "metrics": metrics or {}}
    api.set_classes([n + ("" if t else "*") for n, t in zip(train_names, is_thing.tolist())],
                    category_ids).save_pretrained(out, card=card)


__all__ = ["FCCLIP", "PretrainedError", "export_pretrained", "split_stuff"]
