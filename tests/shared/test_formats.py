"""Format helpers and the OV-LVIS converter."""
import json
import re

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from shared.formats.coco import mask_to_bbox, mask_to_rle
from shared.formats.lvis import main as lvis_main
from shared.formats.lvis import make_ov_lvis_train
from shared.formats.panoptic import id_to_rgb, rgb_to_id, segments_info
from shared.io import atomic_write_text, load_json


def test_panoptic_id_round_trip():
    ids = np.array([[0, 1, 255], [256, 65536 + 3, 256**3 - 1]])
    rgb = id_to_rgb(ids)
    assert rgb[1, 1].tolist() == [3, 0, 1] and np.array_equal(rgb_to_id(rgb), ids)
    with pytest.raises(ValueError):
        id_to_rgb(np.array([256**3]))


def test_segments_info_measures_the_id_map():
    ids = np.zeros((4, 5), np.int64)
    ids[0, 1:4] = 7001
    ids[2:4, 0] = 13000
    assert segments_info(ids, [(13000, 13), (7001, 7)]) == [
        {"id": 13000, "category_id": 13, "area": 2, "bbox": [0.0, 2.0, 1.0, 2.0], "iscrowd": 0},
        {"id": 7001, "category_id": 7, "area": 3, "bbox": [1.0, 0.0, 3.0, 1.0], "iscrowd": 0}]
    with pytest.raises(ValueError, match="segment 5 .*no pixel"):
        segments_info(ids, [(5, 1)])


def test_rle_and_bbox():
    m = np.zeros((5, 6), bool)
    m[1:3, 2:5] = True
    rle = mask_to_rle(m)
    json.dumps(rle)
    assert np.array_equal(mask_utils.decode({**rle, "counts": rle["counts"].encode()}), m)
    assert mask_to_bbox(m) == [2.0, 1.0, 3.0, 2.0]


TINY = {
    "images": [{"id": 1}, {"id": 2}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 2, "image_id": 1, "category_id": 2},
                    {"id": 3, "image_id": 2, "category_id": 3}],
    "categories": [{"id": 1, "frequency": "f", "image_count": 1, "instance_count": 1},
                   {"id": 2, "frequency": "r", "image_count": 1, "instance_count": 1},
                   {"id": 3, "frequency": "c", "image_count": 1, "instance_count": 1}],
}


def test_ov_converter_on_hand_built_json(tmp_path):
    out = make_ov_lvis_train(TINY)
    assert out == {
        "images": [{"id": 1}, {"id": 2}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1}, {"id": 3, "image_id": 2, "category_id": 3}],
        "categories": [{"id": 1, "frequency": "f", "image_count": 1, "instance_count": 1},
                       {"id": 2, "frequency": "r", "image_count": 0, "instance_count": 0},
                       {"id": 3, "frequency": "c", "image_count": 1, "instance_count": 1}]}
    assert [a["id"] for a in make_ov_lvis_train(TINY, ("r", "c"))["annotations"]] == [1]
    assert TINY["categories"][1]["image_count"] == 1  # input untouched
    src, dst = tmp_path / "in.json", tmp_path / "out.json"
    src.write_text(json.dumps(TINY))
    assert lvis_main(["--in", str(src), "--out", str(dst)]) == 0
    assert load_json(dst) == out


def test_ov_converter_bad_inputs(tmp_path, capsys):
    assert lvis_main(["--in", str(tmp_path / "missing.json"), "--out", str(tmp_path / "o.json")]) == 2
    assert "missing.json" in capsys.readouterr().err
    trunc = tmp_path / "trunc.json"
    trunc.write_text(json.dumps(TINY)[:50])
    assert lvis_main(["--in", str(trunc), "--out", str(tmp_path / "o.json")]) == 2
    assert "trunc.json" in capsys.readouterr().err and not (tmp_path / "o.json").exists()
    for name, data, field in (("nocats.json", {"images": [], "annotations": []}, "'categories'"),
                              ("nofreq.json", {**TINY, "categories": [{"id": 1}]}, r"categories\[0\].*'frequency'"),
                              ("nocatid.json", {**TINY, "annotations": [{"id": 1}]},
                               r"annotations\[0\].*'category_id'")):
        bad = tmp_path / name
        bad.write_text(json.dumps(data))
        assert lvis_main(["--in", str(bad), "--out", str(tmp_path / "o.json")]) == 2
        assert re.search(f"{name}.*{field}", capsys.readouterr().err)
        with pytest.raises(ValueError, match=field):
            make_ov_lvis_train(data)
    assert not (tmp_path / "o.json").exists()


