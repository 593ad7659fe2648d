"""ADE20K-150 (``ADEChallengeData2016``) → the panoptic, semantic and instance ground truth FC-CLIP is evaluated on.

Usage::

    python -m fcclip_segmentation.data.prepare_ade20k --root data/ADEChallengeData2016 \\
        [--splits training validation] [--tasks panoptic semantic instance] [--workers N]

Inputs (under ``--root``; ``<split>`` is ``training`` or ``validation``):

- ``images/<split>/*.jpg`` — the images; one output record per image, in file-name order;
- ``annotations/<split>/<stem>.png`` — semantic labels, one channel (mode ``L``/``P``), 0 = "other" (unlabelled),
  1..150 = ADE-150 class, size equal to the image's;
- ``annotations_instance/<split>/<stem>.png`` (from ChallengeData2017 ``annotations_instance.tar``; needed for the
  panoptic and instance outputs) — RGB, R = instance class 1..100 ("Instance100"), G = instance id 1..255 (0 = no
  instance; B unused). A pixel with G = 0 belongs to no instance whatever its R.

Outputs (``<name>`` = ``train`` / ``val``), each written through ``shared.io`` atomic writes, so an interrupted or
failed run leaves no half-written PNG or json (a failed split writes no json at all; PNGs of images processed
before the failure are complete files and are simply rewritten by the next run):

- ``annotations_detectron2/<split>/<stem>.png`` (task ``semantic``): uint8, label − 1, so 0 "other" → 255 (ignore)
  and 1..150 → 0..149.
- ``ade20k_panoptic_<name>/<stem>.png`` + ``ade20k_panoptic_<name>.json`` (task ``panoptic``): COCO-panoptic,
  segment id = R + 256·G + 256²·B in the PNG, 0 = void; json ``images`` {id, file_name, width, height},
  ``annotations`` {image_id, file_name = ``<stem>.png``, segments_info [{id, category_id, area, bbox xywh,
  iscrowd 0}]}, ``categories`` = the 150 ADE classes {id 0..149, name, isthing, color}.
- ``ade20k_instance_<name>.json`` (task ``instance``): COCO instances of the 100 thing classes, ``category_id`` = the
  same 0-based semantic id as in the panoptic json, RLE ``segmentation`` (pycocotools, str counts), area = mask
  pixels, xywh bbox, iscrowd 0, annotation ids 1, 2, … over the split in (image, instance id) order; image records
  as in the panoptic json.

Image ids are integers: the number the file stem ends with (``ADE_val_00000042`` → 42), unique within a split
(a stem without a trailing number, or two stems with the same number, is an error).

Panoptic painting rule (the reference's order): start from void; paint one segment per *stuff* class present in
the semantic map (class-id order); then paint every instance of the instance PNG (G-value order) over it. So

- an instance wins over whatever the semantic map says at its pixels (the two annotations overlap a little);
- pixels the semantic map labels with a *thing* class but that no instance covers stay void (0), as do "other"
  (label 0) pixels;
- a stuff segment entirely covered by instances is dropped; areas and boxes are measured on the final PNG.

Segment ids (deterministic, unique within an image, never 0): stuff ``category_id + 1`` (1..150, i.e. the
semantic label value); thing ``category_id + 1 + 256·g`` with g the instance's G value (1..255). In the PNG a
segment therefore reads R = category_id + 1, G = source instance id, B = 0. The reference (Mask2Former's
``datasets/prepare_ade20k_pan_seg.py``) used panopticapi's ``IdGenerator`` instead: stuff id = the class colour,
things the class colour or an unseeded random jitter of it — ids differ, segments (pixel sets, categories) do not.

Category table, instance class → semantic id mapping (Mask2Former's ``datasets/ade20k_instance_catid_mapping.txt``)
and colours: ``ade20k_150_categories.json`` beside this file. Its names are the ADE-150 synonym strings; FC-CLIP
never shows them to the text encoder — it reads the synonyms of
``fcclip_segmentation/configs/classnames/ade20k_150_with_prompt_eng.txt`` (line ``id + 1``) instead.

Deviations from the reference (Mask2Former / FC-CLIP ``datasets/prepare_ade20k_{pan,sem,ins}_seg.py``):

- image ids are the integers above, not the stem strings: hotcoco's PQ (our evaluator) accepts only integer ids;
- segment ids as above instead of ``IdGenerator``'s (random for things, so the reference was not reproducible);
- areas / boxes of stuff segments are measured after the instances are painted (the reference measured them
  before, so they could count pixels that the PNG gives to an instance) and a stuff segment left without pixels is
  dropped (the reference kept it in the json; our reader rejects json segments missing from the PNG). PQ is
  unchanged by the areas (panopticapi takes GT areas from the PNG); only a dropped segment, which panopticapi would
  have counted as an unmatchable false negative, no longer lowers its class's PQ;
- boxes are floats (``shared.formats.coco.mask_to_bbox``), same values;
- instance-json category names are the ADE-150 names (``window``), not the instance-set names of
  ``ade20k_instance_imgCatIds.json`` (``windowpane``) — that file is not needed; AP depends only on ids;
- semantic PNGs are written for the images' annotations only (the reference converted every file of
  ``annotations/<split>``), and all three outputs come from one pass over the images;
- bad input raises an error naming the file and the value (the reference asserted or hit a KeyError).
"""
from __future__ import annotations

