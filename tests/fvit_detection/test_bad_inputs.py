"""Bad inputs give one clear error naming the file/field, or a documented, counted skip."""
import json

import pytest
import torch

from fvit_helpers import CONFIG, make_config
from fvit_detection.data import DetectionDataset
from fvit_detection.eval import main as eval_main
from shared.formats.validate import DatasetError

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _write(tmp_path, data, name="ann.json"):
    f = tmp_path / name
    f.write_text(json.dumps(data))
    return f


def _base(world):
    return json.loads(world.instances_train.read_text())


def test_missing_image_file_is_found_when_the_dataset_is_built(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["images"][0]["file_name"] = "nope.jpg"
    data["images"][0].pop("coco_url", None)
    ann = _write(tmp_path, data)
    with pytest.raises(DatasetError, match=r"images\[0\] \(id \d+\): file_name 'nope.jpg': image file not found: .*"
                                           r"train2017/nope.jpg"):
        DetectionDataset(ann, fvit_world.images_train, True, 128, MEAN, STD)
    ds = DetectionDataset(ann, fvit_world.images_train, True, 128, MEAN, STD, on_bad_record="skip")
    assert ds.skipped["bad_record"] == 1 and data["images"][0]["id"] not in {im["id"] for im in ds.images}
    assert len(ds.images) == len(DetectionDataset(fvit_world.instances_train, fvit_world.images_train, True, 128, MEAN,
                                                  STD).images) - 1


def test_bad_records_are_collected_in_one_pass_up_to_20(fvit_world, tmp_path):
    data = _base(fvit_world)
    anns, ims = data["annotations"], data["images"]
    anns[0]["bbox"] = [1, 2, 3]
    anns[1]["bbox"] = [0, 0, float("nan"), 3]
    anns[2]["bbox"] = [0, 0, -4, 3]
    anns[3]["category_id"] = 999
    anns[4]["image_id"] = 123456
    ims[1]["width"] = 0
    for a in anns[5:30]:
        a["bbox"] = "abc"
    with pytest.raises(DatasetError) as e:
        DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD)
    msg = str(e.value)
    assert "ann.json" in msg and "data.on_bad_record=skip" in msg
    for needle in (f"annotations[0] (id {anns[0]['id']}): bbox [1, 2, 3] is not 4 finite numbers",
                   f"annotations[1] (id {anns[1]['id']}): bbox [0, 0, nan, 3] is not 4 finite numbers",
                   f"annotations[2] (id {anns[2]['id']}): bbox [0, 0, -4, 3] has a negative width",
                   "category_id 999 is not in 'categories'", "image_id 123456 is not in 'images'",
                   f"images[1] (id {ims[1]['id']}): width 0 is not a positive number"):
        assert needle in msg, needle
    bad_anns = sum(a["image_id"] != ims[1]["id"] for a in anns[:30])  # image 1's annotations go with it
    assert f"{1 + bad_anns} bad records" in msg.splitlines()[0]
    assert len(msg.splitlines()) == 1 + 20 + 1 and msg.splitlines()[-1].strip() == f"… and {1 + bad_anns - 20} more"
    ds = DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD, on_bad_record="skip")
    assert ds.skipped["bad_record"] == 1 + bad_anns
    kept = [i for k in range(len(ds)) for i in ds.annotations(k)["ids"]]
    assert sorted(kept) == sorted(a["id"] for a in anns[30:] if a["image_id"] != ims[1]["id"])  # the rest, once


def test_duplicate_category_ids_are_an_error(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["categories"].append(dict(data["categories"][0]))
    with pytest.raises(DatasetError, match=f"category ids used more than once: \\[{data['categories'][0]['id']}\\]"):
        DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD, on_bad_record="skip")


def test_train_entry_point_prints_one_clean_error(fvit_world, tmp_path, capsys):
    from fvit_detection.train import main as train_main

    data = _base(fvit_world)
    data["annotations"][0]["bbox"] = None
    ann = _write(tmp_path, data)
    args = ["--config", CONFIG, f"data.train_ann={ann}", f"data.train_images={fvit_world.images_train}",
            f"data.val_ann={fvit_world.lvis_val}", f"data.val_images={fvit_world.images}",
            f"train.out_dir={tmp_path / 'run'}", f"text_cache={tmp_path / 'tc'}", "train.progress=false"]
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "annotations[0]" in err and "bbox None" in err and "Traceback" not in err


def test_bad_boxes_are_counted_skips(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["annotations"][0]["bbox"] = [5, 5, 0, 10]  # zero area
    data["annotations"][1]["bbox"] = [500, 500, 10, 10]  # outside the 128-px image
    data["annotations"][2]["bbox"] = [-10, -10, 30, 30]  # partly outside: clipped, kept
    ds = DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD)
    assert ds.skipped["zero_area_box"] == 1 and ds.skipped["box_outside_image"] == 1
    anns = ds.annotations([im["id"] for im in ds.images].index(data["annotations"][2]["image_id"]))
    assert anns["boxes"][anns["ids"].index(data["annotations"][2]["id"])].tolist() == [0.0, 0.0, 20.0, 20.0]
    kept = {i for k in range(len(ds)) for i in ds.annotations(k)["ids"]}
    assert data["annotations"][0]["id"] not in kept and data["annotations"][1]["id"] not in kept


