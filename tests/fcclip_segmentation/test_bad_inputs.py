"""FC-CLIP inputs are validated in one pass when the dataset is built: problems collected with file, record and
field, or skipped and counted; the train entry point prints one clean error."""
import json

import pytest

from fcclip_helpers import make_config, write_semantic_labels
from fcclip_segmentation.data import PanopticDataset, SemanticSegDataset
from shared.formats.validate import DatasetError

MEAN = STD = (0.5, 0.5, 0.5)


def _bad_panoptic(world, tmp_path):
    data = json.loads(world.panoptic_train.read_text())
    anns = data["annotations"]
    anns[0]["file_name"] = "nope.png"
    anns[1]["segments_info"][0]["category_id"] = 999
    anns[2]["image_id"] = 777777
    anns[3]["segments_info"][0]["id"] = "x"
    f = tmp_path / "pan.json"
    f.write_text(json.dumps(data))
    return f, data


def test_panoptic_problems_are_collected_and_skippable(fcclip_world, tmp_path):
    w = fcclip_world
    f, data = _bad_panoptic(w, tmp_path)
    anns = data["annotations"]
    with pytest.raises(DatasetError) as e:
        PanopticDataset(f, w.panoptic_train_dir, w.images_train, True, 128, MEAN, STD)
    msg = str(e.value)
    assert msg.splitlines()[0].startswith(f"{f}: 4 bad annotations")
    for needle in (f"annotations[0] (image_id {anns[0]['image_id']}): file_name panoptic PNG not found: "
                   f"{w.panoptic_train_dir / 'nope.png'}",
                   f"annotations[1] (image_id {anns[1]['image_id']}): segments_info[0].category_id 999 is not in",
                   "annotations[2] (image_id 777777): image_id 777777 is not in 'images'",
                   f"annotations[3] (image_id {anns[3]['image_id']}): segments_info[0].id 'x' is not an integer"):
        assert needle in msg, needle
    ds = PanopticDataset(f, w.panoptic_train_dir, w.images_train, True, 128, MEAN, STD, on_bad_record="skip")
    assert ds.skipped == 4 and len(ds) == len(anns) - 4
    assert {r["image"]["id"] for r in ds.records} == {a["image_id"] for a in anns[4:]}
    # a missing image file is found when the set is built, not at its first use
    with pytest.raises(DatasetError, match=r"annotations\[0\] .*image image not found: .*missing"):
        _missing_image_set(w, tmp_path)


def _missing_image_set(w, tmp_path):
    data = json.loads(w.panoptic_val.read_text())
    first = min(data["annotations"], key=lambda a: a["image_id"])
    im = next(i for i in data["images"] if i["id"] == first["image_id"])
    im["file_name"] = "missing.jpg"
    data["annotations"].remove(first)
    data["annotations"].insert(0, first)
    f = tmp_path / "val.json"
    f.write_text(json.dumps(data))
    return PanopticDataset(f, w.panoptic_val_dir, w.images_val, False, 128, MEAN, STD)


def test_duplicate_category_ids_are_an_error(fcclip_world, tmp_path):
    data = json.loads(fcclip_world.panoptic_val.read_text())
    data["categories"].append(dict(data["categories"][2]))
    f = tmp_path / "dup.json"
    f.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=rf"dup.json: bad categories:\n  category ids used more than once: "
                                           rf"\[{data['categories'][2]['id']}\]"):
        PanopticDataset(f, fcclip_world.panoptic_val_dir, fcclip_world.images_val, False, 128, MEAN, STD,
                        on_bad_record="skip")


def test_semantic_set_checks_every_image_when_built(fcclip_world, tmp_path):
    labels = write_semantic_labels(fcclip_world, tmp_path / "sem")
    stems = sorted(p.stem for p in labels.glob("*.png"))
    (labels / "orphan.png").write_bytes((labels / f"{stems[0]}.png").read_bytes())
    args = (fcclip_world.images_val, labels, fcclip_world.classnames_panoptic, 128, MEAN, STD)
    with pytest.raises(DatasetError, match=r"1 bad label maps .*\n  label map orphan.png: image no image for label "
                                           r"map orphan"):
        SemanticSegDataset(*args)
    ds = SemanticSegDataset(*args, on_bad_record="skip")
    assert ds.skipped == 1 and len(ds) == len(stems)


def test_train_entry_point_prints_one_clean_error(fcclip_world, tmp_path, capsys):
    from fcclip_segmentation.demo import CONFIG, synthetic_overrides
    from fcclip_segmentation.train import main as train_main

    f, _ = _bad_panoptic(fcclip_world, tmp_path)
    overrides = synthetic_overrides(fcclip_world, tmp_path / "run") + [f"data.train_json={f}", "train.progress=false"]
    assert train_main(["--config", str(CONFIG), *overrides]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope.png" in err and "Traceback" not in err
    assert make_config(fcclip_world, tmp_path / "run2", "data.on_bad_record=skip").data.on_bad_record == "skip"
