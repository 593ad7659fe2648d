"""COCO-panoptic json + PNGs → FC-CLIP training / test samples."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from backbone.preprocess import load_image
from shared.formats.panoptic import load_panoptic_json, read_segment_ids
from shared.transforms import Instances, large_scale_jitter, normalize_and_pad, resize_long_side


def read_class_names(path: str | Path) -> dict[int, str]:
    """FC-CLIP class-name file (``index:name1,name2`` per line, ``invalid_class_id`` for unused ids) → {index: names}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-name file not found: {path}")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.count(":") != 1:
            raise ValueError(f"{path}:{n}: expected 'index:name1,name2', got {line!r}")
        idx, names = line.split(":")
        if names.strip() != "invalid_class_id":
            out[int(idx)] = ",".join(s.strip() for s in names.split(",") if s.strip())
    return out


class PanopticDataset(torch.utils.data.Dataset):
    """Images with one binary mask per (non-crowd, for training) segment; labels are positions in category-id order.

    Class names come from the json, or from an FC-CLIP class-name file (synonyms) when given.
    """

    def __init__(self, json_file: str | Path, png_folder: str | Path, image_root: str | Path, train: bool,
                 size: int, mean, std, scale_range=(0.1, 2.0), class_names_file: str | Path | None = None):
        data = load_panoptic_json(json_file, png_folder)
        self.json_file, self.image_root = Path(json_file), Path(image_root)
        self.train, self.size, self.mean, self.std, self.scale_range = train, size, mean, std, tuple(scale_range)
        self.categories = [data["categories"][k] for k in sorted(data["categories"])]
        self.cat_to_label = {c["id"]: i for i, c in enumerate(self.categories)}
        names = read_class_names(class_names_file) if class_names_file else {}
        missing = [c["id"] for c in self.categories if names and c["id"] not in names]
        if missing:
            raise ValueError(f"{class_names_file}: no names for category ids {missing[:5]} of {json_file}")
        self.class_names = [names.get(c["id"], c["name"]) for c in self.categories]
        self.is_thing = torch.tensor([bool(c.get("isthing", 1)) for c in self.categories])
        self.records = data["records"]

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, item: int | tuple[int, int]) -> dict:
        idx, seed = item if isinstance(item, tuple) else (item, int(torch.randint(0, 2**31 - 1, ())))
        rec = self.records[idx]
        image = np.asarray(load_image(self.image_root / rec["image"]["file_name"]))
        ids = read_segment_ids(rec["png"], rec["segments"], image.shape[:2])
        segs = [s for s in rec["segments"] if not (self.train and s.get("iscrowd", 0))]  # FC-CLIP drops crowd
        masks = np.stack([ids == s["id"] for s in segs]) if segs else np.zeros((0, *ids.shape), bool)
        inst = Instances(image, np.zeros((len(segs), 4), np.float32),
                         np.array([self.cat_to_label[s["category_id"]] for s in segs], np.int64), masks)
        if self.train:
            inst, scale = large_scale_jitter(inst, np.random.default_rng(seed), self.size, self.scale_range), None
        else:
            inst, scale = resize_long_side(inst, self.size)
        h, w = inst.image.shape[:2]
        m = torch.zeros((len(inst.labels), self.size, self.size), dtype=torch.uint8)
        m[:, :h, :w] = torch.from_numpy(inst.masks.astype(np.uint8))
        return {"image": normalize_and_pad(inst.image, self.mean, self.std, self.size), "image_size": (h, w),
                "target": {"masks": m, "labels": torch.from_numpy(inst.labels)}, "image_id": rec["image"]["id"],
                "orig_size": tuple(ids.shape), "file_name": rec["image"]["file_name"]}


def collate(samples: list[dict]) -> dict:
    return {"images": torch.stack([s["image"] for s in samples]), "image_sizes": [s["image_size"] for s in samples],
            "targets": [s["target"] for s in samples], "image_ids": [s["image_id"] for s in samples],
            "orig_sizes": [s["orig_size"] for s in samples], "file_names": [s["file_name"] for s in samples]}
