"""ADE20K preparation on a tiny hand-built ADEChallengeData2016 tree, against hand-computed outputs."""
import json

import numpy as np
import pytest
from PIL import Image
from pycocotools.coco import COCO

from fcclip_segmentation.data.prepare_ade20k import image_ids, load_categories, main, prepare_ade20k
from fcclip_segmentation.metrics import panoptic_quality
from shared.formats.panoptic import load_panoptic_json, read_segment_ids, rgb_to_id

from ade_tree import CAR, H, PERSON, W, _inst, _png, build_tree


def _jsons(root, name):
    return [root / f"ade20k_panoptic_{name}.json", root / f"ade20k_instance_{name}.json"]


def _snapshot(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "images" not in p.parts and "annotations" not in p.parts
            and "annotations_instance" not in p.parts}


def test_category_table():
    cats, inst_to_cat = load_categories()
    assert len(cats) == 150 and sum(c["isthing"] for c in cats) == 100
    assert inst_to_cat[4] == PERSON - 1 and inst_to_cat[9] == CAR - 1 and inst_to_cat[1] == 7  # person, car, bed
    assert (cats[0]["name"], cats[12]["name"], cats[20]["name"]) == ("wall", "person", "car")
    assert len({tuple(c["color"]) for c in cats}) == 150


def test_prepare_exact_outputs(tmp_path):
    root = build_tree(tmp_path)
    summary = prepare_ade20k(root)
    assert [(s["images"], s["segments"], s["instances"]) for s in summary] == [(2, 6, 3), (1, 2, 0)]

    pan = json.loads((root / "ade20k_panoptic_train.json").read_text())
    assert [c["id"] for c in pan["categories"]] == list(range(150))
    assert {c["id"]: c["isthing"] for c in pan["categories"] if c["id"] in (0, 2, 3, 9, 12, 20)} == \
        {0: 0, 2: 0, 3: 0, 9: 0, 12: 1, 20: 1}
    assert pan["images"][0] == {"id": 1, "file_name": "ADE_train_00000001.jpg",
                                "width": W, "height": H}
    a, b = pan["annotations"]
    assert (a["image_id"], a["file_name"], b["image_id"]) == (1, "ADE_train_00000001.png", 2)
    segs = [(s["id"], s["category_id"], s["area"], s["bbox"], s["iscrowd"]) for s in a["segments_info"]]
    assert segs == [
        (1, 0, 1120 - 25 - 100 - 120, [0, 0, 56, 20], 0),      # wall: minus person-without-instance and instances
        (4, 3, 1120 - 100 - 120 - 30, [0, 20, 56, 20], 0),     # floor: minus instances and "other"
        (13 + 256, 12, 200, [10, 10, 10, 20], 0),              # person instance 1
        (13 + 512, 12, 240, [30, 10, 12, 20], 0),              # person instance 2 (over wall / floor too)
    ]
    # grass is entirely under the car instance → dropped; sky minus the car
    assert [(s["id"], s["category_id"], s["area"], s["bbox"]) for s in b["segments_info"]] == \
        [(3, 2, H * W - 100, [0, 0, 56, 40]), (21 + 256, 20, 100, [0, 0, 10, 10])]

    ids = rgb_to_id(np.asarray(Image.open(root / "ade20k_panoptic_train/ADE_train_00000001.png").convert("RGB")))
    assert (ids == 0).sum() == 25 + 30 and ids[0:5, 0:5].max() == 0 and ids[35:, 50:].max() == 0
    assert ids[12, 40] == 13 + 512 and ids[25, 41] == 13 + 512 and ids[2, 52] == 1

    sem = np.asarray(Image.open(root / "annotations_detectron2/training/ADE_train_00000001.png"))
    assert sem.dtype == np.uint8 and sem.shape == (H, W)
    assert set(np.unique(sem).tolist()) == {0, 3, 12, 255}
    assert sem[0, 0] == 12 and sem[15, 45] == 0 and sem[25, 45] == 3 and sem[37, 52] == 255 and sem[12, 40] == 0
    assert (sem == 255).sum() == 30
    val_sem = np.asarray(Image.open(root / "annotations_detectron2/validation/ADE_val_00000001.png"))
    assert (val_sem[:, :28] == 0).all() and (val_sem[:, 28:] == 3).all()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("builtins.print", lambda *a, **k: None)  # pycocotools chatters
        coco = COCO(str(root / "ade20k_instance_train.json"))
    assert sorted(coco.getCatIds()) == [c["id"] for c in pan["categories"] if c["isthing"]]
    anns = coco.loadAnns(coco.getAnnIds())
    assert [(x["id"], x["image_id"], x["category_id"], x["area"], x["bbox"]) for x in anns] == [
        (1, 1, 12, 200, [10, 10, 10, 20]), (2, 1, 12, 240, [30, 10, 12, 20]), (3, 2, 20, 100, [0, 0, 10, 10])]
    assert [int(coco.annToMask(x).sum()) for x in anns] == [200, 240, 100]
    assert (coco.annToMask(anns[1]).astype(bool) == (ids == 13 + 512)).all()
    assert json.loads((root / "ade20k_instance_val.json").read_text())["annotations"] == []

    for name in ("train", "val"):
        gt_json, gt_png = root / f"ade20k_panoptic_{name}.json", root / f"ade20k_panoptic_{name}"
        data = load_panoptic_json(gt_json, gt_png)
        for rec in data["records"]:
            read_segment_ids(rec["png"], rec["segments"], (rec["image"]["height"], rec["image"]["width"]))
        r = panoptic_quality(gt_json, gt_json, gt_png, gt_png)
        assert r["All"]["pq"] == pytest.approx(1.0)

    # rerun (in-process and via the CLI with 2 workers) gives byte-identical outputs and leaves no temp files
    before = _snapshot(root)
    prepare_ade20k(root)
    assert main(["--root", str(root), "--workers", "2"]) == 0
    assert _snapshot(root) == before
    assert not list(root.rglob("*.tmp"))