import argparse
import multiprocessing
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from shared.formats.coco import mask_to_bbox, mask_to_rle
from shared.formats.panoptic import id_to_rgb, segments_info
from shared.io import atomic_path, atomic_write_json, load_json, remove_stale_temporaries

CATEGORIES_FILE = Path(__file__).with_name("ade20k_150_categories.json")
SPLITS = {"training": "train", "validation": "val"}
TASKS = ("panoptic", "semantic", "instance")
NUM_CLASSES = 150
NUM_INSTANCE_CLASSES = 100
IGNORE_LABEL = 255


def load_categories(path: str | Path = CATEGORIES_FILE) -> tuple[list[dict], dict[int, int]]:
    """The 150 categories ({id, name, isthing, color}, id order) and {instance class 1..100: category id}."""
    data = load_json(path, "ADE-150 category file")
    cats = data.get("categories") if isinstance(data, dict) else None
    if not isinstance(cats, list) or [c.get("id") for c in cats] != list(range(NUM_CLASSES)):
        raise ValueError(f"{path}: 'categories' must list ids 0..{NUM_CLASSES - 1} in order")
    inst_to_cat = {}
    for c in cats:
        k = c.get("instance_class")
        if bool(c.get("isthing")) != (k is not None):
            raise ValueError(f"{path}: category {c['id']} has isthing={c.get('isthing')} but instance_class={k}")
        if k is not None:
            if k in inst_to_cat:
                raise ValueError(f"{path}: instance_class {k} is given to categories {inst_to_cat[k]} and {c['id']}")
            inst_to_cat[k] = c["id"]
    if sorted(inst_to_cat) != list(range(1, NUM_INSTANCE_CLASSES + 1)):
        raise ValueError(f"{path}: instance classes must be exactly 1..{NUM_INSTANCE_CLASSES}")
    return [{k: c[k] for k in ("id", "name", "isthing", "color")} for c in cats], inst_to_cat


def image_ids(stems: list[str], where: Path) -> list[int]:
    """Integer image id of each file stem: its trailing number (``ADE_train_00000001`` → 1), unique in the split."""
    ids = []
    for stem in stems:
        digits = stem[len(stem.rstrip("0123456789")):]
        if not digits:
            raise ValueError(f"{where / stem}.jpg: file name has no trailing number to use as image id "
                             f"(expected ADE_<split>_NNNNNNNN.jpg)")
        ids.append(int(digits))
    seen: dict[int, str] = {}
    for stem, i in zip(stems, ids):
        if i in seen:
            raise ValueError(f"{where}: images {seen[i]}.jpg and {stem}.jpg would both get image id {i}")
        seen[i] = stem
    return ids


@dataclass(frozen=True)
class _Job:
    """One image's inputs and outputs (paths) — what a worker needs, picklable."""
    stem: str
    image_id: int
    image: Path
    semantic: Path
    instance: Path | None
    semantic_out: Path | None
    panoptic_out: Path | None


def _read_png(path: Path, what: str, modes: tuple[str, ...], size: tuple[int, int], image: Path) -> np.ndarray:
    try:
        with Image.open(path) as im:
            if im.mode not in modes:
                raise ValueError(f"{path}: {what} PNG has mode {im.mode!r}, expected {' or '.join(modes)}")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read {what} PNG {path}: {e}") from None
    if arr.shape[:2] != size:
        raise ValueError(f"{path}: {what} PNG is {arr.shape[0]}×{arr.shape[1]} (H×W) but its image {image} is "
                         f"{size[0]}×{size[1]}")
    return arr


