"""``generate_world``: sample scenes, render them, and write every file format the subprojects read.

Layout of ``<out>/``::

    world.json                               manifest: seed, image size, splits, categories, novel split, files
    images/{train2017,val2017}/000001.jpg    JPEG images in COCO's split folders below one image root (ids start
                                             at 1 in each split)
    annotations/instances_{train,val}.json   COCO instances (things only, RLE masks of the visible parts); images
                                             as COCO names them: file_name (bare, inside the split folder) AND
                                             coco_url (http://images.cocodataset.org/<split>2017/<file_name>)
    annotations/instances_train_base.json    OV-COCO style train file: novel annotations removed
    annotations/lvis_v1_{train,val}.json     LVIS v1 (frequency r/c/f, image/instance counts from train,
                                             neg / not-exhaustive category ids); images by coco_url only, as LVIS
    annotations/lvis_v1_train_ov.json        OV-LVIS train file: rare (= novel) annotations removed
    annotations/panoptic_{train,val}.json    COCO panoptic json (images as in the instances json); PNGs
                                             <image stem>.png in annotations/panoptic_{train,val}/
    annotations/panoptic_train_base.json     panoptic train without the held-out segmentation classes (their
                                             pixels unlabeled); PNGs in annotations/panoptic_train_base/
    captions/{train,val}.tsv                 image–caption pairs (open_clip CsvDataset layout, paths relative
                                             to the world folder); object / stuff crops in captions/crops/{split}/
    llava/pretrain.json                      LCS-558K style captions (`plain` stage), train images
    llava/instruct_{train,val}.json          mix665k style Q&A (+ a few text-only samples in train); ``image``
                                             relative to ``images/`` (``train2017/000001.jpg``, as mix665k's
                                             ``coco/train2017/…`` below its image folder)

The configs read them as the real ones: COCO json + split folder (``images/val2017``), LVIS json + image root
(``images``), panoptic json + PNG folder + split folder.
    classnames/panoptic_with_prompt_eng.txt  FC-CLIP class-name file (`id:name,synonym`)
    classnames/classes_{all,base,novel}.json F-ViT style name lists (category-id order)

Image, annotation and segment ids count from 1 per split. Every random draw comes from
``np.random.default_rng([seed, split, image id])`` (per image), ``[seed, 200 + split, image id]`` (captions) or
``[seed, 100 + split]`` (LVIS image fields),
so the same arguments give byte-identical files and adding images leaves the earlier ones unchanged.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from shared.formats.coco import make_ov_coco
from shared.formats.lvis import make_ov_lvis_train
from shared.formats.panoptic import id_to_rgb
from shared.io import atomic_write_bytes, atomic_write_json, atomic_write_text, load_json

from . import captions, llava, writers
from .scene import NOVEL, SEG_HELD_OUT, STUFF, THINGS, sample_scene

SPLITS = ("train", "val")
SPLIT_FOLDERS = {"train": "train2017", "val": "val2017"}  # COCO's image folders
COCO_URL = "http://images.cocodataset.org/"  # the host of every COCO/LVIS coco_url
JPEG_QUALITY = 95
MIN_IMAGE_SIZE = 64  # from here on the frontmost shape (never occluded) always keeps MIN_VISIBLE_AREA pixels


@dataclass(frozen=True)
class WorldPaths:
    """Every file of a world (see the module docstring for the layout)."""

    root: Path
    images: Path  # the image root holding the split folders (as data/coco)
    images_train: Path  # images/train2017
    images_val: Path  # images/val2017
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
    panoptic_train_base: Path
    panoptic_train_base_dir: Path
    captions_train: Path
    captions_val: Path
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
        """The paths of the world in ``root`` (existing or to be written)."""
        root = Path(root)
        a, c = root / "annotations", root / "classnames"
        return cls(
            root=root, images=root / "images", images_train=root / "images" / SPLIT_FOLDERS["train"],
            images_val=root / "images" / SPLIT_FOLDERS["val"],
            instances_train=a / "instances_train.json", instances_val=a / "instances_val.json",
            instances_train_base=a / "instances_train_base.json",
            lvis_train=a / "lvis_v1_train.json", lvis_val=a / "lvis_v1_val.json",
            lvis_train_ov=a / "lvis_v1_train_ov.json",
            panoptic_train=a / "panoptic_train.json", panoptic_val=a / "panoptic_val.json",
            panoptic_train_dir=a / "panoptic_train", panoptic_val_dir=a / "panoptic_val",
            panoptic_train_base=a / "panoptic_train_base.json", panoptic_train_base_dir=a / "panoptic_train_base",
            captions_train=root / "captions/train.tsv", captions_val=root / "captions/val.tsv",
            llava_pretrain=root / "llava/pretrain.json", llava_instruct_train=root / "llava/instruct_train.json",
            llava_instruct_val=root / "llava/instruct_val.json",
            classnames_panoptic=c / "panoptic_with_prompt_eng.txt",
            classes_all=c / "classes_all.json", classes_base=c / "classes_base.json",
            classes_novel=c / "classes_novel.json", manifest=root / "world.json",
        )


def load_manifest(root: str | Path) -> dict:
    """The ``world.json`` of an existing world (errors name the file)."""
    return load_json(WorldPaths.from_dir(root).manifest, "synthetic world manifest")


def _encode(array: np.ndarray, fmt: str) -> bytes:
    # PIL writes neither timestamps nor EXIF unless asked: the bytes depend on the pixels only
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **({"quality": JPEG_QUALITY} if fmt == "JPEG" else {}))
    return buf.getvalue()


def _dump(path: Path, obj) -> None:
    atomic_write_json(path, obj, indent=1)


def _render_split(paths: WorldPaths, seed: int, split_idx: int, count: int, size: int) -> dict:
    """Sample, render and write the images and panoptic PNGs of one split; return its records."""
    split = SPLITS[split_idx]
    pan_dir = (paths.panoptic_train_dir, paths.panoptic_val_dir)[split_idx]
    d = {"images": [], "anns": [], "pan": [], "pan_base": [], "pretrain": [], "instruct": [], "captions": []}
    held_out = writers.class_ids(SEG_HELD_OUT)
    for i in range(1, count + 1):
        rng = np.random.default_rng([seed, split_idx, i])
        scene = sample_scene(rng, size)
        file_name, image_file = f"{i:06d}.jpg", f"{SPLIT_FOLDERS[split]}/{i:06d}.jpg"  # bare; below images/
        atomic_write_bytes(paths.images / image_file, _encode(scene.image, "JPEG"))
        d["images"].append({"id": i, "file_name": file_name, "coco_url": COCO_URL + image_file,
                            "width": size, "height": size})
        anns = writers.instance_annotations(scene, i, first_id=len(d["anns"]) + 1)
        d["anns"] += anns
        ids, pan = writers.panoptic_segments(scene, i)
        atomic_write_bytes(pan_dir / pan["file_name"], _encode(id_to_rgb(ids), "PNG"))
        d["pan"].append(pan)
        if split == "train":  # the open-vocabulary segmentation training file: held-out classes unlabeled
            base_ids, base = writers.without_classes(ids, pan, held_out)
            atomic_write_bytes(paths.panoptic_train_base_dir / base["file_name"], _encode(id_to_rgb(base_ids), "PNG"))
            d["pan_base"].append(base)
        objects = [(o.thing, a["bbox"]) for o, a in zip(scene.objects, anns)]
        record_id = f"{split}-{i:06d}"
        stuff = writers.visible_stuff(pan)
        d["pretrain"].append(llava.pretrain_record(rng, record_id, image_file, objects, stuff))
        d["instruct"].append(llava.instruct_record(rng, record_id, image_file, objects, size, stuff))
        crops = paths.root / "captions" / "crops" / split
        cap_rng = np.random.default_rng([seed, 200 + split_idx, i])  # own stream: the files above stay unchanged
        for k, (box, text) in enumerate(captions.scene_pairs(cap_rng, scene, objects, stuff)):
            if box is None:
                d["captions"].append((f"images/{image_file}", text))
                continue
            x0, y0, x1, y1 = box
            crop = crops / f"{i:06d}_{k:02d}.jpg"
            atomic_write_bytes(crop, _encode(np.ascontiguousarray(scene.image[y0:y1, x0:x1]), "JPEG"))
            d["captions"].append((crop.relative_to(paths.root).as_posix(), text))
    return d


def generate_world(out_dir: str | Path, seed: int = 0, num_train: int = 32, num_val: int = 12,
                   image_size: int = 128) -> WorldPaths:
    """Write the synthetic world to ``out_dir`` (layout in the module docstring); same arguments → same bytes."""
    if num_train < 1 or num_val < 1:
        raise ValueError(f"need at least one image per split, got num_train={num_train}, num_val={num_val}")
    if image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be ≥ {MIN_IMAGE_SIZE}, got {image_size}")
    paths = WorldPaths.from_dir(out_dir)
    desc = f"synthetic shapes world, seed {seed}"
    train, val = (_render_split(paths, seed, k, n, image_size) for k, n in enumerate((num_train, num_val)))

    inst_train = writers.instances_json(train["images"], train["anns"], desc)
    _dump(paths.instances_train, inst_train)
    _dump(paths.instances_val, writers.instances_json(val["images"], val["anns"], desc))
    _dump(paths.instances_train_base, make_ov_coco(inst_train, THINGS, drop=NOVEL))

    lvis_cats = writers.lvis_categories(train["anns"])
    for split_idx, (d, path) in enumerate(((train, paths.lvis_train), (val, paths.lvis_val))):
        rng = np.random.default_rng([seed, 100 + split_idx])
        lvis = writers.lvis_json(d["images"], d["anns"], lvis_cats, rng, f"{desc} (LVIS v1 format)")
        _dump(path, lvis)
        if d is train:
            _dump(paths.lvis_train_ov, make_ov_lvis_train(lvis))

    _dump(paths.panoptic_train, writers.panoptic_json(train["images"], train["pan"], desc))
    _dump(paths.panoptic_val, writers.panoptic_json(val["images"], val["pan"], desc))
    _dump(paths.panoptic_train_base, writers.panoptic_json(train["images"], train["pan_base"], desc,
                                                           drop=writers.class_ids(SEG_HELD_OUT)))
    atomic_write_text(paths.captions_train, captions.table(train["captions"]))
    atomic_write_text(paths.captions_val, captions.table(val["captions"]))

    _dump(paths.llava_pretrain, train["pretrain"])
    _dump(paths.llava_instruct_train, train["instruct"] + llava.text_only_records())
    _dump(paths.llava_instruct_val, val["instruct"])

    atomic_write_text(paths.classnames_panoptic, writers.classnames_txt())
    lists = writers.class_lists()
    _dump(paths.classes_all, lists["all"])
    _dump(paths.classes_base, lists["base"])
    _dump(paths.classes_novel, lists["novel"])

    _dump(paths.manifest, {
        "seed": seed, "image_size": image_size,
        "splits": {name: {"images": len(d["images"]), "annotations": len(d["anns"])}
                   for name, d in zip(SPLITS, (train, val))},
        "categories": [{"id": c["id"], "name": c["name"], "isthing": c["isthing"], "novel": c["name"] in NOVEL}
                       for c in writers.categories()],
        "thing_classes": list(THINGS), "stuff_classes": list(STUFF), "novel_classes": list(NOVEL),
        "seg_held_out_classes": list(SEG_HELD_OUT),
        "files": {k: str(v.relative_to(paths.root)) for k, v in asdict(paths).items() if k != "root"},
    })
    return paths
