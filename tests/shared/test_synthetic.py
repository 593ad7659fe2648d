"""The synthetic world: loadable by the official tools, internally consistent, deterministic."""
import contextlib
import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from shared.formats.images import image_file
from shared.formats.panoptic import rgb_to_id
from shared.synthetic import WorldPaths, generate_world, load_manifest
from shared.synthetic.__main__ import main as cli_main
from shared.synthetic.captions import crop_box, read_table
from shared.synthetic.llava import QUESTION_KINDS, SHORT_ANSWER, question_kind
from shared.synthetic.scene import NOVEL, SEG_HELD_OUT, SHAPE_SYNONYMS, STUFF, STUFF_SYNONYMS, THINGS

SIZE = 128


def _load(p):
    return json.loads(p.read_text())


def _quiet(fn, *args):
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _gt_as_results(coco_json, score=1.0):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": score,
             "segmentation": a["segmentation"]} for a in coco_json["annotations"]]


def test_instances_load_with_pycocotools(world):
    coco = _quiet(COCO, str(world.instances_train))
    assert sorted(coco.getImgIds()) == list(range(1, 17)) and len(coco.getCatIds()) == len(THINGS)
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == THINGS
    for im in coco.imgs.values():
        assert im["file_name"] == f"{im['id']:06d}.jpg"  # as COCO: bare, inside the split folder
        assert im["coco_url"] == f"http://images.cocodataset.org/train2017/{im['file_name']}"
        assert Image.open(world.images_train / im["file_name"]).size == (im["width"], im["height"]) == (SIZE, SIZE)
        assert 1 <= len(coco.imgToAnns[im["id"]]) <= 5
    for ann in coco.loadAnns(coco.getAnnIds()):
        m = coco.annToMask(ann)
        assert m.sum() == ann["area"] >= 20 and ann["iscrowd"] == 0
        x, y, w, h = ann["bbox"]
        ys, xs = np.nonzero(m)
        assert (x, y, x + w - 1, y + h - 1) == (xs.min(), ys.min(), xs.max(), ys.max())
        assert 0 <= x and 0 <= y and x + w <= SIZE and y + h <= SIZE


@pytest.mark.parametrize("split", ["train", "val"])
def test_files_follow_the_real_coco_and_lvis_layouts(world, split):
    """COCO jsons name the file inside the split folder (file_name) and carry coco_url; LVIS has coco_url only,
    whose <split>/<name> lies below the image root; panoptic images as COCO's. Both rules find the same bytes."""
    folder = getattr(world, f"images_{split}")
    assert folder == world.images / f"{split}2017" and sorted(p.name for p in world.images.iterdir()) == [
        "train2017", "val2017"]
    coco = _load(getattr(world, f"instances_{split}"))["images"]
    lvis = _load(getattr(world, f"lvis_{split}"))["images"]
    pan = _load(getattr(world, f"panoptic_{split}"))["images"]
    assert [im["id"] for im in coco] == [im["id"] for im in lvis] == [im["id"] for im in pan]
    for c, lv, p in zip(coco, lvis, pan):
        assert image_file(c) == (c["file_name"], "file_name") and "coco_url" in c and p == c
        assert image_file(lv) == (f"{split}2017/{c['file_name']}", "coco_url") and "file_name" not in lv
        assert (world.images / image_file(lv)[0]).read_bytes() == (folder / c["file_name"]).read_bytes()


def test_cocoeval_of_ground_truth_is_perfect_and_of_wrong_labels_not(world):
    inst = _load(world.instances_val)
    gt = _quiet(COCO, str(world.instances_val))

    def ap(results, iou_type):
        ev = COCOeval(gt, _quiet(gt.loadRes, results), iou_type)
        _quiet(lambda: (ev.evaluate(), ev.accumulate(), ev.summarize()))
        return ev.stats[0]

    results = _gt_as_results(inst)
    assert ap(results, "segm") == pytest.approx(1.0) and ap(results, "bbox") == pytest.approx(1.0)
    shifted = [dict(r, category_id=r["category_id"] % len(THINGS) + 1) for r in results]  # every label wrong
    assert ap(results[::2] + shifted, "bbox") < 0.9


