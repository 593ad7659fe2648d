"""COCO-panoptic format: PNG encoding (segment id = R + 256·G + 256²·B, 0 = void), segment records, reader."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from shared.formats.coco import mask_to_bbox
from shared.formats.validate import DatasetError, RecordProblems, area_problem, check_categories
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


def load_panoptic_json(path, png_folder, on_bad: str = "error", image_path=None) -> dict:
    """Read a COCO-panoptic json and check every record in one pass (``shared.formats.validate``): categories
    (integer, unique ids), annotations naming a known image, an existing PNG and segments with integer ids and known
    categories, and — with ``image_path`` (image record → Path, raising ``FileNotFoundError``) — an existing image.

    Returns {"categories": {id: category}, "records": [{image, png, segments}], "skipped": n} in image-id order.
    ``on_bad="error"`` raises a ``DatasetError`` listing the first 20 problems (file, record, field); ``"skip"``
    leaves the bad records out and counts them.
    """
    path, png_folder = Path(path), Path(png_folder)
    data = load_json(path, "panoptic json")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data, dict) or key not in data:
            raise DatasetError(f"{path}: missing top-level field {key!r}")
    check_categories(data["categories"], path)
    cats = {c["id"]: c for c in data["categories"]}
    images = {im["id"]: im for im in data["images"] if isinstance(im, dict) and "id" in im}
    problems = RecordProblems(path, on_bad)
    records = []
    for k, ann in enumerate(data["annotations"]):
        where = f"annotations[{k}] (image_id {ann.get('image_id') if isinstance(ann, dict) else None})"
        if not isinstance(ann, dict):
            problems.add(k, where, "record", "is not an object")
            continue
        im = images.get(ann.get("image_id"))
        if im is None:
            problems.add(k, where, "image_id", f"{ann.get('image_id')!r} is not in 'images'")
        elif not isinstance(im.get("file_name"), str):
            problems.add(k, where, "image file_name", f"{im.get('file_name')!r} is not a file name")
        elif image_path is not None:
            try:
                image_path(im)
            except FileNotFoundError as e:
                problems.add(k, where, "image", str(e))
        if not isinstance(ann.get("file_name"), str):
            problems.add(k, where, "file_name", f"{ann.get('file_name')!r} is not a PNG file name")
        elif not (png_folder / ann["file_name"]).is_file():
            problems.add(k, where, "file_name", f"panoptic PNG not found: {png_folder / ann['file_name']}")
        segments = ann.get("segments_info", [])
        if not isinstance(segments, list):
            problems.add(k, where, "segments_info", "is not a list")
            segments = []
        for j, seg in enumerate(segments):
            if not isinstance(seg, dict) or not isinstance(seg.get("id"), int) or isinstance(seg.get("id"), bool):
                problems.add(k, where, f"segments_info[{j}].id", f"{seg.get('id') if isinstance(seg, dict) else seg!r}"
                                                                 f" is not an integer")
            elif seg.get("category_id") not in cats:
                problems.add(k, where, f"segments_info[{j}].category_id",
                             f"{seg.get('category_id')} is not in 'categories' (segment {seg['id']})")
            elif "area" in seg and area_problem(seg["area"]):
                problems.add(k, where, f"segments_info[{j}].area", f"{area_problem(seg['area'])} (segment {seg['id']})")
        if not problems.bad(k):
            records.append({"image": im, "png": png_folder / ann["file_name"], "segments": segments})
    skipped = problems.finish("annotations")
    if not records:
        raise DatasetError(f"{path}: no annotations" + (f" left after skipping {skipped} bad ones" if skipped else ""))
    return {"categories": cats, "records": sorted(records, key=lambda r: r["image"]["id"]), "skipped": skipped}


def read_segment_ids(png_path, segments: list[dict], size: tuple[int, int]) -> np.ndarray:
    """(H, W) segment ids of a panoptic PNG, checked against its json segments and the image size (H, W). The PNG's
    stored values, exactly: not a photo (no EXIF orientation, never ``shared.image.read_image``)."""
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