def test_atomic_write_keeps_old_file_on_failure(tmp_path):
    from shared.io import atomic_path

    f = tmp_path / "result.json"
    atomic_write_text(f, "old")
    with pytest.raises(RuntimeError):
        with atomic_path(f) as tmp:
            tmp.write_text("half")
            raise RuntimeError("crash mid-write")
    assert f.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_ov_coco_converter(tmp_path):
    from shared.formats.coco import main as coco_main
    from shared.formats.coco import make_ov_coco

    inst = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"},
                                                   {"id": 5, "name": "kite"}],
            "annotations": [{"id": i, "image_id": 1, "category_id": c} for i, c in enumerate([1, 2, 5, 2], 1)]}
    out = make_ov_coco(inst, ["cat", "dog"], drop=["dog"])
    assert [c["name"] for c in out["categories"]] == ["cat", "dog"] and [a["id"] for a in out["annotations"]] == [1]
    assert [a["id"] for a in make_ov_coco(inst, ["cat", "dog"])["annotations"]] == [1, 2, 4]
    with pytest.raises(ValueError, match="not found"):
        make_ov_coco(inst, ["cat", "zebra"])
    src = tmp_path / "i.json"
    src.write_text(json.dumps(inst))
    (tmp_path / "c.json").write_text('["cat", "kite"]')
    assert coco_main(["--in", str(src), "--classes", str(tmp_path / "c.json"), "--out", str(tmp_path / "o.json")]) == 0
    assert len(load_json(tmp_path / "o.json")["annotations"]) == 2


def test_panoptic_reader_checks_pngs_and_json(world, tmp_path):
    from shared.formats.panoptic import load_panoptic_json, read_segment_ids

    data = load_panoptic_json(world.panoptic_val, world.panoptic_val_dir)
    rec = data["records"][0]
    size = (rec["image"]["height"], rec["image"]["width"])
    ids = read_segment_ids(rec["png"], rec["segments"], size)
    assert set(np.unique(ids)) - {0} == {s["id"] for s in rec["segments"]}
    with pytest.raises(ValueError, match="in the json but not in the PNG"):
        read_segment_ids(rec["png"], rec["segments"] + [{"id": 424242}], size)
    with pytest.raises(ValueError, match="in the PNG but not in the json"):
        read_segment_ids(rec["png"], rec["segments"][1:], size)
    with pytest.raises(ValueError, match="but its image is"):
        read_segment_ids(rec["png"], rec["segments"], (size[0] + 1, size[1]))
    with pytest.raises(FileNotFoundError, match="nope.png"):
        read_segment_ids(tmp_path / "nope.png", rec["segments"], size)
    raw = json.loads(world.panoptic_val.read_text())
    raw["annotations"][0]["segments_info"][0]["category_id"] = 999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"bad.json: .*\n  annotations\[0\].*segments_info\[0\].category_id 999 is not in"):
        load_panoptic_json(bad, world.panoptic_val_dir)
    trunc = tmp_path / "trunc.json"
    trunc.write_text(world.panoptic_val.read_text()[:100])
    with pytest.raises(ValueError, match="trunc.json"):
        load_panoptic_json(trunc, world.panoptic_val_dir)


@pytest.mark.parametrize("area,problem", [(-10, "-10 is not a number >= 0"), (-0.5, "-0.5 is not a number >= 0"),
                                          ("12", "'12' is not a number >= 0"),
                                          (float("nan"), "nan is not a number >= 0")])
def test_panoptic_reader_checks_segment_areas(world, tmp_path, area, problem):
    """The lvis api / COCO's area ranges read ``area``: a negative one would leave the ground truth silently."""
    from shared.formats.panoptic import load_panoptic_json
    from shared.formats.validate import DatasetError

    raw = json.loads(world.panoptic_val.read_text())
    seg = raw["annotations"][1]["segments_info"][0]
    seg["area"] = area
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(DatasetError) as e:
        load_panoptic_json(bad, world.panoptic_val_dir)
    assert (f"annotations[1] (image_id {raw['annotations'][1]['image_id']}): segments_info[0].area {problem} "
            f"(pixels of the object) (segment {seg['id']})") in str(e.value)
    kept = load_panoptic_json(bad, world.panoptic_val_dir, on_bad="skip")
    assert kept["skipped"] == 1 and len(kept["records"]) == len(raw["annotations"]) - 1
