"""The F-ViT config schema (one YAML per paper setting in ``configs/``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.engine import TrainConfig
from shared.engine.config import input_path

from .modeling.detector import FViTModelConfig


@dataclass
class DataConfig:
    """Annotation files and the open-vocabulary split.

    format: ``lvis`` (LVIS v1 json; images by coco_url) or ``coco`` (COCO instances json).
    Novel classes: the names in ``novel_classes_file`` (json list, OV-COCO) or, when unset, the categories whose
    LVIS ``frequency`` is in ``novel_frequencies`` (OV-LVIS: rare). Base/novel membership is data, not code.
    """

    format: Literal["lvis", "coco"] = "lvis"
    train_ann: str = input_path("data/lvis_v1/annotations/lvis_v1_train_ov.json")
    train_images: str = input_path("data/coco")
    val_ann: str = input_path("data/lvis_v1/annotations/lvis_v1_val.json")
    val_images: str = input_path("data/coco")
    novel_classes_file: str | None = input_path(None)
    novel_frequencies: list[str] = field(default_factory=lambda: ["r"])
    image_size: int = 896
    scale_range: tuple[float, float] = (0.1, 2.0)
    on_bad_record: Literal["error", "skip"] = "error"  # malformed records / missing image files: stop, or skip them


@dataclass
class EvalConfig:
    batch_size: int = 1
    max_images: int | None = None  # evaluate on the first N val images only (quick checks)
    iou_types: list[Literal["bbox", "segm"]] = field(default_factory=lambda: ["bbox", "segm"])


@dataclass
class FViTConfig:
    model: FViTModelConfig = field(default_factory=FViTModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    text_cache: str | None = "outputs/text_cache"