def test_unknown_category_truncated_json_and_empty_list(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["annotations"][3]["category_id"] = 999
    with pytest.raises(ValueError, match=r"annotations\[3\].*category_id 999"):
        DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD)
    trunc = tmp_path / "trunc.json"
    trunc.write_text(fvit_world.instances_train.read_text()[:200])
    with pytest.raises(ValueError, match="trunc.json"):
        DetectionDataset(trunc, fvit_world.images_train, True, 128, MEAN, STD)
    with pytest.raises(ValueError, match="no usable images"):
        DetectionDataset(_write(tmp_path, {**data, "images": [], "annotations": []}, "empty.json"),
                         fvit_world.images_train, True, 128, MEAN, STD)
    with pytest.raises(ValueError, match="missing top-level field 'categories'"):
        DetectionDataset(_write(tmp_path, {"images": [], "annotations": []}, "nocat.json"), fvit_world.images_train,
                         True, 128, MEAN, STD)


def test_checkpoint_of_another_architecture_and_nothing_half_written(fvit_world, tmp_path, capsys):
    cfg_file = tmp_path / "cfg.yaml"
    from shared.engine import save_checkpoint, save_config

    save_config(make_config(fvit_world, tmp_path), cfg_file)
    save_checkpoint(tmp_path / "other.pt", {"model": {"roi_heads.temperature": torch.ones(3)}, "step": 1})
    out = tmp_path / "ev"
    assert eval_main(["--config", str(cfg_file), "--checkpoint", str(tmp_path / "other.pt"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "other.pt" in err and "not a checkpoint of this model" in err
    assert not out.exists()  # no results half-written
    assert eval_main(["--config", str(cfg_file), "--checkpoint", str(tmp_path / "missing.pt")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def _untrained_checkpoint(world, tmp_path):
    from fvit_detection.builder import build_model
    from shared.engine import save_checkpoint, save_config

    cfg = make_config(world, tmp_path / "run", "eval.max_images=2", "eval.iou_types=[bbox]")
    save_config(cfg, tmp_path / "cfg.yaml")
    save_checkpoint(tmp_path / "run" / "last.pt", {"model": build_model(cfg).checkpoint_state_dict(), "step": 0})
    return ["--config", str(tmp_path / "cfg.yaml"), "--checkpoint", str(tmp_path / "run" / "last.pt")]


def test_eval_output_checked_before_the_model_default_next_to_checkpoint_no_temp_files(fvit_world, tmp_path,
                                                                                        capsys, monkeypatch):
    import tempfile

    import fvit_detection.eval as ev

    args = _untrained_checkpoint(fvit_world, tmp_path)
    loaded = []
    real_load = ev.load_trained
    monkeypatch.setattr(ev, "load_trained", lambda *a: loaded.append(1) or real_load(*a))
    (tmp_path / "a_file").write_text("x")
    assert ev.main(args + ["--out", str(tmp_path / "a_file" / "ev")]) == 2  # a folder below a file
    assert "a_file/ev is not writable" in capsys.readouterr().err and not loaded  # before the model
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    assert ev.main(args) == 0  # eval.max_images=2, no --out
    out = tmp_path / "run" / "eval" / fvit_world.lvis_val.stem
    assert json.loads((out / "metrics.json").read_text())["num_images"] == 2
    assert str(out / "metrics.json") in capsys.readouterr().out  # says where the outputs went
    assert list(tmp.iterdir()) == []  # the max_images ground-truth subset was removed


def test_an_annotation_area_is_checked_like_the_other_fields(fvit_world, tmp_path):
    """``area: -10`` with a valid box was accepted without a word; the lvis api then drops the annotation from the
    ground truth (it keeps only positive finite areas), so the evaluation would silently change. Zero is accepted
    (degenerate objects in real files; the evaluators' own rules handle it)."""
    data = _base(fvit_world)
    anns = data["annotations"]
    anns[0]["area"], anns[1]["area"], anns[2]["area"], anns[4]["area"] = -10, "big", float("nan"), 0
    anns[3].pop("area")  # optional: training does not read it
    with pytest.raises(DatasetError) as e:
        DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD)
    msg = str(e.value)
    assert "3 bad records (3 problems;" in msg
    for k, v in ((0, "-10"), (1, "'big'"), (2, "nan")):
        assert f"annotations[{k}] (id {anns[k]['id']}): area {v} is not a number >= 0 (pixels of the object)" in msg
    assert f"annotations[4] " not in msg
    ds = DetectionDataset(_write(tmp_path, data), fvit_world.images_train, True, 128, MEAN, STD, on_bad_record="skip")
    assert ds.skipped["bad_record"] == 3
