"""Detection datasets (COCO / LVIS json) and batching."""
from .dataset import DetectionDataset, collate

__all__ = ["DetectionDataset", "collate"]
