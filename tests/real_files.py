"""Real public files for the tests (imported by test files): files nobody on the team wrote.

- Photos shipped inside an installed package (gradio's media assets, part of the ``app`` extra that ``dev``
  installs): ordinary JPEGs (one progressive), an RGBA PNG and a palette GIF. Found without importing gradio.
- The ``sample_data/`` of cocodataset/panopticapi: two COCO val2017 photos with their official COCO-panoptic json +
  PNGs and the same objects in COCO detection format (RLE masks, annotation ids from 0, stuff categories included);
  ``panoptic_coco_categories.json`` beside it. Annotations CC BY 4.0; the photos under the Flickr licenses their
  json records name. It is not committed here (the project commits no fetched files): it is looked up in
  ``$VITAMIN_REAL_DATA/panopticapi``, the steering repository's ``shared/data/panopticapi`` beside this checkout,
  or ``.real_data/panopticapi`` (git-ignored) in this checkout; tests that need it skip, saying where to put it.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PANOPTICAPI_PLACES = ("$VITAMIN_REAL_DATA/panopticapi", "../shared/data/panopticapi", ".real_data/panopticapi")

# name -> path inside the installed gradio package (format, mode and size as shipped)
PHOTOS = {
    "cheetah.jpg": "media_assets/images/cheetah.jpg",      # JPEG RGB 502x343
    "tower.jpg": "media_assets/images/tower.jpg",          # JPEG RGB 377x600 (portrait)
    "groot.jpeg": "media_assets/images/groot.jpeg",        # progressive JPEG RGB 910x512
    "cheetah2.jpg": "test_data/cheetah2.jpg",              # JPEG RGB 762x787
    "logo.png": "media_assets/images/hf-logo_transpng.png",  # PNG RGBA 256x256
    "rectangles.gif": "test_data/rectangles.gif",          # GIF P 400x300
}


def real_photo(name: str) -> Path:
    """The path of one of ``PHOTOS``; skips when gradio (the ``app`` extra) is not installed."""
    spec = importlib.util.find_spec("gradio")
    if spec is None or spec.origin is None:
        pytest.skip("gradio (the app extra, installed by .[dev]) is not installed: no real photos")
    path = Path(spec.origin).parent / PHOTOS[name]
    assert path.is_file(), f"{path} missing from the installed gradio"
    return path


def panopticapi_sample() -> Path:
    """The folder holding ``sample_data/`` and ``panoptic_coco_categories.json`` of cocodataset/panopticapi."""
    for place in PANOPTICAPI_PLACES:
        if place.startswith("$"):
            root = os.environ.get("VITAMIN_REAL_DATA")
            if not root:
                continue
            path = Path(root) / "panopticapi"
        else:
            path = (REPO / place).resolve()
        if (path / "sample_data" / "panoptic_examples.json").is_file():
            return path
    pytest.skip("cocodataset/panopticapi's sample_data/ + panoptic_coco_categories.json not found in any of "
                + ", ".join(PANOPTICAPI_PLACES))


COCO_PANOPTIC_THINGS = 80  # COCO's thing categories (ids 1-90); the panoptic sample adds 53 stuff ones (92-200)


def lay_out_like_the_configs(root: Path) -> dict[str, Path]:
    """The panopticapi sample laid out below ``root`` as the shipped configs expect (``data/…`` of
    ``fvit_detection/configs/ov_{coco,lvis}_vitamin_l_336.yaml``) and as COCO / LVIS ship their files:

        data/coco/val2017/<name>.jpg, data/coco/train2017/<name>.jpg    the two photos (symlinks)
        data/coco/annotations/instances_val2017.json        the sample's detection-format json as it is (annotation
                                                             ids from 0, stuff categories included, coco_url AND file_name)
        data/coco/annotations/instances_val2017_ov_all.json / instances_train2017_ov_base.json
                                                             made by ``shared.formats.coco`` as the OV-COCO config says
        data/coco/annotations/panoptic_val2017.json + data/coco/panoptic_val2017/<name>.png   the panoptic sample
        data/lvis_v1/annotations/lvis_v1_val.json           LVIS v1 style: the thing categories (frequency r for
                                                             OV-COCO's novel ones, else f), images by coco_url only
    Returns those paths by short name (``detection``, ``ov_all``, ``ov_base``, ``panoptic``, ``panoptic_png``,
    ``lvis``, ``coco``, ``val2017``, ``train2017``) plus ``data`` (``root/data``)."""
    import json
    import shutil

    from shared.formats.coco import make_ov_coco

    sample = panopticapi_sample() / "sample_data"
    data = root / "data"
    coco = data / "coco"
    p = {"data": data, "coco": coco, "val2017": coco / "val2017", "train2017": coco / "train2017",
         "detection": coco / "annotations" / "instances_val2017.json",
         "ov_all": coco / "annotations" / "instances_val2017_ov_all.json",
         "ov_base": coco / "annotations" / "instances_train2017_ov_base.json",
         "panoptic": coco / "annotations" / "panoptic_val2017.json", "panoptic_png": coco / "panoptic_val2017",
         "lvis": data / "lvis_v1" / "annotations" / "lvis_v1_val.json"}
    for key in ("val2017", "train2017", "panoptic_png"):
        p[key].mkdir(parents=True, exist_ok=True)
    for key in ("lvis", "detection"):
        p[key].parent.mkdir(parents=True, exist_ok=True)
    for jpg in sorted((sample / "input_images").glob("*.jpg")):
        for split in ("val2017", "train2017"):
            if not (p[split] / jpg.name).exists():
                (p[split] / jpg.name).symlink_to(jpg.resolve())
    for png in sorted((sample / "panoptic_examples").glob("*.png")):
        shutil.copyfile(png, p["panoptic_png"] / png.name)
    shutil.copyfile(sample / "panoptic_examples.json", p["panoptic"])
    shutil.copyfile(sample / "panoptic_coco_detection_format.json", p["detection"])
    det = json.loads(p["detection"].read_text())
    ov = REPO / "fvit_detection" / "configs" / "ov_coco"
    names65, novel = (json.loads((ov / f).read_text()) for f in ("mscoco_65_classes.json", "mscoco_novel_classes.json"))
    p["ov_all"].write_text(json.dumps(make_ov_coco(det, names65)))
    p["ov_base"].write_text(json.dumps(make_ov_coco(det, names65, drop=novel)))
    things = {c["id"] for c in json.loads(p["panoptic"].read_text())["categories"] if c["isthing"]}
    assert len(things) == COCO_PANOPTIC_THINGS
    cats = [{"id": c["id"], "name": c["name"], "synonyms": [c["name"]], "def": c["name"],
             "synset": f"{c['name']}.n.01", "frequency": "r" if c["name"] in novel else "f", "image_count": 1,
             "instance_count": 1}
            for c in det["categories"] if c["id"] in things]
    lvis = {"info": det["info"], "licenses": det["licenses"], "categories": cats,
            "images": [{**{k: v for k, v in im.items() if k != "file_name"}, "neg_category_ids": [],
                        "not_exhaustive_category_ids": []} for im in det["images"]],
            "annotations": [{k: v for k, v in a.items() if k != "iscrowd"} for a in det["annotations"]
                            if a["category_id"] in things and not a["iscrowd"]]}
    p["lvis"].write_text(json.dumps(lvis))
    return p
