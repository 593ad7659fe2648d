"""The synthetic world: loadable by the official tools, internally consistent, deterministic."""
import json
from collections import Counter

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from shared.formats.panoptic import rgb_to_id
from shared.synthetic import generate_world, load_manifest
from shared.synthetic.scene import NOVEL, THINGS


def _load(p):
    return json.loads(p.read_text())


def test_instances_load_with_pycocotools(world):
    coco = COCO(str(world.instances_train))
    assert len(coco.getImgIds()) == 16 and len(coco.getCatIds()) == len(THINGS)
    for ann in coco.loadAnns(coco.getAnnIds()):
        m = coco.annToMask(ann)
        assert m.sum() == ann["area"] >= 20
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(m)
        assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
        assert Image.open(world.images / coco.imgs[ann["image_id"]]["file_name"]).size == (128, 128)


def _gt_as_results(coco_json, drop_category=None):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0,
             "segmentation": a["segmentation"]}
            for a in coco_json["annotations"] if a["category_id"] != drop_category]


def test_cocoeval_of_ground_truth_is_perfect(world):
    gt = COCO(str(world.instances_val))
    ev = COCOeval(gt, gt.loadRes(_gt_as_results(_load(world.instances_val))), "segm")
    ev.evaluate(), ev.accumulate(), ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)


def test_lvis_federated_eval_with_hotcoco(world):
    import hotcoco

    lvis = _load(world.lvis_val)
    freq = Counter(c["frequency"] for c in lvis["categories"])
    assert freq["r"] == len(NOVEL) and freq["c"] + freq["f"] == len(THINGS) - len(NOVEL)
    for im in lvis["images"]:
        present = {a["category_id"] for a in lvis["annotations"] if a["image_id"] == im["id"]}
        assert not present & set(im["neg_category_ids"]) and set(im["not_exhaustive_category_ids"]) <= present
        assert im["coco_url"].endswith(im["file_name"])

    def ap(results):
        gt = hotcoco.COCO(str(world.lvis_val))
        ev = hotcoco.LVISeval(gt, gt.load_res(results), "bbox")
        ev.run()
        return ev.get_results()["AP"]

    results = [dict(r, score=0.5) for r in _gt_as_results(lvis)]
    assert ap(results) == pytest.approx(1.0)
    images = {im["id"]: im for im in lvis["images"]}
    # federated semantics: a confident detection of a category verified absent (neg) is a false positive ...
    neg = [dict(r, category_id=images[r["image_id"]]["neg_category_ids"][0], score=0.9) for r in results]
    assert ap(results + neg) < 0.95
    # ... one of a category neither annotated nor verified absent in that image is not evaluated there
    def unverified(im):
        present = {a["category_id"] for a in lvis["annotations"] if a["image_id"] == im["id"]}
        return [c["id"] for c in lvis["categories"] if c["id"] not in present | set(im["neg_category_ids"])]
    ignored = [dict(r, category_id=unverified(images[r["image_id"]])[0], score=0.9) for r in results]
    assert ap(results + ignored) == pytest.approx(1.0)


def test_panoptic_pngs_match_json_and_instances(world):
    pan = _load(world.panoptic_val)
    inst = _load(world.instances_val)
    cats = {c["id"]: c for c in pan["categories"]}
    for ann in pan["annotations"]:
        ids = rgb_to_id(np.array(Image.open(world.panoptic_val_dir / ann["file_name"]).convert("RGB")))
        segs = {s["id"]: s for s in ann["segments_info"]}
        assert set(np.unique(ids)) - {0} == set(segs)
        assert (ids == 0).sum() > 0  # void boundaries exist
        for sid, s in segs.items():
            assert (ids == sid).sum() == s["area"] and s["category_id"] in cats
        things = sorted((s["category_id"], s["area"]) for s in segs.values() if cats[s["category_id"]]["isthing"])
        objs = sorted((a["category_id"], a["area"]) for a in inst["annotations"] if a["image_id"] == ann["image_id"])
        assert things == objs
        stuff = [s["category_id"] for s in segs.values() if not cats[s["category_id"]]["isthing"]]
        assert len(stuff) == len(set(stuff))  # one segment per stuff class


def test_llava_json(world):
    inst = COCO(str(world.instances_train))
    name = {c["id"]: c["name"] for c in inst.loadCats(inst.getCatIds())}
    by_file = {im["file_name"]: im["id"] for im in inst.imgs.values()}
    for path in (world.llava_pretrain, world.llava_instruct_train, world.llava_instruct_val):
        for rec in _load(path):
            conv = rec["conversations"]
            assert [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2) and conv
            n_img = sum(t["value"].count("<image>") for t in conv)
            assert n_img == (1 if "image" in rec else 0)
            if "image" in rec:
                assert "<image>" in conv[0]["value"]
                assert (world.images / rec["image"]).is_file()
    # answers follow from the annotations
    for rec in _load(world.llava_instruct_train):
        if "image" not in rec:
            continue
        counts = Counter(name[a["category_id"]] for a in inst.imgToAnns[by_file[rec["image"]]])
        conv = rec["conversations"]
        for q, a in zip(conv[::2], conv[1::2]):
            text = q["value"].replace("<image>\n", "")
            if text.startswith("How many"):
                thing = text.split("How many ")[1].split("s are there")[0]
                assert a["value"] == str(counts.get(thing, 0))
            if text.startswith("Is there a"):
                thing = text.split("Is there a ")[1].split(" in the image")[0]
                assert a["value"] == ("Yes" if counts.get(thing) else "No")


def test_ov_files(world):
    full, ov = _load(world.lvis_train), _load(world.lvis_train_ov)
    rare = {c["id"] for c in full["categories"] if c["frequency"] == "r"}
    assert rare and not any(a["category_id"] in rare for a in ov["annotations"])
    assert [c["id"] for c in ov["categories"]] == [c["id"] for c in full["categories"]]
    assert all(c["image_count"] == 0 for c in ov["categories"] if c["id"] in rare)
    assert len(ov["annotations"]) == sum(a["category_id"] not in rare for a in full["annotations"])
    assert ov["images"] == full["images"]
    names = _load(world.classes_all)
    assert _load(world.classes_novel) == [n for n in names if n in NOVEL]
    assert sorted(_load(world.classes_base) + _load(world.classes_novel)) == sorted(names)
    base = _load(world.instances_train_base)
    assert not any(a["category_id"] in rare for a in base["annotations"])
    lines = world.classnames_panoptic.read_text().split("\n")
    assert lines[0] == "0:invalid_class_id" and lines[1] == "1:red circle,red disc" and len(lines) == 17


def test_same_seed_same_bytes_and_manifest(tmp_path):
    a = generate_world(tmp_path / "a", seed=3, num_train=4, num_val=2, image_size=64)
    b = generate_world(tmp_path / "b", seed=3, num_train=4, num_val=2, image_size=64)
    c = generate_world(tmp_path / "c", seed=4, num_train=4, num_val=2, image_size=64)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files)
    assert (a.images / "train/000001.jpg").read_bytes() != (c.images / "train/000001.jpg").read_bytes()
    m = load_manifest(a.root)
    assert m["seed"] == 3 and all((a.root / f).exists() for f in m["files"].values())
