"""COCO-panoptic datasets and class-name files for FC-CLIP."""
from .dataset import PanopticDataset, collate, read_class_names

__all__ = ["PanopticDataset", "collate", "read_class_names"]
