"""The datasets' record layout as it was before records were packed (``shared.packed``), frozen for the side-by-side
memory benchmark (``benchmarks/dataset_memory.py``) and the equivalence tests: the same dataset classes (same
validation, same transforms) keeping the json's own dicts in Python lists and dicts, and building boxes, labels and
masks from them per sample. Not used by the packages: do not import it outside benchmarks/ and tests/."""
from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils

from fcclip_segmentation.data.dataset import PanopticDataset
from fvit_detection.data.dataset import DetectionDataset
from shared.transforms import Instances


class ListDetectionDataset(DetectionDataset):
    """``DetectionDataset`` keeping ``images`` (the json's image dicts) and ``anns`` ({image id: [(the json's
    annotation dict, clipped xyxy box list)]}), as before packing."""

    def _store(self, images: list[dict], anns: list[list[tuple[dict, list]]]) -> None:
        self.images = images
        self.anns = {im["id"]: a for im, a in zip(images, anns)}

    def _instances(self, idx: int, image: np.ndarray) -> Instances:
        anns = self.anns[self.images[idx]["id"]]
        boxes = np.array([b for _, b in anns], np.float32).reshape(-1, 4)
        labels = np.array([self.cat_to_label[a["category_id"]] for a, _ in anns], np.int64)
        masks = None
        if self.with_masks:
            h, w = image.shape[:2]
            masks = np.zeros((len(anns), h, w), bool)
            for i, (a, _) in enumerate(anns):
                seg = a["segmentation"]
                rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg, list) else (
                    {**seg, "counts": seg["counts"].encode()} if isinstance(seg.get("counts"), str) else seg)
                m = mask_utils.decode(rle)
                masks[i] = (m.max(axis=2) if m.ndim == 3 else m) > 0
        return Instances(image, boxes, labels, masks)


class ListPanopticDataset(PanopticDataset):
    """``PanopticDataset`` keeping ``records`` as the Python list ``load_panoptic_json`` returns, as before packing."""

    def _store(self, records: list[dict]) -> None:
        self.records = records
