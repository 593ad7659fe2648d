"""The evaluation sets of the FC-CLIP / ViTamin papers, laid out as the reference's ``$DETECTRON2_DATASETS``
(``datasets/README.md`` of Mask2Former / FC-CLIP), so ``--dataset NAME --data-root DIR`` finds existing copies.

Each entry becomes ``data.val_*`` config overrides; class names come from the shipped class-name files.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

CLASSNAMES = Path(__file__).parents[1] / "configs" / "classnames"


@dataclass(frozen=True)
class EvalDataset:
    """One evaluation set. Paths are relative to the data root; ``aliases`` are the reference's registered names."""

    task: str  # "panoptic" (PQ + mIoU [+ AP]) or "semantic" (mIoU only)
    images: str
    class_names: str  # file name in configs/classnames/
    panoptic_json: str | None = None
    panoptic_png: str | None = None
    instances_json: str | None = None  # COCO instances of the things, for mask/box AP
    sem_seg: str | None = None  # label maps (panoptic sets: optional; without it mIoU uses the panoptic PNGs)
    label_suffix: str = ".png"
    ignore_label: int = 255
    aliases: tuple[str, ...] = ()

    def overrides(self, root: str | Path) -> list[str]:
        """Config overrides; the optional files (a panoptic set's label maps, the instances json) only when present
        (without label maps mIoU is painted from the panoptic PNGs; without instances no AP)."""
        root = Path(root)

        def optional(rel: str | None) -> str:
            return str(root / rel) if rel and (root / rel).exists() else "null"

        out = [f"data.val_task={self.task}", f"data.val_images={root / self.images}",
               f"data.val_class_names={CLASSNAMES / self.class_names}", f"data.val_ignore_label={self.ignore_label}",
               f"data.val_label_suffix={self.label_suffix}", f"data.val_sem_seg={optional(self.sem_seg)}",
               f"data.val_instances={optional(self.instances_json)}"]
        if self.task == "panoptic":
            out += [f"data.val_json={root / self.panoptic_json}", f"data.val_png={root / self.panoptic_png}"]
        return out

    def required_paths(self, root: str | Path) -> list[Path]:
        rel = [self.images, self.panoptic_json, self.panoptic_png, self.sem_seg if self.task == "semantic" else None]
        return [Path(root) / p for p in rel if p]


ADE = "ADEChallengeData2016"
EVAL_DATASETS: dict[str, EvalDataset] = {
    "ade20k_150": EvalDataset(
        "panoptic", f"{ADE}/images/validation", "ade20k_150_with_prompt_eng.txt",
        panoptic_json=f"{ADE}/ade20k_panoptic_val.json", panoptic_png=f"{ADE}/ade20k_panoptic_val",
        instances_json=f"{ADE}/ade20k_instance_val.json", sem_seg=f"{ADE}/annotations_detectron2/validation",
        aliases=("openvocab_ade20k_panoptic_val", "ade20k_panoptic_val")),
    "coco": EvalDataset(
        "panoptic", "coco/val2017", "coco_panoptic_with_prompt_eng.txt",
        panoptic_json="coco/annotations/panoptic_val2017.json", panoptic_png="coco/panoptic_val2017",
        instances_json="coco/annotations/instances_val2017.json", sem_seg="coco/panoptic_semseg_val2017",
        aliases=("openvocab_coco_2017_val_panoptic_with_sem_seg",)),
    "cityscapes": EvalDataset(
        "panoptic", "cityscapes/leftImg8bit/val", "cityscapes_with_prompt_eng.txt",
        panoptic_json="cityscapes/gtFine/cityscapes_panoptic_val.json",
        panoptic_png="cityscapes/gtFine/cityscapes_panoptic_val", aliases=("openvocab_cityscapes_fine_panoptic_val",)),
    "mapillary_vistas": EvalDataset(
        "panoptic", "mapillary_vistas/validation/images", "mapillary_vistas_with_prompt_eng.txt",
        panoptic_json="mapillary_vistas/validation/panoptic/panoptic_2018.json",
        panoptic_png="mapillary_vistas/validation/panoptic", ignore_label=65,
        aliases=("openvocab_mapillary_vistas_panoptic_val",)),
    "ade20k_150_semantic": EvalDataset(
        "semantic", f"{ADE}/images/validation", "ade20k_150_with_prompt_eng.txt",
        sem_seg=f"{ADE}/annotations_detectron2/validation", aliases=("openvocab_ade20k_sem_seg_val",)),
    "ade20k_847": EvalDataset(
        "semantic", "ADE20K_2021_17_01/images_detectron2/validation", "ade20k_847_with_prompt_eng.txt",
        sem_seg="ADE20K_2021_17_01/annotations_detectron2/validation", label_suffix=".tif", ignore_label=65535,
        aliases=("openvocab_ade20k_full_sem_seg_val",)),
    "pascal_context_459": EvalDataset(
        "semantic", "pascal_ctx_d2/images/validation", "pascal_ctx_459_with_prompt_eng.txt",
        sem_seg="pascal_ctx_d2/annotations_ctx459/validation", label_suffix=".tif", ignore_label=65535,
        aliases=("openvocab_pascal_ctx459_sem_seg_val",)),
    "pascal_context_59": EvalDataset(
        "semantic", "pascal_ctx_d2/images/validation", "pascal_ctx_59_with_prompt_eng.txt",
        sem_seg="pascal_ctx_d2/annotations_ctx59/validation", aliases=("openvocab_pascal_ctx59_sem_seg_val",)),
    "pascal_voc_21": EvalDataset(
        "semantic", "pascal_voc_d2/images/validation", "pascal_voc_21_with_prompt_eng.txt",
        sem_seg="pascal_voc_d2/annotations_pascal21/validation", aliases=("openvocab_pascal21_sem_seg_val",)),
    "pascal_voc_20": EvalDataset(
        "semantic", "pascal_voc_d2/images/validation", "pascal_voc_20_with_prompt_eng.txt",
        sem_seg="pascal_voc_d2/annotations_pascal20/validation", aliases=("openvocab_pascal20_sem_seg_val",)),
}


def default_data_root() -> str:
    """``$DETECTRON2_DATASETS`` (the reference's variable) or ``data``."""
    return os.environ.get("DETECTRON2_DATASETS", "data")


def find_dataset(name: str) -> EvalDataset:
    for key, ds in EVAL_DATASETS.items():
        if name == key or name in ds.aliases:
            return ds
    raise ValueError(f"unknown dataset {name!r}; known: {', '.join(EVAL_DATASETS)} (or the reference's "
                     f"openvocab_* names)")


def dataset_overrides(name: str, root: str | Path | None = None) -> list[str]:
    """``data.val_*`` overrides for a registered set under ``root``; a clear error when its files are absent."""
    ds, root = find_dataset(name), Path(root or default_data_root())
    missing = [str(p) for p in ds.required_paths(root) if not p.exists()]
    if missing:
        raise FileNotFoundError(f"dataset {name!r} under data root {root}: missing {', '.join(missing)} "
                                f"(set --data-root or $DETECTRON2_DATASETS; see the README for preparation)")
    return ds.overrides(root)
