"""COCO-instances / LVIS-v1 json → training or test samples for F-ViT."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from pycocotools import mask as mask_utils

from shared.formats.images import image_file
from shared.formats.validate import (DatasetError, RecordProblems, area_problem, bbox_problem, check_categories,
                                     is_finite_number)
from shared.image import read_image
from shared.io import load_json
from shared.packed import PackedList
from shared.transforms import Instances, large_scale_jitter, normalize_and_pad, pad_masks, resize_long_side

log = logging.getLogger(__name__)


def _image_record(im: dict) -> dict:
    """What samples and evaluation read of a json image: id, height, width and the field naming its file."""
    field = image_file(im)[1]
    return {"id": im["id"], "height": im["height"], "width": im["width"], field: im[field]}


class DetectionDataset(torch.utils.data.Dataset):
    """Images and boxes (+ masks) of a COCO or LVIS json; labels are positions in category-id order.

    Training drops crowd boxes, boxes of zero area and boxes fully outside the image (counted in ``skipped`` and
    logged), clips the rest, and — as the reference — drops images left with no annotation. Images are found as the
    real layouts name them (``shared.formats.images``): COCO ``<image_root>/<file_name>`` (image_root = the split
    folder, ``coco/val2017``), LVIS v1 ``<image_root>/<split>/<name>`` from ``coco_url`` (image_root = ``coco``).

    Every record is checked when the dataset is built, in one pass (``shared.formats.validate``): categories (integer,
    unique ids), images (id, positive width/height, the file exists), annotations (known image and category, bbox of
    four finite numbers, w/h >= 0, a segmentation when masks are trained). ``on_bad_record="error"`` raises a
    ``DatasetError`` listing the first 20 problems; ``"skip"`` leaves bad records out (``skipped["bad_record"]``).

    Kept (``shared.packed.PackedList``, one byte buffer each, shared by forked DataLoader workers rather than copied
    into each): ``images[i]`` (id, height, width, ``file_name`` or ``coco_url``) and ``annotations(i)`` (ids, boxes,
    labels, segmentations) of the kept images in image-id order; not the json's dicts.
    """

    def __init__(self, ann_file: str | Path, image_root: str | Path, train: bool, size: int, mean, std,
                 with_masks: bool = False, scale_range: tuple[float, float] = (0.1, 2.0), on_bad_record: str = "error"):
        self.ann_file, self.image_root = Path(ann_file), Path(image_root)
        self.scale_range = tuple(scale_range)
        self.train, self.size, self.mean, self.std, self.with_masks = train, size, mean, std, with_masks
        data = load_json(self.ann_file, "annotation json")
        for key in ("images", "annotations", "categories"):
            if not isinstance(data, dict) or key not in data:
                raise DatasetError(f"{self.ann_file}: missing top-level field {key!r}")
        check_categories(data["categories"], self.ann_file)
        self.categories = sorted(data["categories"], key=lambda c: c["id"])
        self.cat_to_label = {c["id"]: i for i, c in enumerate(self.categories)}
        self.class_names = [c["name"] for c in self.categories]
        problems = RecordProblems(self.ann_file, on_bad_record)
        images = self._check_images(data["images"], problems)
        bad_images = {im.get("id") for im in data["images"] if isinstance(im, dict)} - set(images)
        self.skipped: Counter = Counter()
        per_image: dict[int, list] = {i: [] for i in images}
        for k, a in enumerate(data["annotations"]):
            if not self._check_annotation(k, a, images, bad_images, problems):
                continue
            if a.get("iscrowd", 0):
                self.skipped["crowd"] += 1
                continue
            im = images[a["image_id"]]
            x, y, w, h = a["bbox"]
            x0, y0 = max(x, 0.0), max(y, 0.0)
            x1, y1 = min(x + w, im["width"]), min(y + h, im["height"])
            if w <= 0 or h <= 0:
                self.skipped["zero_area_box"] += 1
                continue
            if x1 <= x0 or y1 <= y0:
                self.skipped["box_outside_image"] += 1
                continue
            per_image[a["image_id"]].append((a, [x0, y0, x1, y1]))
        if problems.finish():
            self.skipped["bad_record"] = problems.num_bad
        ids = sorted(images)
        if train:
            empty = [i for i in ids if not per_image[i]]
            if empty:  # a zero count would make the warning below say "skipped" with nothing skipped
                self.skipped["image_without_annotations"] = len(empty)
            ids = [i for i in ids if per_image[i]]
        if not ids:
            raise DatasetError(f"{self.ann_file}: no usable images (skipped: {dict(self.skipped)})")
        if self.skipped:
            log.warning("%s: skipped %s", self.ann_file, dict(self.skipped))
        self._store([images[i] for i in ids], [per_image[i] for i in ids])

    def _store(self, images: list[dict], anns: list[list[tuple[dict, list]]]) -> None:
        """Keep, per kept image, its record and its annotations (json dict, clipped xyxy box) as two packed lists
        (``shared.packed``: shared by forked DataLoader workers instead of copied into each) of only what samples
        use: the image's id, height, width and the field naming its file; boxes (n, 4) float32, labels (n,) int64,
        annotation ids and — when masks are trained — segmentations."""
        self.images = PackedList(_image_record(im) for im in images)
        self._annotations = PackedList(self._annotation_record(a) for a in anns)

    def _annotation_record(self, anns: list[tuple[dict, list]]) -> dict:
        rec = {"ids": [a.get("id") for a, _ in anns],
               "boxes": np.array([b for _, b in anns], np.float32).reshape(-1, 4),
               "labels": np.array([self.cat_to_label[a["category_id"]] for a, _ in anns], np.int64)}
        if self.with_masks:
            rec["segmentations"] = [a["segmentation"] for a, _ in anns]
        return rec

    def annotations(self, idx: int) -> dict:
        """Image ``idx``'s kept annotations in json order: ``ids`` (the json's annotation ids, None where absent),
        ``boxes`` (n, 4) float32 xyxy clipped to the image, ``labels`` (n,) int64 positions in category-id order,
        and with masks ``segmentations`` (the json's polygons or RLEs). A fresh copy on every call."""
        return self._annotations[idx]

    def _check_images(self, records: list, problems: RecordProblems) -> dict[int, dict]:
        """{id: image} of the well-formed image records whose file exists (a stat, no decode)."""
        images: dict[int, dict] = {}
        tried, missing = 0, []
        for i, im in enumerate(records):
            where = f"images[{i}] (id {im.get('id') if isinstance(im, dict) else None})"
            if not isinstance(im, dict):
                problems.add(("image", i), where, "record", "is not an object")
                continue
            if not isinstance(im.get("id"), int) or isinstance(im.get("id"), bool):
                problems.add(("image", i), where, "id", f"{im.get('id')!r} is not an integer")
            elif im["id"] in images:
                problems.add(("image", i), where, "id", f"{im['id']} is used by another image")
            for key in ("width", "height"):
                if not (is_finite_number(im.get(key)) and im[key] > 0):
                    problems.add(("image", i), where, key, f"{im.get(key)!r} is not a positive number")
            try:
                rel, field = image_file(im)
            except ValueError as e:
                problems.add(("image", i), where, "", f"image {e}")
            else:
                tried += 1
                if not (self.image_root / rel).is_file():
                    missing.append((self.image_root / rel, field, im[field]))
                    problems.add(("image", i), where, field,
                                 f"{im[field]!r}: image file not found: {self.image_root / rel}")
            if not problems.bad(("image", i)):
                images[im["id"]] = im
        if tried and len(missing) == tried:  # skipping would drop every image: the layout is wrong, say so
            path, field, value = missing[0]
            raise DatasetError(
                f"{self.ann_file}: none of its {tried} image files is under the image folder {self.image_root} "
                f"(e.g. {path}, from {field} {value!r}): the folder does not fit this json's layout. COCO jsons "
                f"name images by file_name inside the split folder (data/coco/val2017); LVIS v1 jsons (coco_url, "
                f"no file_name) by <split>/<name> below the folder holding train2017/ and val2017/ (data/coco)")
        return images

    def _check_annotation(self, k: int, a, images: dict[int, dict], bad_images: set,
                          problems: RecordProblems) -> bool:
        """Whether annotation ``k`` is usable; problems are recorded. Annotations of a skipped image are dropped
        with it (not counted twice)."""
        where = f"annotations[{k}] (id {a.get('id') if isinstance(a, dict) else None})"
        if not isinstance(a, dict):
            problems.add(("ann", k), where, "record", "is not an object")
            return False
        if a.get("image_id") not in images:
            if a.get("image_id") not in bad_images:  # a bad image's annotations go with it, not counted again
                problems.add(("ann", k), where, "image_id", f"{a.get('image_id')} is not in 'images'")
            return False
        if a.get("category_id") not in self.cat_to_label:
            problems.add(("ann", k), where, "category_id", f"{a.get('category_id')} is not in 'categories'")
        box = bbox_problem(a.get("bbox"))
        if box:
            problems.add(("ann", k), where, "bbox", box)
        if "area" in a and area_problem(a["area"]):  # optional for training; when given, the evaluation reads it
            problems.add(("ann", k), where, "area", area_problem(a["area"]))
        if self.with_masks and not isinstance(a.get("segmentation"), (list, dict)):
            problems.add(("ann", k), where, "segmentation", "is missing (polygons or RLE; the config trains masks)")
        return not problems.bad(("ann", k))

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, im: dict) -> Path:
        """``<image_root>/<file_name>`` (COCO) or ``<image_root>/<split>/<name>`` from ``coco_url`` (LVIS v1, no
        ``file_name``): ``shared.formats.images.image_file``."""
        return self.image_root / image_file(im)[0]

    def load_image(self, im: dict) -> np.ndarray:
        return np.asarray(read_image(self.image_path(im)))  # EXIF orientation applied, as mmcv's imfrombytes

    def _instances(self, idx: int, image: np.ndarray) -> Instances:
        anns = self.annotations(idx)
        masks = None
        if self.with_masks:
            h, w = image.shape[:2]
            masks = np.zeros((len(anns["labels"]), h, w), bool)
            for i, seg in enumerate(anns["segmentations"]):
                rle = mask_utils.frPyObjects(seg, h, w) if isinstance(seg, list) else (
                    {**seg, "counts": seg["counts"].encode()} if isinstance(seg.get("counts"), str) else seg)
                m = mask_utils.decode(rle)
                masks[i] = (m.max(axis=2) if m.ndim == 3 else m) > 0
        return Instances(image, anns["boxes"], anns["labels"], masks)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        """``item``: an index, or (index, sample_seed) from the engine's sampler (seeds the augmentation)."""
        idx, seed = item if isinstance(item, tuple) else (item, int(torch.randint(0, 2**31 - 1, ())))
        im = self.images[idx]
        inst = self._instances(idx, self.load_image(im))
        if self.train:
            rng = np.random.default_rng(seed)
            inst = large_scale_jitter(inst, rng, self.size, self.scale_range, mask_canvas=self.size)
        else:
            inst, _ = resize_long_side(inst, self.size)  # results are mapped back by the real per-axis factors
        h, w = inst.image.shape[:2]
        target = {"boxes": torch.from_numpy(inst.boxes), "labels": torch.from_numpy(inst.labels)}
        if inst.masks is not None:
            target["masks"] = pad_masks(inst.masks, self.size)
        return {"image": normalize_and_pad(inst.image, self.mean, self.std, self.size), "image_size": (h, w),
                "target": target, "image_id": im["id"], "orig_size": (im["height"], im["width"])}


def collate(samples: list[dict]) -> dict:
    """List of samples → {images (B,3,S,S), image_sizes, targets, image_ids, orig_sizes}."""
    return {"images": torch.stack([s["image"] for s in samples]),
            "image_sizes": [s["image_size"] for s in samples],
            "targets": [s["target"] for s in samples],
            "image_ids": [s["image_id"] for s in samples],
            "orig_sizes": [s["orig_size"] for s in samples]}