def _save_png(array: np.ndarray, path: Path) -> None:
    with atomic_path(path, durable=False) as tmp:  # thousands of files a rerun rewrites: no fsync each
        Image.fromarray(array).save(tmp, format="PNG")


def _convert_image(job: _Job, inst_lut: np.ndarray, isthing: np.ndarray, want_instances: bool) -> dict:
    """Read one image's annotations, write its semantic / panoptic PNGs, return its json records."""
    try:
        with Image.open(job.image) as im:
            width, height = im.size
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"cannot read image {job.image}: {e}") from None
    size = (height, width)
    sem = _read_png(job.semantic, "semantic", ("L", "P"), size, job.image)
    if sem.max() > NUM_CLASSES:
        bad = sorted(set(np.unique(sem).tolist()) - set(range(NUM_CLASSES + 1)))
        raise ValueError(f"{job.semantic}: semantic label(s) {bad[:5]} outside 0..{NUM_CLASSES}")
    if job.semantic_out is not None:
        _save_png(np.where(sem == 0, IGNORE_LABEL, sem - 1).astype(np.uint8), job.semantic_out)
    record = {"image": {"id": job.image_id, "file_name": job.image.name, "width": width, "height": height}}
    if job.instance is None:
        return record

    inst = _read_png(job.instance, "instance", ("RGB", "RGBA"), size, job.image)
    cls, gid = inst[..., 0], inst[..., 1]
    instances = []  # (g, category id, mask), in G order
    for g in np.unique(gid[gid > 0]).tolist():
        mask = gid == g
        classes = np.unique(cls[mask]).tolist()
        if len(classes) != 1:
            raise ValueError(f"{job.instance}: instance id {g} (G channel) has pixels of several instance classes "
                             f"{classes[:5]} (R channel); expected one")
        cat = int(inst_lut[classes[0]])
        if cat < 0:
            raise ValueError(f"{job.instance}: instance class {classes[0]} (R channel) of instance {g} is not in the "
                             f"ADE instance mapping (valid: 1..{NUM_INSTANCE_CLASSES})")
        instances.append((g, cat, mask))

    if job.panoptic_out is not None:
        pan = np.zeros(size, np.int64)
        stuff = [c for c in np.unique(sem).tolist() if c > 0 and not isthing[c - 1]]
        for c in stuff:
            pan[sem == c] = c  # id = category + 1 = semantic label
        for g, cat, mask in instances:
            pan[mask] = cat + 1 + 256 * g
        present = set(np.unique(pan).tolist())
        pairs = [(c, c - 1) for c in stuff if c in present] + [(cat + 1 + 256 * g, cat) for g, cat, _ in instances]
        _save_png(id_to_rgb(pan), job.panoptic_out)
        record["panoptic"] = {"image_id": job.image_id, "file_name": job.panoptic_out.name,
                              "segments_info": segments_info(pan, pairs)}
    if want_instances:
        record["instances"] = [{"image_id": job.image_id, "category_id": cat, "iscrowd": 0, "area": int(mask.sum()),
                                "bbox": mask_to_bbox(mask), "segmentation": mask_to_rle(mask)}
                               for _, cat, mask in instances]
    return record


def _require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"ADE20K folder not found: {path} ({what})")
    return path


def _remove_stray_tmp(folders: list[Path]) -> None:
    """Temporary files of ``atomic_path`` left by workers killed mid-write (a terminated pool runs no cleanup)."""
    for folder in folders:
        remove_stale_temporaries(folder, "*.png")


