"""``generate_world``: scenes → every file format the subprojects read.

Layout of ``<out>/``::

    world.json                               manifest: seed, sizes, classes, novel split, file list
    images/{train,val}/000001.jpg            JPEG images (ids start at 1 in each split)
    annotations/instances_{train,val}.json   COCO instances (things only, RLE masks, iscrowd 0)
    annotations/instances_train_base.json    OV-COCO style train file: novel annotations removed
    annotations/lvis_v1_{train,val}.json     LVIS v1 (frequency r/c/f, image/instance counts from train,
                                             neg / not-exhaustive category ids; images by coco_url)
    annotations/lvis_v1_train_ov.json        OV-LVIS train file: rare (= novel) annotations removed
    annotations/panoptic_{train,val}.json    COCO panoptic json; PNGs in annotations/panoptic_{train,val}/
    llava/pretrain.json                      LCS-558K style captions (`plain` stage)
    llava/instruct_{train,val}.json          mix665k style Q&A (+ a few text-only samples in train)
    classnames/panoptic_with_prompt_eng.txt  FC-CLIP class-name file (`id:name,synonym`)
    classnames/classes_{all,base,novel}.json F-ViT style name lists (category-id order)
"""
from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from shared.formats.coco import mask_to_bbox, mask_to_rle
from shared.formats.lvis import make_ov_lvis_train
from shared.formats.panoptic import id_to_rgb
from shared.io import atomic_write_bytes, atomic_write_json, atomic_write_text, load_json

from . import llava
from .scene import NOVEL, SHAPE_SYNONYMS, STUFF, STUFF_SYNONYMS, THINGS, COLOURS, sample_scene

COCO_URL = "http://images.cocodataset.org/"  # LVIS loaders map coco_url to <images root>/<split>/<file>
SPLITS = ("train", "val")


@dataclass(frozen=True)
class WorldPaths:
    root: Path
    images: Path
    instances_train: Path
    instances_val: Path
    instances_train_base: Path
    lvis_train: Path
    lvis_val: Path
    lvis_train_ov: Path
    panoptic_train: Path
    panoptic_val: Path
    panoptic_train_dir: Path
    panoptic_val_dir: Path
    llava_pretrain: Path
    llava_instruct_train: Path
    llava_instruct_val: Path
    classnames_panoptic: Path
    classes_all: Path
    classes_base: Path
    classes_novel: Path
    manifest: Path

    @classmethod
    def from_dir(cls, root: str | Path) -> "WorldPaths":
        root = Path(root)
        a = root / "annotations"
        return cls(
            root=root, images=root / "images",
            instances_train=a / "instances_train.json", instances_val=a / "instances_val.json",
            instances_train_base=a / "instances_train_base.json",
            lvis_train=a / "lvis_v1_train.json", lvis_val=a / "lvis_v1_val.json",
            lvis_train_ov=a / "lvis_v1_train_ov.json",
            panoptic_train=a / "panoptic_train.json", panoptic_val=a / "panoptic_val.json",
            panoptic_train_dir=a / "panoptic_train", panoptic_val_dir=a / "panoptic_val",
            llava_pretrain=root / "llava/pretrain.json", llava_instruct_train=root / "llava/instruct_train.json",
            llava_instruct_val=root / "llava/instruct_val.json",
            classnames_panoptic=root / "classnames/panoptic_with_prompt_eng.txt",
            classes_all=root / "classnames/classes_all.json", classes_base=root / "classnames/classes_base.json",
            classes_novel=root / "classnames/classes_novel.json", manifest=root / "world.json",
        )


def load_manifest(root: str | Path) -> dict:
    return load_json(Path(root) / "world.json", "synthetic world manifest")