def test_lvis_federated_eval_with_hotcoco(world):
    import hotcoco

    lvis = _load(world.lvis_val)
    freq = Counter(c["frequency"] for c in lvis["categories"])
    assert freq["r"] == len(NOVEL) and freq["c"] + freq["f"] == len(THINGS) - len(NOVEL)
    assert {c["name"].replace("_", " ") for c in lvis["categories"] if c["frequency"] == "r"} == set(NOVEL)
    train = _load(world.lvis_train)
    assert train["categories"] == lvis["categories"]  # counts come from train, in both files
    for c in train["categories"]:
        anns = [a for a in train["annotations"] if a["category_id"] == c["id"]]
        assert c["instance_count"] == len(anns) and c["image_count"] == len({a["image_id"] for a in anns})
        assert c["synonyms"][0] == c["name"] and c["synset"].endswith(".n.01") and c["def"]
    for im in lvis["images"]:
        present = {a["category_id"] for a in lvis["annotations"] if a["image_id"] == im["id"]}
        assert not present & set(im["neg_category_ids"]) and set(im["not_exhaustive_category_ids"]) <= present
        assert len(im["neg_category_ids"]) == 3
        assert "file_name" not in im and im["coco_url"] == f"http://images.cocodataset.org/val2017/{im['id']:06d}.jpg"
    assert not any("iscrowd" in a for a in lvis["annotations"])  # as in LVIS v1

    def ap(results, iou_type="bbox"):
        gt = hotcoco.COCO(str(world.lvis_val))
        ev = hotcoco.LVISeval(gt, gt.load_res(results), iou_type)
        _quiet(ev.run)
        return ev.get_results()["AP"]

    results = _gt_as_results(lvis, score=0.5)
    assert ap(results) == pytest.approx(1.0) and ap(results, "segm") == pytest.approx(1.0)
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