def prepare_split(root: str | Path, split: str, tasks=TASKS, workers: int = 0,
                  categories_file: str | Path = CATEGORIES_FILE) -> dict:
    """Write the requested outputs of one split (``training`` / ``validation``); returns counts and output paths."""
    root = Path(root)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {list(SPLITS)}")
    bad = [t for t in tasks if t not in TASKS]
    if bad or not tasks:
        raise ValueError(f"unknown task(s) {bad}; expected some of {list(TASKS)}")
    name = SPLITS[split]
    categories, inst_to_cat = load_categories(categories_file)
    _require_dir(root, "the ADEChallengeData2016 root")
    image_dir = _require_dir(root / "images" / split, "images/<split>/ with the .jpg images")
    sem_dir = _require_dir(root / "annotations" / split, "annotations/<split>/ with the semantic PNGs")
    need_inst = "panoptic" in tasks or "instance" in tasks
    inst_dir = (_require_dir(root / "annotations_instance" / split,
                             "annotations_instance/<split>/ with the instance PNGs, from ChallengeData2017 "
                             "annotations_instance.tar") if need_inst else None)
    images = sorted(image_dir.glob("*.jpg"))
    if not images:
        raise FileNotFoundError(f"no .jpg images in {image_dir}")
    ids = image_ids([p.stem for p in images], image_dir)
    for folder, what in ((sem_dir, "semantic"), (inst_dir, "instance")):
        if folder is None:
            continue
        missing = [folder / f"{p.stem}.png" for p in images if not (folder / f"{p.stem}.png").is_file()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} {what} PNG(s) missing for the images of {image_dir}, "
                                    f"e.g. {missing[0]}")

    sem_out_dir = root / "annotations_detectron2" / split if "semantic" in tasks else None
    pan_dir = root / f"ade20k_panoptic_{name}" if "panoptic" in tasks else None
    out_dirs = [d for d in (sem_out_dir, pan_dir) if d is not None]
    for d in out_dirs:
        d.mkdir(parents=True, exist_ok=True)
    jobs = [_Job(p.stem, i, p, sem_dir / f"{p.stem}.png", inst_dir / f"{p.stem}.png" if need_inst else None,
                 sem_out_dir / f"{p.stem}.png" if sem_out_dir else None,
                 pan_dir / f"{p.stem}.png" if pan_dir else None)
            for p, i in zip(images, ids)]
    inst_lut = np.full(256, -1, np.int64)
    for k, cat in inst_to_cat.items():
        inst_lut[k] = cat
    isthing = np.array([bool(c["isthing"]) for c in categories])
    work = partial(_convert_image, inst_lut=inst_lut, isthing=isthing, want_instances="instance" in tasks)
    bar = partial(tqdm, total=len(jobs), desc=f"ADE20K {split}", unit="img", dynamic_ncols=True)
    if workers > 1:
        try:
            with multiprocessing.get_context().Pool(workers) as pool:
                records = list(bar(pool.imap(work, jobs, chunksize=4)))
        except BaseException:
            _remove_stray_tmp(out_dirs)
            raise
    else:
        records = [work(j) for j in bar(jobs)]

    out = {"split": split, "images": len(records)}
    image_records = [r["image"] for r in records]
    if pan_dir is not None:
        pan_json = root / f"ade20k_panoptic_{name}.json"
        anns = [r["panoptic"] for r in records]
        atomic_write_json(pan_json, {"images": image_records, "annotations": anns, "categories": categories},
                          indent=None)
        out.update(panoptic_json=pan_json, panoptic_png=pan_dir, segments=sum(len(a["segments_info"]) for a in anns))
    if "instance" in tasks:
        inst_json = root / f"ade20k_instance_{name}.json"
        anns = [{"id": i, **a} for i, a in enumerate((a for r in records for a in r["instances"]), 1)]
        cats = [{"id": c["id"], "name": c["name"]} for c in categories if c["isthing"]]
        atomic_write_json(inst_json, {"images": image_records, "annotations": anns, "categories": cats}, indent=None)
        out.update(instance_json=inst_json, instances=len(anns))
    if sem_out_dir is not None:
        out.update(semantic_png=sem_out_dir)
    return out


def prepare_ade20k(root: str | Path, splits=tuple(SPLITS), tasks=TASKS, workers: int = 0) -> list[dict]:
    """:func:`prepare_split` for each split, in order."""
    return [prepare_split(root, s, tasks, workers) for s in splits]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.data.prepare_ade20k",
                                description="ADEChallengeData2016 → FC-CLIP panoptic / semantic / instance GT.")
    p.add_argument("--root", required=True, help="the ADEChallengeData2016 folder; outputs are written inside it")
    p.add_argument("--splits", nargs="+", default=list(SPLITS), choices=list(SPLITS))
    p.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS),
                   help="semantic needs only annotations/; panoptic and instance need annotations_instance/")
    p.add_argument("--workers", type=int, default=0, help="processes (0 or 1: in this process)")
    args = p.parse_args(argv)
    try:
        for r in prepare_ade20k(args.root, args.splits, args.tasks, args.workers):
            print(", ".join(f"{k}={v}" for k, v in r.items()))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