def categories() -> list[dict]:
    """Things (ids 1..12) then stuff (13..16), with synonyms and display colours."""
    cats = []
    for i, name in enumerate(THINGS, start=1):
        colour, shape = name.split()
        cats.append({"id": i, "name": name, "synonyms": [name, f"{colour} {SHAPE_SYNONYMS[shape]}"],
                     "isthing": 1, "color": list(COLOURS[colour]), "supercategory": shape})
    for j, name in enumerate(STUFF, start=len(THINGS) + 1):
        cats.append({"id": j, "name": name, "synonyms": [name, STUFF_SYNONYMS[name]], "isthing": 0,
                     "color": list(STUFF[name]), "supercategory": "stuff"})
    return cats


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _png(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def _dump(path: Path, obj) -> None:
    atomic_write_json(path, obj, indent=1)


def generate_world(out_dir: str | Path, seed: int = 0, num_train: int = 32, num_val: int = 12,
                   image_size: int = 128) -> WorldPaths:
    """Write the synthetic world to ``out_dir`` (see module docstring); same arguments → same bytes."""
    if num_train < 1 or num_val < 1 or image_size < 32:
        raise ValueError("need num_train ≥ 1, num_val ≥ 1 and image_size ≥ 32")
    paths = WorldPaths.from_dir(out_dir)
    cats = categories()
    thing_id = {c["name"]: c["id"] for c in cats if c["isthing"]}
    stuff_names = list(STUFF)
    stuff_id = {n: len(THINGS) + 1 + k for k, n in enumerate(stuff_names)}
    coco_cats = [{"id": c["id"], "name": c["name"], "supercategory": c["supercategory"]} for c in cats if c["isthing"]]

    per_split: dict[str, dict] = {}
    for split_idx, (split, count) in enumerate(zip(SPLITS, (num_train, num_val))):
        images, anns, pan_anns, pretrain, instruct = [], [], [], [], []
        for i in range(1, count + 1):
            rng = np.random.default_rng([seed, split_idx, i])  # per image: adding images keeps earlier ones
            scene = sample_scene(rng, image_size)
            file_name = f"{split}/{i:06d}.jpg"
            atomic_write_bytes(paths.images / file_name, _jpeg(scene.image))
            images.append({"id": i, "file_name": file_name, "width": image_size, "height": image_size})
            seg_ids = np.zeros((image_size, image_size), np.int64)
            segments, objects = [], []
            for k, obj in enumerate(scene.objects):
                ann_id = len(anns) + 1
                bbox = mask_to_bbox(obj.mask)
                anns.append({"id": ann_id, "image_id": i, "category_id": thing_id[obj.thing],
                             "segmentation": mask_to_rle(obj.mask), "area": int(obj.mask.sum()), "bbox": bbox,
                             "iscrowd": 0})
                objects.append((obj.thing, bbox))
                seg = thing_id[obj.thing] * 1000 + k + 1
                seg_ids[obj.mask] = seg
                segments.append((seg, thing_id[obj.thing], obj.mask))
            covered = seg_ids > 0
            present_stuff = []
            for s_idx, name in enumerate(stuff_names):
                m = (scene.stuff_map == s_idx) & ~covered
                if m.any():
                    seg = stuff_id[name] * 1000
                    seg_ids[m] = seg
                    segments.append((seg, stuff_id[name], m))
                    present_stuff.append(name)
            png_name = f"{i:06d}.png"
            pan_dir = paths.panoptic_train_dir if split == "train" else paths.panoptic_val_dir
            atomic_write_bytes(pan_dir / png_name, _png(id_to_rgb(seg_ids)))
            pan_anns.append({"image_id": i, "file_name": png_name, "segments_info": [
                {"id": int(s), "category_id": c, "area": int(m.sum()), "bbox": mask_to_bbox(m), "iscrowd": 0}
                for s, c, m in segments]})
            pretrain.append(llava.pretrain_record(rng, f"{split}-{i:06d}", file_name, objects, present_stuff))
            instruct.append(llava.instruct_record(rng, f"{split}-{i:06d}", file_name, objects, image_size))
        per_split[split] = dict(images=images, anns=anns, pan=pan_anns, pretrain=pretrain, instruct=instruct)

    # COCO instances and the OV-COCO base-only train file
    novel_ids = {thing_id[n] for n in NOVEL}
    for split in SPLITS:
        d = per_split[split]
        inst = {"info": {"description": f"synthetic shapes world, seed {seed}"}, "images": d["images"],
                "annotations": d["anns"], "categories": coco_cats}
        _dump(paths.instances_train if split == "train" else paths.instances_val, inst)
        if split == "train":
            _dump(paths.instances_train_base,
                  {**inst, "annotations": [a for a in d["anns"] if a["category_id"] not in novel_ids]})

    # LVIS v1: frequencies from train image counts (novel = rare), federated image fields
    train_img_count = Counter()
    for a in {(a["image_id"], a["category_id"]) for a in per_split["train"]["anns"]}:
        train_img_count[a[1]] += 1
    train_inst_count = Counter(a["category_id"] for a in per_split["train"]["anns"])
    base_counts = sorted(train_img_count[thing_id[n]] for n in THINGS if n not in NOVEL)
    median = base_counts[len(base_counts) // 2] if base_counts else 0
    lvis_cats = []
    for c in coco_cats:
        name = c["name"].replace(" ", "_")
        freq = "r" if c["id"] in novel_ids else ("f" if train_img_count[c["id"]] >= median else "c")
        syn = next(x["synonyms"] for x in cats if x["id"] == c["id"])
        lvis_cats.append({"id": c["id"], "name": name, "synonyms": [s.replace(" ", "_") for s in syn],
                          "def": f"a {c['name']} drawn on a synthetic scene", "synset": f"{name}.n.01",
                          "frequency": freq, "image_count": train_img_count[c["id"]],
                          "instance_count": train_inst_count[c["id"]]})
    all_ids = [c["id"] for c in coco_cats]
    for split_idx, split in enumerate(SPLITS):
        d = per_split[split]
        rng = np.random.default_rng([seed, 100 + split_idx])
        lvis_images = []
        for im in d["images"]:
            present = sorted({a["category_id"] for a in d["anns"] if a["image_id"] == im["id"]})
            absent = [c for c in all_ids if c not in present]
            neg = sorted(int(x) for x in rng.choice(absent, size=min(3, len(absent)), replace=False))
            not_exh = [present[int(rng.integers(len(present)))]] if present and rng.random() < 0.1 else []
            lvis_images.append({"id": im["id"], "width": im["width"], "height": im["height"],
                                "coco_url": COCO_URL + im["file_name"], "file_name": im["file_name"],
                                "neg_category_ids": neg, "not_exhaustive_category_ids": not_exh})
        lvis = {"info": {"description": f"synthetic shapes world (LVIS v1 format), seed {seed}"},
                "images": lvis_images, "annotations": d["anns"], "categories": lvis_cats}
        _dump(paths.lvis_train if split == "train" else paths.lvis_val, lvis)
        if split == "train":
            _dump(paths.lvis_train_ov, make_ov_lvis_train(lvis))

    # COCO panoptic
    for split in SPLITS:
        d = per_split[split]
        _dump(paths.panoptic_train if split == "train" else paths.panoptic_val, {
            "images": [{**im, "file_name": im["file_name"].split("/")[-1]} for im in d["images"]],
            "annotations": d["pan"],
            "categories": [{k: c[k] for k in ("id", "name", "supercategory", "isthing", "color")} for c in cats]})

    # LLaVA
    _dump(paths.llava_pretrain, per_split["train"]["pretrain"])
    _dump(paths.llava_instruct_train, per_split["train"]["instruct"] + llava.text_only_records())
    _dump(paths.llava_instruct_val, per_split["val"]["instruct"])

    # class-name files
    lines = ["0:invalid_class_id"] + [f"{c['id']}:{','.join(c['synonyms'])}" for c in cats]
    atomic_write_text(paths.classnames_panoptic, "\n".join(lines))  # reference files end without a newline
    _dump(paths.classes_all, [c["name"] for c in coco_cats])
    _dump(paths.classes_base, [c["name"] for c in coco_cats if c["id"] not in novel_ids])
    _dump(paths.classes_novel, [c["name"] for c in coco_cats if c["id"] in novel_ids])

    manifest = {"seed": seed, "image_size": image_size, "num_train": num_train, "num_val": num_val,
                "thing_classes": THINGS, "stuff_classes": stuff_names, "novel_classes": list(NOVEL),
                "files": {k: str(Path(v).relative_to(paths.root)) for k, v in asdict(paths).items() if k != "root"}}
    _dump(paths.manifest, manifest)
    return paths