@pytest.mark.parametrize("split", ["train", "val"])
def test_panoptic_pngs_match_json_and_instances(world, split):
    pan = _load(getattr(world, f"panoptic_{split}"))
    inst = _load(getattr(world, f"instances_{split}"))
    png_dir = getattr(world, f"panoptic_{split}_dir")
    cats = {c["id"]: c for c in pan["categories"]}
    assert sum(c["isthing"] for c in cats.values()) == len(THINGS) and len(cats) == len(THINGS) + len(STUFF)
    assert [im["id"] for im in pan["images"]] == [a["image_id"] for a in pan["annotations"]]
    for im, ann in zip(pan["images"], pan["annotations"]):
        assert im["file_name"] == f"{im['id']:06d}.jpg" and ann["file_name"] == f"{im['id']:06d}.png"
        ids = rgb_to_id(np.array(Image.open(png_dir / ann["file_name"]).convert("RGB")))
        assert ids.shape == (im["height"], im["width"])
        segs = ann["segments_info"]
        assert set(np.unique(ids)) - {0} == {s["id"] for s in segs} and len(segs) == len({s["id"] for s in segs})
        assert (ids == 0).any()  # void boundaries exist
        for s in segs:
            m = ids == s["id"]
            ys, xs = np.nonzero(m)
            assert s["area"] == m.sum() and s["category_id"] in cats and s["iscrowd"] == 0
            assert s["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1, ys.max() - ys.min() + 1]
        # things: the instance annotations, same order, same masks
        things = [s for s in segs if cats[s["category_id"]]["isthing"]]
        objs = [a for a in inst["annotations"] if a["image_id"] == im["id"]]
        assert [s["category_id"] for s in things] == [a["category_id"] for a in objs]
        for s, a in zip(things, objs):
            rle = dict(a["segmentation"], counts=a["segmentation"]["counts"].encode())
            assert np.array_equal(mask_utils.decode(rle).astype(bool), ids == s["id"])
        stuff = [s["category_id"] for s in segs if not cats[s["category_id"]]["isthing"]]
        assert len(stuff) == len(set(stuff)) >= 1  # one segment per stuff class present


def _answer_from_annotations(question: str, objs: list[tuple[str, list[float]]], stuff: list[str]) -> str:
    """The answer a reader of the instances and panoptic jsons gives to one of the world's questions."""
    names = [n for n, _ in objs]
    if question == "Which of grass, water and sand is not in the image?":
        (missing,) = {"grass", "water", "sand"} - set(stuff)  # asked only when exactly one is missing
        return missing
    if m := re.fullmatch(r"How many (\w+ \w+)s are there\?", question):
        return str(names.count(m[1]))
    if m := re.fullmatch(r"Is there a (\w+ \w+) in the image\?", question):
        return "Yes" if m[1] in names else "No"
    if m := re.fullmatch(r"What colour is the (\w+)\?", question):
        (hit,) = [n for n in names if n.split()[1] == m[1]]  # asked only when unique
        return hit.split()[0]
    if m := re.fullmatch(r"What shape is the (\w+) object\?", question):
        (hit,) = [n for n in names if n.split()[0] == m[1]]
        return hit.split()[1]
    if m := re.fullmatch(r"Is the (\w+ \w+) on the left or the right\?", question):
        ((x, _, w, _),) = [b for n, b in objs if n == m[1]]
        assert x + w <= SIZE / 2 or x >= SIZE / 2  # asked only when the box is wholly on one side
        return "left" if x + w <= SIZE / 2 else "right"
    raise AssertionError(f"unexpected question {question!r}")


def test_llava_json_structure(world):
    for path in (world.llava_pretrain, world.llava_instruct_train, world.llava_instruct_val):
        records = _load(path)
        assert len({r["id"] for r in records}) == len(records)
        for rec in records:
            conv = rec["conversations"]
            assert conv and [t["from"] for t in conv] == ["human", "gpt"] * (len(conv) // 2)
            n_img = sum(t["value"].count("<image>") for t in conv)
            assert n_img == (1 if "image" in rec else 0)
            if "image" in rec:
                first = conv[0]["value"]
                assert first.startswith("<image>\n") or first.endswith("\n<image>")
                assert (world.images / rec["image"]).is_file()
    pretrain = _load(world.llava_pretrain)
    assert len(pretrain) == 16 and all(len(r["conversations"]) == 2 for r in pretrain)
    text_only = [r for r in _load(world.llava_instruct_train) if "image" not in r]
    assert len(text_only) >= 1 and all("image" in r for r in _load(world.llava_instruct_val))


def _and(words):
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _visible_stuff(panoptic_json):
    pan = _load(panoptic_json)
    name = {c["id"]: c["name"] for c in pan["categories"] if not c["isthing"]}
    return {a["image_id"]: [name[s["category_id"]] for s in a["segments_info"] if s["category_id"] in name]
            for a in pan["annotations"]}


@pytest.mark.parametrize("split", ["train", "val"])
def test_llava_answers_follow_from_the_instances(world, split):
    inst = _quiet(COCO, str(getattr(world, f"instances_{split}")))
    name = {c["id"]: c["name"] for c in inst.loadCats(inst.getCatIds())}
    by_file = {f"{split}2017/{im['file_name']}": im["id"] for im in inst.imgs.values()}  # LLaVA's image field
    stuff = _visible_stuff(getattr(world, f"panoptic_{split}"))
    asked, scene_asked = Counter(), 0
    for rec in _load(getattr(world, f"llava_instruct_{split}")):
        if "image" not in rec:
            continue
        image_id = by_file[rec["image"]]
        objs = [(name[a["category_id"]], a["bbox"]) for a in inst.imgToAnns[image_id]]
        conv = rec["conversations"]
        kinds = []
        for q, a in zip(conv[::2], conv[1::2]):
            question = q["value"].replace("<image>\n", "")
            assert question.endswith("\n" + SHORT_ANSWER)
            kinds.append(question_kind(question))
            question = question[: -len(SHORT_ANSWER) - 1]
            assert a["value"] == _answer_from_annotations(question, objs, stuff[image_id]), (rec["id"], question)
        assert None not in kinds and len(set(kinds)) == len(kinds) == 3  # three different kinds per image
        # the scene question is asked of every image that misses exactly one ground class
        one_missing = len({"grass", "water", "sand"} - set(stuff[image_id])) == 1
        assert ("ground" in kinds) == one_missing
        scene_asked += one_missing
        asked.update(kinds)
    assert set(asked) == set(QUESTION_KINDS) or split == "val"  # every kind occurs in the 16 train images
    assert len(asked) >= 4 and scene_asked >= len(stuff) - 1
    if split == "train":  # captions: every visible object counted, then the visible stuff, in class order
        for rec in _load(world.llava_pretrain):
            image_id = by_file[rec["image"]]
            counts = Counter(name[a["category_id"]] for a in inst.imgToAnns[image_id])
            parts = [f"{['a', 'two', 'three', 'four', 'five'][counts[t] - 1]} {t}{'s' * (counts[t] > 1)}"
                     for t in THINGS if t in counts]
            assert rec["conversations"][1]["value"] == f"{_and(parts)} on {_and(stuff[image_id])}"


def test_ov_files(world):
    full, ov = _load(world.lvis_train), _load(world.lvis_train_ov)
    rare = {c["id"] for c in full["categories"] if c["frequency"] == "r"}
    assert rare and not any(a["category_id"] in rare for a in ov["annotations"])
    assert [(c["id"], c["name"], c["frequency"]) for c in ov["categories"]] == \
        [(c["id"], c["name"], c["frequency"]) for c in full["categories"]]
    assert all(c["image_count"] == c["instance_count"] == 0 for c in ov["categories"] if c["id"] in rare)
    base_cats = [c for c in full["categories"] if c["id"] not in rare]
    assert [c for c in ov["categories"] if c["id"] not in rare] == base_cats
    assert ov["annotations"] == [a for a in full["annotations"] if a["category_id"] not in rare]
    assert ov["images"] == full["images"]  # images left without annotations stay
    names = _load(world.classes_all)
    assert names == THINGS
    assert _load(world.classes_novel) == [n for n in names if n in NOVEL]
    assert _load(world.classes_base) == [n for n in names if n not in NOVEL]
    inst, base = _load(world.instances_train), _load(world.instances_train_base)
    assert base["categories"] == inst["categories"] and base["images"] == inst["images"]
    assert base["annotations"] == [a for a in inst["annotations"] if a["category_id"] not in rare]


def test_fcclip_classnames_file(world):
    text = world.classnames_panoptic.read_text()
    assert not text.endswith("\n")
    lines = text.split("\n")
    assert lines[0] == "0:invalid_class_id" and lines[1] == "1:red circle,red disc" and lines[13] == "13:sky,clear sky"
    cats = {c["id"]: c["name"] for c in _load(world.panoptic_train)["categories"]}
    for line in lines[1:]:
        index, names = line.split(":")
        assert names.split(",")[0] == cats[int(index)] and ", " not in names
    assert len(lines) == max(cats) + 1


def test_manifest_and_paths(world):
    m = load_manifest(world.root)
    assert m["seed"] == 0 and m["image_size"] == SIZE and m["splits"]["train"]["images"] == 16
    assert m["splits"]["val"] == {"images": 6, "annotations": len(_load(world.instances_val)["annotations"])}
    assert [c["name"] for c in m["categories"]] == THINGS + list(STUFF)
    assert {c["name"] for c in m["categories"] if c["novel"]} == set(NOVEL) == set(m["novel_classes"])
    assert WorldPaths.from_dir(world.root) == world
    files = {p.relative_to(world.root).as_posix() for p in world.root.rglob("*") if p.is_file()}
    listed = set(m["files"].values())
    folders = {"images", "images/train2017", "images/val2017", "annotations/panoptic_train", "annotations/panoptic_val",
               "annotations/panoptic_train_base"}
    assert listed - folders <= files
    assert all((world.root / f).exists() for f in listed)


def test_same_seed_same_bytes_other_seed_other_images(tmp_path):
    a = generate_world(tmp_path / "a", seed=3, num_train=4, num_val=2, image_size=64)
    b = generate_world(tmp_path / "b", seed=3, num_train=4, num_val=2, image_size=64)
    c = generate_world(tmp_path / "c", seed=4, num_train=4, num_val=2, image_size=64)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*") if p.is_file())
    crops = [f for f in files if f.parts[:2] == ("captions", "crops")]
    rows = sum(len(read_table(t)) for t in (a.captions_train, a.captions_val))
    assert len(crops) == rows - 6 >= 6 * 2  # every pair but the whole images is a crop; ≥ 2 objects per image
    assert len(files) == 6 + 6 + 4 + 17 + 2 + len(crops)  # images, PNGs (+ train base), json/txt, tables, crops
    assert files == sorted(p.relative_to(b.root) for p in b.root.rglob("*") if p.is_file())
    assert all((a.root / f).read_bytes() == (b.root / f).read_bytes() for f in files)
    for f in ("train2017/000001.jpg", "val2017/000002.jpg"):
        assert (a.images / f).read_bytes() != (c.images / f).read_bytes()
    assert a.instances_train.read_bytes() != c.instances_train.read_bytes()
    # per-image seeds: more images leave the earlier ones as they were
    d = generate_world(tmp_path / "d", seed=3, num_train=6, num_val=2, image_size=64)
    assert all((a.images_train / f"{i:06d}.jpg").read_bytes() == (d.images_train / f"{i:06d}.jpg").read_bytes()
               for i in range(1, 5))
    assert _load(d.instances_train)["annotations"][: len(_load(a.instances_train)["annotations"])] == \
        _load(a.instances_train)["annotations"]


def test_cli(tmp_path, capsys):
    assert cli_main(["--out", str(tmp_path / "w"), "--seed", "1", "--num-train", "2", "--num-val", "1",
                     "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "train: 2 images" in out and "novel" in out and str(tmp_path / "w") in out
    assert load_manifest(tmp_path / "w")["seed"] == 1
    for bad in (["--size", "16"], ["--num-val", "0"]):
        with pytest.raises(SystemExit) as e:
            cli_main(["--out", str(tmp_path / "x")] + bad)
        assert e.value.code == 2 and not (tmp_path / "x").exists()
    assert "must be" in capsys.readouterr().err
    with pytest.raises(ValueError, match="image_size"):
        generate_world(tmp_path / "y", image_size=16)
    with pytest.raises(FileNotFoundError, match="world.json"):
        load_manifest(tmp_path / "nowhere")


@pytest.mark.parametrize("module", ["shared.synthetic", "shared.formats.lvis"])
def test_module_entry_points_document_their_options(module):
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=root, capture_output=True, text=True,
                         check=True).stdout
    assert "--out" in out and ("--seed" in out or "rare" in out)


def _names_in(caption: str) -> set[str]:
    """Classes a caption names, by name or synonym (plural or not)."""
    found = set()
    for thing in THINGS:
        colour, shape = thing.split()
        if re.search(rf"\b{colour} ({shape}|{SHAPE_SYNONYMS[shape]})s?\b", caption):
            found.add(thing)
    found |= {s for s in STUFF if re.search(rf"\b({s}|{STUFF_SYNONYMS[s]})\b", caption)}
    return found


def test_captions_table_as_open_clip_reads_it_and_names_what_is_there(world):
    from open_clip_train.params import parse_args  # only argparse: no data dependencies

    args = parse_args([])
    header = world.captions_train.read_text().splitlines()[0]
    assert header == args.csv_separator.join((args.csv_img_key, args.csv_caption_key))
    inst = _load(world.instances_train)
    cat = {c["id"]: c["name"] for c in inst["categories"]}
    objects = {im["id"]: [] for im in inst["images"]}
    for a in inst["annotations"]:
        objects[a["image_id"]].append((cat[a["category_id"]], a["bbox"]))
    stuff = _visible_stuff(world.panoptic_train)
    named, crops = set(), 0
    for path, caption in read_table(world.captions_train):
        assert (world.root / path).is_file()
        named |= _names_in(caption)
        if m := re.fullmatch(r"images/train2017/(\d+)\.jpg", path):
            image_id = int(m[1])
            assert _names_in(caption) == {t for t, _ in objects[image_id]} | set(stuff[image_id])
            continue
        image_id, k = (int(x) for x in re.fullmatch(r"captions/crops/train/(\d+)_(\d+)\.jpg", path).groups())
        crop = np.asarray(Image.open(world.root / path).convert("RGB"), dtype=float)
        if k <= len(objects[image_id]):  # an object crop: it names that object, and the box inside is its colour
            thing, bbox = objects[image_id][k - 1]
            assert thing in _names_in(caption)
            x0, y0, x1, y1 = crop_box(bbox, SIZE)
            assert crop.shape[:2] == (y1 - y0, x1 - x0) and x0 <= bbox[0] and bbox[0] + bbox[2] <= x1
            crops += 1
        else:  # a stuff crop: names one stuff class of the image, and is mostly its colour
            (s,) = [n for n in _names_in(caption) if n in STUFF]
            assert s in stuff[image_id]
            assert np.abs(np.median(crop.reshape(-1, 3), axis=0) - STUFF[s]).max() < 20
    assert crops == len(inst["annotations"])
    assert named == set(THINGS) | set(STUFF)  # every class is named, the novel ones included


def test_caption_positions_and_counts():
    from shared.synthetic.captions import image_caption

    rng = np.random.default_rng(0)
    objects = [("red circle", [2, 2, 10, 10]), ("blue square", [100, 40, 10, 10]), ("blue square", [60, 60, 5, 5]),
               ("green triangle", [50, 2, 20, 10])]
    cap = image_caption(rng, objects, ["sky", "sand"], SIZE)
    assert re.search(r"\ba red (circle|disc) on the left\b", cap)
    assert re.search(r"\btwo blue (square|block)s\b", cap)  # counted, no position
    assert re.search(r"\ba green (triangle|wedge) at the top\b", cap)  # straddles the middle, in the top half
    assert re.search(r" on (sky|clear sky) and (sand|beach)$", cap)
    assert crop_box([0, 0, 4, 4], SIZE) == (0, 0, 16, 16)  # at least MIN_CROP, moved inside the image
    assert crop_box([100, 100, 20, 10], SIZE) == (95, 90, 125, 120)  # side 20 · 1.5 = 30 around the centre
    assert crop_box([110, 110, 18, 18], SIZE) == (101, 101, 128, 128)  # side 27, pushed back inside


def test_panoptic_train_base_holds_out_the_segmentation_vocabulary(world):
    full, base = _load(world.panoptic_train), _load(world.panoptic_train_base)
    held = {c["id"] for c in full["categories"] if c["name"] in SEG_HELD_OUT}
    assert len(held) == len(SEG_HELD_OUT) and set(NOVEL) < set(SEG_HELD_OUT)
    assert [c for c in full["categories"] if c["id"] not in held] == base["categories"]
    for a, b in zip(full["annotations"], base["annotations"]):
        assert b["segments_info"] == [s for s in a["segments_info"] if s["category_id"] not in held]
        ids = rgb_to_id(np.asarray(Image.open(world.panoptic_train_dir / a["file_name"])))
        base_ids = rgb_to_id(np.asarray(Image.open(world.panoptic_train_base_dir / b["file_name"])))
        dropped = np.isin(ids, [s["id"] for s in a["segments_info"] if s["category_id"] in held])
        assert (base_ids[dropped] == 0).all() and np.array_equal(base_ids[~dropped], ids[~dropped])
    assert sum(len(a["segments_info"]) for a in full["annotations"]) > \
        sum(len(b["segments_info"]) for b in base["annotations"])  # something was held out in this world
    assert load_manifest(world.root)["seg_held_out_classes"] == list(SEG_HELD_OUT)
