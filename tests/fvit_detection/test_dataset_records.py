"""DetectionDataset keeps packed records (``shared.packed``) and gives the same samples as the json-dict layout it
replaced (``benchmarks/dataset_reference.py``), bit for bit."""
import json

import numpy as np
import pytest
import torch

from benchmarks.dataset_reference import ListDetectionDataset
from fvit_detection.data import DetectionDataset
from shared.packed import PackedList

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _mixed_json(world, tmp_path):
    """The synthetic instances json with polygon masks (one of two parts) beside its RLEs, a crowd box, a box partly
    outside the image (clipped), a zero-area one (dropped) and no annotation id on one record."""
    data = json.loads(world.instances_train.read_text())
    anns = data["annotations"]
    for k, a in enumerate(anns[::3]):
        x, y, w, h = a["bbox"]
        a["segmentation"] = [[x + 0.37, y, x + w, y + 0.5, x + w - 0.25, y + h, x, y + h - 0.75]]
        if k % 4 == 0:
            a["segmentation"].append([x, y, x + w / 2, y, x, y + h / 2])
    anns[1]["iscrowd"] = 1
    anns[2]["bbox"] = [-3.5, -2.0, 20.0, 30.0]
    anns[4]["bbox"] = [5, 5, 0, 10]
    del anns[5]["id"]
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(data))
    return path, data


def _assert_same_sample(a, b):
    assert a.keys() == b.keys() and a["target"].keys() == b["target"].keys()
    for x, y in [(a["image"], b["image"])] + [(a["target"][k], b["target"][k]) for k in a["target"]]:
        assert x.dtype == y.dtype and x.shape == y.shape and torch.equal(x, y)
    assert (a["image_size"], a["image_id"], a["orig_size"]) == (b["image_size"], b["image_id"], b["orig_size"])


def test_training_samples_are_those_of_the_json_dict_layout(fvit_world, tmp_path):
    path, _ = _mixed_json(fvit_world, tmp_path)
    args = (path, fvit_world.images_train, True, 96, MEAN, STD)
    new, old = DetectionDataset(*args, with_masks=True), ListDetectionDataset(*args, with_masks=True)
    assert isinstance(new.images, PackedList) and not hasattr(new, "anns")
    assert len(new) == len(old) == 32 and new.skipped == old.skipped == {"crowd": 1, "zero_area_box": 1}
    n_masks = 0
    for i in range(len(new)):
        a, b = new[(i, 100 + i)], old[(i, 100 + i)]
        _assert_same_sample(a, b)
        # before the augmentation (which may crop instances away): every box, label and full-size mask
        image = new.load_image(new.images[i])
        x, y = new._instances(i, image), old._instances(i, image)
        for k in ("boxes", "labels", "masks"):
            u, v = getattr(x, k), getattr(y, k)
            assert u.dtype == v.dtype and u.shape == v.shape and np.array_equal(u, v), k
        n_masks += len(x.masks)
    assert n_masks == len(json.loads(path.read_text())["annotations"]) - 2  # masks of polygons and RLEs compared


def test_test_samples_of_an_lvis_json_are_those_of_the_json_dict_layout(fvit_world):
    """LVIS v1 (coco_url, no file_name), test-time resize, boxes only."""
    args = (fvit_world.lvis_val, fvit_world.images, False, 96, MEAN, STD)
    new, old = DetectionDataset(*args), ListDetectionDataset(*args)
    assert len(new) == len(old) == 12
    for i in range(len(new)):
        _assert_same_sample(new[(i, 0)], old[(i, 0)])
        assert new.image_path(new.images[i]) == old.image_path(old.images[i])
    assert "segmentations" not in new.annotations(0)  # kept only when masks are trained


def test_images_and_annotations_api_against_the_json(fvit_world, tmp_path):
    """``images[i]``: id, height, width and the file field; ``annotations(i)``: json order, clipped xyxy boxes,
    labels in category-id order, ids (None where missing), segmentations as in the json."""
    path, data = _mixed_json(fvit_world, tmp_path)
    ds = DetectionDataset(path, fvit_world.images_train, True, 96, MEAN, STD, with_masks=True)
    by_id = {im["id"]: im for im in data["images"]}
    assert [im["id"] for im in ds.images] == sorted(by_id)
    first = ds.images[0]
    assert first == {k: by_id[first["id"]][k] for k in ("id", "height", "width", "file_name")}
    label = {c: i for i, c in enumerate(sorted(c["id"] for c in data["categories"]))}
    dropped = {id(data["annotations"][1]), id(data["annotations"][4])}
    for i in (0, 1, len(ds) - 1):
        im = ds.images[i]
        anns = [a for a in data["annotations"] if a["image_id"] == im["id"] and id(a) not in dropped]
        got = ds.annotations(i)
        expect = [[max(x, 0.0), max(y, 0.0), min(x + w, im["width"]), min(y + h, im["height"])]
                  for x, y, w, h in (a["bbox"] for a in anns)]
        assert got["boxes"].dtype == np.float32 and got["boxes"].tolist() == np.float32(expect).tolist()
        assert got["labels"].dtype == np.int64 and got["labels"].tolist() == [label[a["category_id"]] for a in anns]
        assert got["ids"] == [a.get("id") for a in anns] and got["segmentations"] == [a["segmentation"] for a in anns]
    a2 = data["annotations"][2]  # partly outside: clipped to [0, 0, 16.5, 28]
    got = ds.annotations([im["id"] for im in ds.images].index(a2["image_id"]))
    assert got["boxes"][got["ids"].index(a2["id"])].tolist() == [0.0, 0.0, 16.5, 28.0]
    a5 = data["annotations"][5]
    assert None in ds.annotations([im["id"] for im in ds.images].index(a5["image_id"]))["ids"]
    with pytest.raises(IndexError):
        ds.annotations(len(ds))


def test_nothing_skipped_logs_nothing(fvit_world, caplog):
    ds = DetectionDataset(fvit_world.instances_train, fvit_world.images_train, True, 96, MEAN, STD)
    assert ds.skipped == {} and not [r for r in caplog.records if "skipped" in r.getMessage()]
