"""Real-size synthetic datasets for the data benchmarks (``benchmarks/data.py``): COCO-like images (~640×480 JPEG,
10–30 objects as polygons) written as a COCO-panoptic json + PNGs and a COCO-instances json (polygon masks), and
LVIS-shaped ground truth + detections (1203 categories, federated image fields, 300 detections per image with RLE
masks) for the evaluation. Seeded: the same arguments write the same files."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from shared.formats.panoptic import id_to_rgb

IMAGE_SIZES = ((480, 640), (427, 640), (640, 480), (480, 612), (500, 375))  # (H, W): common COCO shapes
NUM_STUFF = 3  # stuff segments per panoptic image (bands behind the objects)
LVIS_CATEGORIES = 1203
LVIS_MAX_DETS = 300


@dataclass
class CocoLikePaths:
    root: Path
    images: Path  # folder of JPEGs
    panoptic_json: Path
    panoptic_pngs: Path
    instances_json: Path


def _polygon(rng: np.random.Generator, h: int, w: int) -> list[float]:
    """A star-shaped polygon (16–40 vertices, COCO-like detail) of an object 1–40 % of the image side, flat xy."""
    r = rng.uniform(0.02, 0.4) * min(h, w)
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    n = int(rng.integers(16, 41))
    t = np.sort(rng.uniform(0, 2 * np.pi, n))
    rad = r * rng.uniform(0.6, 1.0, n)
    xs = np.clip(cx + rad * np.cos(t), 0, w - 1)
    ys = np.clip(cy + rad * rng.uniform(0.5, 1.5) * np.sin(t), 0, h - 1)
    return np.round(np.stack([xs, ys], 1), 2).reshape(-1).tolist()


def _image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A smooth random background with noise (JPEG decodes like a photo, not like a flat colour)."""
    low = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    img = np.asarray(Image.fromarray(low).resize((w, h), Image.BICUBIC), dtype=np.int16)
    img = img + rng.integers(-20, 21, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def write_coco_like(root: str | Path, num_images: int, seed: int = 0, objects=(10, 30),
                    sizes=IMAGE_SIZES, num_categories: int = 80) -> CocoLikePaths:
    """``num_images`` images with ``objects`` (min, max) polygons each → panoptic json/PNGs (the objects painted in
    order over ``NUM_STUFF`` stuff bands; fully hidden objects left out) and instances json (every polygon)."""
    root = Path(root)
    p = CocoLikePaths(root, root / "images", root / "panoptic.json", root / "panoptic", root / "instances.json")
    p.images.mkdir(parents=True, exist_ok=True)
    p.panoptic_pngs.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    things = [{"id": i + 1, "name": f"thing{i}", "isthing": 1} for i in range(num_categories)]
    stuff = [{"id": 1000 + i, "name": f"stuff{i}", "isthing": 0} for i in range(NUM_STUFF)]
    images, instances, panoptic = [], [], []
    for k in range(num_images):
        h, w = sizes[k % len(sizes)]
        image_id, name = k + 1, f"{k + 1:012d}"
        images.append({"id": image_id, "file_name": name + ".jpg", "width": w, "height": h})
        Image.fromarray(_image(rng, h, w)).save(p.images / (name + ".jpg"), quality=90)
        canvas = Image.new("I", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        segments = []
        bands = np.sort(rng.uniform(0, h, NUM_STUFF - 1)).astype(int).tolist()
        for s, (y0, y1) in enumerate(zip([0] + bands, bands + [h])):
            if y1 > y0:
                draw.rectangle([0, y0, w - 1, y1 - 1], fill=s + 1)
                segments.append((s + 1, stuff[s]["id"]))
        for j in range(int(rng.integers(objects[0], objects[1] + 1))):
            poly = _polygon(rng, h, w)
            cat = int(rng.integers(1, num_categories + 1))
            xs, ys = poly[0::2], poly[1::2]
            x0, y0 = min(xs), min(ys)
            instances.append({"id": len(instances) + 1, "image_id": image_id, "category_id": cat,
                              "segmentation": [poly], "area": 0.0, "iscrowd": 0,
                              "bbox": [x0, y0, max(xs) - x0, max(ys) - y0]})
            draw.polygon(poly, fill=100 + j)
            segments.append((100 + j, cat))
        ids = np.asarray(canvas, dtype=np.int64)
        present = set(np.unique(ids).tolist())
        info = [{"id": s, "category_id": c, "iscrowd": 0} for s, c in segments if s in present]
        Image.fromarray(id_to_rgb(ids)).save(p.panoptic_pngs / (name + ".png"))
        panoptic.append({"image_id": image_id, "file_name": name + ".png", "segments_info": info})
    p.panoptic_json.write_text(json.dumps({"images": images, "annotations": panoptic,
                                           "categories": things + stuff}))
    p.instances_json.write_text(json.dumps({"images": images, "annotations": instances, "categories": things}))
    return p


# --- LVIS-shaped evaluation data ---------------------------------------------------------------------------------
def write_lvis_like_gt(path: str | Path, num_images: int, seed: int = 0, anns_per_image: int = 12,
                       num_categories: int = LVIS_CATEGORIES, split: str | None = None) -> Path:
    """An LVIS-v1-val-shaped ground truth: ``num_categories`` categories (frequency r/c/f), ~``anns_per_image``
    polygon annotations per image (LVIS val: 12.4), ``neg_category_ids`` / ``not_exhaustive_category_ids``.
    With ``split`` (``train2017`` / ``val2017``) images also carry LVIS v1's other fields — ``coco_url`` naming
    ``<split>/<id:012d>.jpg`` (where the loaders look for the file), ``flickr_url``, ``date_captured``, ``license``;
    the annotations are the same."""
    rng = np.random.default_rng(seed)
    freq = np.array(["r", "c", "f"])[rng.choice(3, num_categories, p=[0.28, 0.38, 0.34])]
    cats = [{"id": i + 1, "name": f"c{i}", "frequency": str(f)} for i, f in enumerate(freq)]
    images, anns = [], []
    for k in range(num_images):
        h, w = IMAGE_SIZES[k % len(IMAGE_SIZES)]
        pos = rng.choice(num_categories, int(rng.integers(1, 6)), replace=False) + 1
        neg = rng.choice(num_categories, int(rng.integers(0, 12)), replace=False) + 1
        neg = sorted(set(neg.tolist()) - set(pos.tolist()))
        images.append({"id": k + 1, "width": w, "height": h, "neg_category_ids": neg,
                       "not_exhaustive_category_ids": [int(pos[0])] if rng.random() < 0.1 else []})
        if split is not None:
            images[-1].update({"coco_url": f"http://images.cocodataset.org/{split}/{k + 1:012d}.jpg",
                               "flickr_url": f"http://farm{k % 9 + 1}.staticflickr.com/{k + 1}/{k + 1:010d}_z.jpg",
                               "date_captured": "2013-11-14 16:28:13", "license": k % 8 + 1})
        for _ in range(int(rng.poisson(anns_per_image))):
            poly = _polygon(rng, h, w)
            xs, ys = poly[0::2], poly[1::2]
            x0, y0 = min(xs), min(ys)
            bw, bh = max(xs) - x0, max(ys) - y0
            anns.append({"id": len(anns) + 1, "image_id": k + 1, "category_id": int(rng.choice(pos)),
                         "segmentation": [poly], "bbox": [x0, y0, bw, bh], "area": round(0.6 * bw * bh, 2)})
    path = Path(path)
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return path


def write_lvis_like_detections(path: str | Path, gt: dict, seed: int = 0, per_image: int = LVIS_MAX_DETS) -> Path:
    """Detections for every image of ``gt`` (a loaded LVIS json), as a detector's eval loop would get them, saved
    as records (.npy) + the RLE counts (.rle beside it), read back image by image (so that the reader holds neither
    the ground truth nor all detections): jittered copies of
    the image's ground truth (its category) among random boxes of its positive, negative and random categories;
    about 1 % zero-width boxes; scores rounded to 3 decimals (ties). Masks are the boxes' rectangles (an RLE as
    long as a convex shape's)."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(seed)
    by_image: dict[int, list] = {im["id"]: [] for im in gt["images"]}
    for a in gt["annotations"]:
        by_image[a["image_id"]].append(a)
    ncat = len(gt["categories"])
    ids, boxes, scores, cats_all, sizes, counts = [], [], [], [], [], []
    for im in gt["images"]:
        h, w = im["height"], im["width"]
        anns = by_image[im["id"]]
        n_hit = min(len(anns) * 3, per_image // 2)
        xywh = rng.uniform(0, 1, (per_image, 4)) * [w, h, w / 2, h / 2]
        cats = rng.integers(1, ncat + 1, per_image)
        known = [a["category_id"] for a in anns] + list(im["neg_category_ids"])
        if known:
            cats[n_hit: n_hit + per_image // 4] = rng.choice(known, per_image // 4)
        for i in range(n_hit):
            a = anns[i % len(anns)]
            xywh[i] = np.asarray(a["bbox"]) * rng.uniform(0.9, 1.1, 4)
            cats[i] = a["category_id"]
        xywh[rng.random(per_image) < 0.01, 2] = 0.0  # zero-area boxes: the lvis api drops them after the cap
        xyxy = np.clip(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], 1), 0, [w, h, w, h])
        xyxy = xyxy.astype(np.float32)
        b = xyxy.astype(np.float64)
        rles = mask_utils.frPyObjects(np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1), h, w)
        ids.append(np.full(per_image, im["id"], np.int64))
        boxes.append(xyxy)
        scores.append(np.round(rng.uniform(1e-4, 1, per_image), 3).astype(np.float32))
        cats_all.append(cats.astype(np.int64))
        sizes.append(np.array([r["size"] for r in rles], np.int64).reshape(-1, 2))
        counts += [r["counts"] for r in rles]
    path = Path(path)
    counts_len = np.array([len(c) for c in counts], np.int64)
    rows = np.zeros(len(counts), DETECTION_RECORD)
    rows["image_id"], rows["box"], rows["score"] = np.concatenate(ids), np.concatenate(boxes), np.concatenate(scores)
    rows["category_id"], rows["size"], rows["counts_len"] = np.concatenate(cats_all), np.concatenate(sizes), counts_len
    np.save(path, rows)
    path.with_suffix(".rle").write_bytes(b"".join(counts))
    return path


DETECTION_RECORD = np.dtype([("image_id", "<i8"), ("box", "<f4", 4), ("score", "<f4"), ("category_id", "<i8"),
                             ("size", "<i8", 2), ("counts_len", "<i8")])


def read_lvis_like_detections(path: str | Path):
    """Per image, in file order: (image_id, boxes (N, 4) xyxy float32, scores (N,) float32, category ids (N,) int64,
    RLEs [{"size": [h, w], "counts": bytes}]), read from the files image by image (a reader holds one image)."""
    path = Path(path)
    mapped = np.load(path, mmap_mode="r")
    header, ids = mapped.offset, np.array(mapped["image_id"])  # a copy: the mapping goes with ``mapped``
    del mapped
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]).tolist() + [len(ids)]
    del ids
    with open(path, "rb") as rows_file, open(path.with_suffix(".rle"), "rb") as rle_file:
        for a, b in zip(starts[:-1], starts[1:]):
            rows_file.seek(header + a * DETECTION_RECORD.itemsize)
            rows = np.fromfile(rows_file, DETECTION_RECORD, count=b - a)
            blob, pos, rles = rle_file.read(int(rows["counts_len"].sum())), 0, []
            for size, n in zip(rows["size"].tolist(), rows["counts_len"].tolist()):
                rles.append({"size": size, "counts": blob[pos:pos + n]})
                pos += n
            yield int(rows["image_id"][0]), rows["box"], rows["score"], rows["category_id"], rles


def write_lvis_like(root: str | Path, num_images: int, seed: int = 0) -> tuple[Path, Path]:
    """``write_lvis_like_gt`` + ``write_lvis_like_detections`` under ``root``: (gt json, detections npz)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    gt_file = write_lvis_like_gt(root / "lvis_val.json", num_images, seed)
    gt = json.loads(gt_file.read_text())
    return gt_file, write_lvis_like_detections(root / "detections.npy", gt, seed)