def _break_missing_annotations(root):
    for p in (root / "annotations/validation").iterdir():
        p.unlink()
    (root / "annotations/validation").rmdir()


def _break_size(root):
    _png(root / "annotations/validation/ADE_val_00000001.png", np.ones((H, W - 1), np.uint8))


def _break_instance_class(root):
    inst = _inst()
    inst[5:9, 5:9] = (101, 1, 0)
    _png(root / "annotations_instance/validation/ADE_val_00000001.png", inst)


def _break_semantic_value(root):
    _png(root / "annotations/validation/ADE_val_00000001.png", np.full((H, W), 151, np.uint8))


@pytest.mark.parametrize("breaker, error, match", [
    (_break_missing_annotations, FileNotFoundError, r"annotations/validation .*semantic PNGs"),
    (_break_size, ValueError, r"semantic PNG is 40×55 \(H×W\) but its image .* is 40×56"),
    (_break_instance_class, ValueError, r"instance class 101 \(R channel\) .* not in the ADE instance mapping"),
    (_break_semantic_value, ValueError, r"semantic label\(s\) \[151\] outside 0..150"),
])
def test_bad_input_clear_error_and_no_json(tmp_path, breaker, error, match, capsys):
    root = build_tree(tmp_path)
    breaker(root)
    with pytest.raises(error, match=match):
        prepare_ade20k(root, splits=["validation"])
    assert not any(p.exists() for p in _jsons(root, "val"))
    assert not list(root.rglob("*.tmp"))
    assert main(["--root", str(root), "--splits", "validation", "--workers", "2"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not any(p.exists() for p in _jsons(root, "val"))
    assert not list(root.rglob("*.tmp"))


def test_semantic_only_needs_no_instance_folder(tmp_path):
    root = build_tree(tmp_path)
    for p in (root / "annotations_instance/validation").iterdir():
        p.unlink()
    with pytest.raises(FileNotFoundError, match="annotations_instance/validation"):
        prepare_ade20k(root, splits=["validation"])
    prepare_ade20k(root, splits=["validation"], tasks=["semantic"])
    assert (root / "annotations_detectron2/validation/ADE_val_00000001.png").is_file()
    assert not any(p.exists() for p in _jsons(root, "val"))


def test_image_ids_from_file_names(tmp_path):
    assert image_ids(["ADE_val_00000001", "ADE_val_00000042"], tmp_path) == [1, 42]
    with pytest.raises(ValueError, match="no trailing number"):
        image_ids(["ADE_val_x"], tmp_path)
    with pytest.raises(ValueError, match="would both get image id 7"):
        image_ids(["a_07", "b_7"], tmp_path)
