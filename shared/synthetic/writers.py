"""Scenes → records of the formats the subprojects read: COCO instances, LVIS v1, COCO panoptic, class-name files.

Pure functions returning json-ready dicts / text; ``world.generate_world`` decides where they go.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from shared.formats.coco import mask_to_bbox, mask_to_rle
from shared.formats.panoptic import segments_info

from .scene import COLOURS, NOVEL, SHAPE_SYNONYMS, STUFF, STUFF_SYNONYMS, THINGS, Scene

THING_ID = {name: i for i, name in enumerate(THINGS, start=1)}
STUFF_ID = {name: i for i, name in enumerate(STUFF, start=len(THINGS) + 1)}
NOVEL_IDS = frozenset(THING_ID[n] for n in NOVEL)
NUM_NEG = 3  # LVIS neg_category_ids per image: categories verified absent


def categories() -> list[dict]:
    """Things (ids 1..12) then stuff (13..16), with synonyms (first = name) and display colours."""
    cats = []
    for name, i in THING_ID.items():
        colour, shape = name.split()
        cats.append({"id": i, "name": name, "synonyms": [name, f"{colour} {SHAPE_SYNONYMS[shape]}"],
                     "isthing": 1, "color": list(COLOURS[colour]), "supercategory": shape})
    for name, i in STUFF_ID.items():
        cats.append({"id": i, "name": name, "synonyms": [name, STUFF_SYNONYMS[name]], "isthing": 0,
                     "color": list(STUFF[name]), "supercategory": "stuff"})
    return cats


def coco_categories() -> list[dict]:
    """The thing categories as a COCO instances file lists them."""
    return [{"id": c["id"], "name": c["name"], "supercategory": c["supercategory"]} for c in categories()
            if c["isthing"]]


def instance_annotations(scene: Scene, image_id: int, first_id: int) -> list[dict]:
    """One COCO annotation per visible object (RLE of the visible mask, area = its pixel count), ids from
    ``first_id``."""
    return [{"id": first_id + k, "image_id": image_id, "category_id": THING_ID[o.thing],
             "segmentation": mask_to_rle(o.mask), "area": int(o.mask.sum()), "bbox": mask_to_bbox(o.mask),
             "iscrowd": 0}
            for k, o in enumerate(scene.objects)]


def panoptic_segments(scene: Scene, image_id: int) -> tuple[np.ndarray, dict]:
    """(H, W) segment-id map and its COCO panoptic annotation record.

    Things come first, in the order of ``instance_annotations`` (id = category id · 1000 + k + 1), then one
    segment per stuff class still visible (id = category id · 1000); the void stuff boundaries stay 0.
    """
    ids = np.zeros(scene.stuff_map.shape, np.int64)
    segments = []
    for k, o in enumerate(scene.objects):
        seg = THING_ID[o.thing] * 1000 + k + 1
        ids[o.mask] = seg
        segments.append((seg, THING_ID[o.thing]))
    free = ids == 0
    for s_idx, name in enumerate(STUFF):
        region = (scene.stuff_map == s_idx) & free
        if region.any():
            ids[region] = STUFF_ID[name] * 1000
            segments.append((STUFF_ID[name] * 1000, STUFF_ID[name]))
    return ids, {"image_id": image_id, "file_name": f"{image_id:06d}.png",
                 "segments_info": segments_info(ids, segments)}


def visible_stuff(pan_ann: dict) -> list[str]:
    """Names of the stuff classes that have a segment in a panoptic annotation, in category order."""
    names = {i: n for n, i in STUFF_ID.items()}
    return [names[s["category_id"]] for s in pan_ann["segments_info"] if s["category_id"] in names]


def instances_json(images: list[dict], anns: list[dict], description: str) -> dict:
    """COCO instances file (things only)."""
    return {"info": {"description": description}, "images": images, "annotations": anns,
            "categories": coco_categories()}


def lvis_categories(train_anns: list[dict]) -> list[dict]:
    """LVIS v1 category records; counts from the train split as LVIS does.

    Frequency: the novel classes are rare ('r', the open-vocabulary split); the rest are 'f' when seen in at
    least the median number of train images among them, else 'c' (LVIS's 10/100-image thresholds do not fit a
    world of a few dozen images).
    """
    image_count = Counter(c for _, c in {(a["image_id"], a["category_id"]) for a in train_anns})
    instance_count = Counter(a["category_id"] for a in train_anns)
    base = sorted(image_count[i] for i in THING_ID.values() if i not in NOVEL_IDS)
    median = base[len(base) // 2]
    out = []
    for c in [c for c in categories() if c["isthing"]]:
        name = c["name"].replace(" ", "_")  # LVIS names and synonyms use underscores
        freq = "r" if c["id"] in NOVEL_IDS else ("f" if image_count[c["id"]] >= median else "c")
        out.append({"id": c["id"], "name": name, "synonyms": [s.replace(" ", "_") for s in c["synonyms"]],
                    "def": f"a {c['name']} drawn on a synthetic scene", "synset": f"{name}.n.01",
                    "frequency": freq, "image_count": image_count[c["id"]],
                    "instance_count": instance_count[c["id"]]})
    return out


def lvis_json(images: list[dict], anns: list[dict], cats: list[dict], rng: np.random.Generator,
              description: str) -> dict:
    """LVIS v1 file of a split. Images are named by ``coco_url`` only (no ``file_name``, as LVIS v1: the image is
    ``<image root>/<split>/<name>``); ``neg_category_ids`` are
    a few categories absent from the image, ``not_exhaustive_category_ids`` now and then one present category.
    Annotations carry no ``iscrowd`` (LVIS v1 has none)."""
    present: dict[int, set] = {im["id"]: set() for im in images}
    for a in anns:
        present[a["image_id"]].add(a["category_id"])
    lvis_images = []
    for im in images:
        here = sorted(present[im["id"]])
        absent = [c["id"] for c in cats if c["id"] not in present[im["id"]]]
        neg = sorted(int(x) for x in rng.choice(absent, size=min(NUM_NEG, len(absent)), replace=False))
        not_exhaustive = [here[int(rng.integers(len(here)))]] if here and rng.random() < 0.1 else []
        lvis_images.append({"id": im["id"], "width": im["width"], "height": im["height"],
                            "coco_url": im["coco_url"],
                            "neg_category_ids": neg, "not_exhaustive_category_ids": not_exhaustive})
    return {"info": {"description": description}, "images": lvis_images,
            "annotations": [{k: v for k, v in a.items() if k != "iscrowd"} for a in anns], "categories": cats}


def panoptic_json(images: list[dict], pan_anns: list[dict], description: str, drop: set[int] = frozenset()) -> dict:
    """COCO panoptic file: images as in the instances file (``file_name`` inside the split's image folder), PNG
    names in the annotations; the categories ``drop`` left out of the category list."""
    return {"info": {"description": description}, "images": images,
            "annotations": pan_anns,
            "categories": [{k: c[k] for k in ("id", "name", "supercategory", "isthing", "color")}
                           for c in categories() if c["id"] not in drop]}


def class_ids(names) -> set[int]:
    """Category ids of thing or stuff class names (an unknown name is an error)."""
    ids = {**THING_ID, **STUFF_ID}
    unknown = set(names) - set(ids)
    if unknown:
        raise ValueError(f"unknown classes {sorted(unknown)}; known: {list(ids)}")
    return {ids[n] for n in names}


def without_classes(ids: np.ndarray, pan_ann: dict, drop: set[int]) -> tuple[np.ndarray, dict]:
    """A panoptic segment map and its annotation with the segments of categories ``drop`` made unlabeled (0)."""
    kept = [s for s in pan_ann["segments_info"] if s["category_id"] not in drop]
    out = np.where(np.isin(ids, [s["id"] for s in kept]), ids, 0)
    return out, {**pan_ann, "segments_info": kept}


def classnames_txt() -> str:
    """FC-CLIP class-name file: ``id:name,synonym`` per category id, line 0 ``invalid_class_id``, no final
    newline (as the reference files)."""
    return "\n".join(["0:invalid_class_id"] + [f"{c['id']}:{','.join(c['synonyms'])}" for c in categories()])


def class_lists() -> dict[str, list[str]]:
    """F-ViT name lists in category-id order: all things, base (seen) and novel (unseen)."""
    return {"all": list(THINGS), "base": [n for n in THINGS if n not in NOVEL],
            "novel": [n for n in THINGS if n in NOVEL]}
