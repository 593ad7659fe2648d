"""The FC-CLIP config schema (one YAML per paper setting in ``configs/``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shared.engine import TrainConfig
from shared.engine.config import input_path

from .modeling.fcclip import FCCLIPModelConfig


@dataclass
class DataConfig:
    """COCO-panoptic json + PNG folder + image folder per split, class-name files with synonyms.

    Training vocabulary: the classes of ``train_class_names`` (index order), else ``train_json``'s categories; it is
    read without the training set, so evaluation needs none (``data/vocabulary.py``). Relative paths: below the
    working directory, else below the code root for the shipped files (``fcclip_segmentation/configs/classnames/…``,
    found from any directory): ``shared.engine.config.resolve_input_path``.

    Evaluation set: ``val_task`` "panoptic" (json + PNGs: PQ, mIoU, and mask/box AP when ``val_instances`` — a COCO
    instances json of the things — is given) or "semantic" (``val_images`` + label maps in ``val_sem_seg``: mIoU).
    ``val_sem_seg`` for a panoptic set: label maps for mIoU instead of painting them from the panoptic PNGs.
    ``python -m fcclip_segmentation.eval --dataset NAME`` fills these fields for the registered sets.
    """

    train_json: str = input_path("data/coco/annotations/panoptic_train2017.json")
    train_png: str = input_path("data/coco/panoptic_train2017")
    train_images: str = input_path("data/coco/train2017")
    train_class_names: str | None = input_path(
        "fcclip_segmentation/configs/classnames/coco_panoptic_with_prompt_eng.txt")
    val_json: str = input_path("data/ADEChallengeData2016/ade20k_panoptic_val.json")
    val_png: str = input_path("data/ADEChallengeData2016/ade20k_panoptic_val")
    val_images: str = input_path("data/ADEChallengeData2016/images/validation")
    val_class_names: str | None = input_path(
        "fcclip_segmentation/configs/classnames/ade20k_150_with_prompt_eng.txt")
    val_instances: str | None = input_path(None)
    val_task: Literal["panoptic", "semantic"] = "panoptic"
    val_sem_seg: str | None = input_path(None)
    val_label_suffix: str = ".png"
    val_ignore_label: int = 255
    test_pad: Literal["mean", "black"] = "mean"  # "black": the reference ViTamin path (pads before normalising)
    image_size: int = 1344
    scale_range: tuple[float, float] = (0.1, 2.0)
    drop_emptied_segments: bool = False  # true: drop training segments the LSJ crop empties (the reference keeps them)
    on_bad_record: Literal["error", "skip"] = "error"  # malformed records / missing files: stop, or skip them


@dataclass
class EvalConfig:
    batch_size: int = 1
    max_images: int | None = None
    tasks: list[Literal["panoptic", "semantic", "instance"]] = field(default_factory=lambda: ["panoptic", "semantic", "instance"])


@dataclass
class OptimizerConfig:
    """Parameter groups of FC-CLIP's ``build_optimizer`` with detectron2's defaults: every trainable parameter gets
    ``train.weight_decay`` and ``train.lr``, except parameters of normalisation layers (``weight_decay_norm``) and of
    ``nn.Embedding`` modules (``weight_decay_embed``: queries, the decoder's level embedding, the void embedding),
    and parameters of modules named ``*backbone*`` (lr × ``backbone_lr_multiplier``). ``no_weight_decay``: further
    parameter names without weight decay — the reference has none (its learned ``logit_scale`` and the position
    compensation maps are decayed); e.g. ``[logit_scale]``."""

    backbone_lr_multiplier: float = 0.1  # SOLVER.BACKBONE_MULTIPLIER
    weight_decay_norm: float = 0.0  # SOLVER.WEIGHT_DECAY_NORM
    weight_decay_embed: float = 0.0  # SOLVER.WEIGHT_DECAY_EMBED
    no_weight_decay: list[str] = field(default_factory=list)


@dataclass
class FCCLIPConfig:
    model: FCCLIPModelConfig = field(default_factory=FCCLIPModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    text_cache: str | None = "outputs/text_cache"
