"""The FC-CLIP config schema (one YAML per paper setting in ``configs/``)."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.engine import TrainConfig

from .modeling.fcclip import FCCLIPModelConfig


@dataclass
class DataConfig:
    """COCO-panoptic json + PNG folder + image folder per split, class-name files with synonyms.

    ``val_instances``: optional COCO instances json of the val things, for mask/box AP.
    """

    train_json: str = "data/coco/annotations/panoptic_train2017.json"
    train_png: str = "data/coco/panoptic_train2017"
    train_images: str = "data/coco/train2017"
    train_class_names: str | None = "fcclip_segmentation/configs/classnames/coco_panoptic_with_prompt_eng.txt"
    val_json: str = "data/ADEChallengeData2016/ade20k_panoptic_val.json"
    val_png: str = "data/ADEChallengeData2016/ade20k_panoptic_val"
    val_images: str = "data/ADEChallengeData2016/images/validation"
    val_class_names: str | None = "fcclip_segmentation/configs/classnames/ade20k_150_with_prompt_eng.txt"
    val_instances: str | None = None
    image_size: int = 1344
    scale_range: tuple[float, float] = (0.1, 2.0)


@dataclass
class EvalConfig:
    batch_size: int = 1
    max_images: int | None = None
    tasks: list[str] = field(default_factory=lambda: ["panoptic", "semantic", "instance"])


@dataclass
class FCCLIPConfig:
    model: FCCLIPModelConfig = field(default_factory=FCCLIPModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    text_cache: str | None = "outputs/text_cache"
