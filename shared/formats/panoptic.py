"""COCO-panoptic format: PNG encoding (segment id = R + 256·G + 256²·B, 0 = void), segment records, reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from shared.formats.coco import mask_to_bbox
from shared.io import load_json


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) int segment ids → (H, W, 3) uint8."""
    ids = ids.astype(np.int64)
    if ids.min() < 0 or ids.max() >= 256**3:
        raise ValueError(f"segment ids must be in [0, 256^3), got [{ids.min()}, {ids.max()}]")
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2], axis=-1).astype(np.uint8)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 → (H, W) int64 segment ids."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]


def segments_info(ids: np.ndarray, segments: list[tuple[int, int]], iscrowd: int = 0) -> list[dict]:
    """``segments_info`` records of a panoptic PNG's (H, W) id map: area and xywh bbox measured on the map.

    ``segments``: (segment id, category id) pairs, in the order the records are wanted. A listed segment that
    has no pixel is an error (COCO panoptic has no empty segments).
    """
    out = []
    for seg_id, cat_id in segments:
        mask = ids == seg_id
        area = int(mask.sum())
        if area == 0:
            raise ValueError(f"segment {seg_id} (category {cat_id}) has no pixel in the id map")
        out.append({"id": int(seg_id), "category_id": int(cat_id), "area": area, "bbox": mask_to_bbox(mask),
                    "iscrowd": iscrowd})
    return out


def load_panoptic_json(path, png_folder) -> dict:
    """Read a COCO-panoptic json and check it: every annotation names an image, a PNG and known categories.

    Returns {"categories": {id: category}, "records": [{image, png, segments}]} in image-id order.
    Errors name the file and the field.
    """
    path, png_folder = Path(path), Path(png_folder)
    data = load_json(path, "panoptic json")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise ValueError(f"{path}: missing top-level field {key!r}")
    cats = {c["id"]: c for c in data["categories"]}
    images = {im["id"]: im for im in data["images"]}
    records = []
    for k, ann in enumerate(data["annotations"]):
        where = f"{path}: annotations[{k}]"
        if ann.get("image_id") not in images:
            raise ValueError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'")
        for s in ann.get("segments_info", []):
            if s.get("category_id") not in cats:
                raise ValueError(f"{where}: segment {s.get('id')} has unknown category_id {s.get('category_id')}")
        records.append({"image": images[ann["image_id"]], "png": png_folder / ann["file_name"],
                        "segments": ann.get("segments_info", [])})
    if not records:
        raise ValueError(f"{path}: no annotations")
    return {"categories": cats, "records": sorted(records, key=lambda r: r["image"]["id"])}


def read_segment_ids(png_path, segments: list[dict], size: tuple[int, int]) -> np.ndarray:
    """(H, W) segment ids of a panoptic PNG, checked against its json segments and the image size (H, W)."""
    if not png_path.is_file():
        raise FileNotFoundError(f"panoptic PNG not found: {png_path}")
    with Image.open(png_path) as im:
        ids = rgb_to_id(np.asarray(im.convert("RGB")))
    if ids.shape != tuple(size):
        raise ValueError(f"{png_path}: PNG is {ids.shape[0]}×{ids.shape[1]} but its image is {size[0]}×{size[1]}")
    in_png = set(np.unique(ids).tolist()) - {0}
    in_json = {s["id"] for s in segments}
    if in_png - in_json:
        raise ValueError(f"{png_path}: segment ids {sorted(in_png - in_json)[:5]} are in the PNG but not in the json")
    if in_json - in_png:
        raise ValueError(f"{png_path}: segment ids {sorted(in_json - in_png)[:5]} are in the json but not in the PNG")
    return ids
