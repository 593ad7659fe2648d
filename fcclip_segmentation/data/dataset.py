"""FC-CLIP datasets: COCO-panoptic json + PNGs (training and panoptic evaluation) and semantic-only label maps
(A-847, PASCAL Context, PASCAL VOC: PNG or uint16 TIFF), plus FC-CLIP class-name files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from shared.classes import read_class_names
from shared.engine.config import resolve_input_path
from shared.formats.panoptic import load_panoptic_json, read_segment_ids
from shared.formats.validate import RecordProblems
from shared.image import read_image
from shared.packed import PackedList
from shared.transforms import Instances, eval_input, large_scale_jitter, normalize_and_pad, pad_masks

from .vocabulary import category_vocabulary

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_label_map(path: Path) -> np.ndarray:
    """Single-channel label map (PNG uint8/palette or uint16 TIFF/PNG) → (H, W) int64: the stored values, exactly
    (not a photo: no EXIF orientation, no 16-bit scaling, never ``shared.image.read_image``)."""
    if not path.is_file():
        raise FileNotFoundError(f"label map not found: {path}")
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "P", "I;16", "I;16B", "I;16L", "I"):
                raise ValueError(f"{path}: label maps must be single-channel (L, P or 16-bit), got mode {im.mode}")
            return np.asarray(im).astype(np.int64)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read label map {path}: {e}") from None


class _ImageIndex:
    """Image lookup under a root: ``root/file_name``, else by file name anywhere below the root (Cityscapes keeps
    images in per-city folders while its panoptic json names bare files)."""

    def __init__(self, root: str | Path):
        self.root, self._by_name = Path(root), None

    def __call__(self, file_name: str) -> Path:
        path = self.root / file_name
        if path.is_file():
            return path
        if self._by_name is None:
            if not self.root.is_dir():
                raise FileNotFoundError(f"image folder not found: {self.root}")
            self._by_name = {p.name: p for p in self.root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
        if Path(file_name).name not in self._by_name:
            raise FileNotFoundError(f"image not found: {path} (nor anywhere below {self.root})")
        return self._by_name[Path(file_name).name]


class PanopticDataset(torch.utils.data.Dataset):
    """Images with one binary mask per (non-crowd, for training) segment; labels are positions in category-id order.
    Training targets keep the json's segment order and every non-crowd segment, also those the LSJ crop leaves
    empty (all-zero masks, as the reference mapper does), unless ``drop_emptied_segments``.

    Records are checked when the dataset is built (``load_panoptic_json``: fields, categories, the PNG and image files
    exist); ``on_bad_record`` "error" lists the problems, "skip" leaves bad records out (``skipped``).
    ``records[i]`` is ``load_panoptic_json``'s record ({image, png, segments}) in image-id order, held in one byte
    buffer (``shared.packed.PackedList``): each read is a fresh copy.
    Class names come from the json, or from an FC-CLIP class-name file (synonyms) when given. At test time a sample
    also carries its semantic ground truth (``sem_gt``, original size, ``ignore_label`` = unlabelled): read from
    ``sem_seg_root/<image stem>.png`` when given (the reference's ``annotations_detectron2``), else painted from the
    panoptic PNG (crowd segments keep their class, void is ignored).
    """

    def __init__(self, json_file: str | Path, png_folder: str | Path, image_root: str | Path, train: bool,
                 size: int, mean, std, scale_range=(0.1, 2.0), class_names_file: str | Path | None = None,
                 sem_seg_root: str | Path | None = None, ignore_label: int = 255, test_pad: str = "mean",
                 on_bad_record: str = "error", drop_emptied_segments: bool = False):
        self.drop_emptied_segments = drop_emptied_segments
        self.test_pad = test_pad
        self.json_file, self.images = Path(json_file), _ImageIndex(image_root)
        data = load_panoptic_json(json_file, png_folder, on_bad_record, lambda im: self.images(im["file_name"]))
        self.skipped = data["skipped"]  # bad records left out (on_bad_record="skip")
        self.train, self.size, self.mean, self.std, self.scale_range = train, size, mean, std, tuple(scale_range)
        self.sem_seg_root, self.ignore_label = Path(sem_seg_root) if sem_seg_root else None, ignore_label
        self.categories = [data["categories"][k] for k in sorted(data["categories"])]
        self.cat_to_label = {c["id"]: i for i, c in enumerate(self.categories)}
        self.class_names, self.is_thing = category_vocabulary(self.categories, class_names_file)
        self._store(data["records"])

    def _store(self, records: list[dict]) -> None:
        """Keep the records packed (``shared.packed``): shared by forked DataLoader workers, not copied into each."""
        self.records = PackedList(records)

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        idx, seed = item if isinstance(item, tuple) else (item, int(torch.randint(0, 2**31 - 1, ())))
        rec = self.records[idx]
        image = np.asarray(read_image(self.images(rec["image"]["file_name"])))
        ids = read_segment_ids(rec["png"], rec["segments"], image.shape[:2])
        common = {"image_id": rec["image"]["id"], "orig_size": tuple(ids.shape), "file_name": rec["image"]["file_name"]}
        if not self.train:
            x, size = eval_input(image, self.size, self.mean, self.std, self.test_pad)
            return {"image": x, "image_size": size, "sem_gt": self._semantic(rec, ids), **common}
        segs = [s for s in rec["segments"] if not s.get("iscrowd", 0)]  # FC-CLIP drops crowd from the targets
        masks = np.stack([ids == s["id"] for s in segs]) if segs else np.zeros((0, *ids.shape), bool)
        inst = Instances(image, np.zeros((len(segs), 4), np.float32),
                         np.array([self.cat_to_label[s["category_id"]] for s in segs], np.int64), masks)
        # every non-crowd segment stays a target, also one the resize or crop empties (an all-zero mask), as in
        # the reference mapper: no minimum box size (unless drop_emptied_segments)
        inst = large_scale_jitter(inst, np.random.default_rng(seed), self.size, self.scale_range,
                                  min_box_size=0.0 if self.drop_emptied_segments else -np.inf, return_boxes=False,
                                  mask_canvas=self.size)
        h, w = inst.image.shape[:2]
        return {"image": normalize_and_pad(inst.image, self.mean, self.std, self.size), "image_size": (h, w),
                "target": {"masks": pad_masks(inst.masks, self.size), "labels": torch.from_numpy(inst.labels)},
                **common}

    def _semantic(self, rec: dict, ids: np.ndarray) -> np.ndarray:
        if self.sem_seg_root is not None:
            path = self.sem_seg_root / (Path(rec["image"]["file_name"]).stem + ".png")
            gt = read_label_map(path)
            if gt.shape != ids.shape:
                raise ValueError(f"{path}: label map is {gt.shape[0]}×{gt.shape[1]} but its image is "
                                 f"{ids.shape[0]}×{ids.shape[1]}")
            return gt
        gt = np.full(ids.shape, self.ignore_label, np.int64)
        for s in rec["segments"]:
            gt[ids == s["id"]] = self.cat_to_label[s["category_id"]]
        return gt


class SemanticSegDataset(torch.utils.data.Dataset):
    """Semantic-only evaluation set: ``image_root/<stem>.jpg|png`` + ``label_root/<stem><label_suffix>`` with
    labels = class positions in the class-name file (0..K−1) and ``ignore_label`` for unlabelled pixels
    (255 for PNG sets, 65535 for the uint16 TIFF sets A-847 / PC-459). Test-time resize as for panoptic."""

    def __init__(self, image_root: str | Path, label_root: str | Path, class_names_file: str | Path, size: int,
                 mean, std, ignore_label: int = 255, label_suffix: str = ".png", test_pad: str = "mean",
                 on_bad_record: str = "error"):
        self.image_root, self.label_root = Path(image_root), Path(label_root)
        self.test_pad = test_pad
        for what, folder in (("image", self.image_root), ("label", self.label_root)):
            if not folder.is_dir():
                raise FileNotFoundError(f"{what} folder not found: {folder}")
        self.labels = sorted(self.label_root.glob(f"*{label_suffix}"))
        if not self.labels:
            raise ValueError(f"{self.label_root}: no label maps ending in {label_suffix!r}")
        problems = RecordProblems(self.label_root, on_bad_record)
        for i, label in enumerate(self.labels):  # every label map has its image (a stat per suffix, no decode)
            try:
                self._image_path(label.name[: -len(label.suffix)])
            except FileNotFoundError as e:
                problems.add(label, f"label map {label.name}", "image", str(e))
        self.skipped = problems.finish("label maps")
        self.labels = [p for p in self.labels if not problems.bad(p)]
        self.size, self.mean, self.std, self.ignore_label = size, mean, std, ignore_label
        self.class_names = [n for _, n in sorted(read_class_names(resolve_input_path(class_names_file)).items())]
        self.is_thing = torch.zeros(len(self.class_names), dtype=torch.bool)

    def __len__(self) -> int:
        return len(self.labels)

    def _image_path(self, stem: str) -> Path:
        for suffix in IMAGE_SUFFIXES:
            if (self.image_root / (stem + suffix)).is_file():
                return self.image_root / (stem + suffix)
        raise FileNotFoundError(f"no image for label map {stem} in {self.image_root} (tried {', '.join(IMAGE_SUFFIXES)})")

    def __getitem__(self, idx: int) -> dict:
        label_path = self.labels[idx]
        stem = label_path.name[: -len(label_path.suffix)]
        image_path = self._image_path(stem)
        image = np.asarray(read_image(image_path))
        gt = read_label_map(label_path)
        if gt.shape != image.shape[:2]:
            raise ValueError(f"{label_path}: label map is {gt.shape[0]}×{gt.shape[1]} but {image_path.name} is "
                             f"{image.shape[0]}×{image.shape[1]}")
        k = len(self.class_names)
        bad = (gt != self.ignore_label) & ((gt < 0) | (gt >= k))
        if bad.any():
            raise ValueError(f"{label_path}: label {int(gt[bad][0])} is neither a class (0..{k - 1}, from the "
                             f"class-name file) nor the ignore label {self.ignore_label}")
        x, size = eval_input(image, self.size, self.mean, self.std, self.test_pad)
        return {"image": x, "image_size": size, "sem_gt": gt, "image_id": stem, "orig_size": gt.shape,
                "file_name": image_path.name}


def collate(samples: list[dict]) -> dict:
    out = {"images": torch.stack([s["image"] for s in samples]), "image_sizes": [s["image_size"] for s in samples],
           "image_ids": [s["image_id"] for s in samples], "orig_sizes": [s["orig_size"] for s in samples],
           "file_names": [s["file_name"] for s in samples]}
    for key, batch_key in (("target", "targets"), ("sem_gt", "sem_gts")):
        if key in samples[0]:
            out[batch_key] = [s[key] for s in samples]
    return out
