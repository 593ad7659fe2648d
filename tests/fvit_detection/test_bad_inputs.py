"""Bad inputs give one clear error naming the file/field, or a documented, counted skip."""
import json

import pytest
import torch

from fvit_helpers import make_config
from fvit_detection.data import DetectionDataset
from fvit_detection.eval import main as eval_main

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def _write(tmp_path, data, name="ann.json"):
    f = tmp_path / name
    f.write_text(json.dumps(data))
    return f


def _base(world):
    return json.loads(world.instances_train.read_text())


def test_missing_image_file_names_it(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["images"][0]["file_name"] = "train/nope.jpg"
    ds = DetectionDataset(_write(tmp_path, data), fvit_world.images, True, 128, MEAN, STD)
    idx = next(i for i, im in enumerate(ds.images) if im["file_name"] == "train/nope.jpg")
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        ds[idx]


def test_bad_boxes_are_counted_skips(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["annotations"][0]["bbox"] = [5, 5, 0, 10]  # zero area
    data["annotations"][1]["bbox"] = [500, 500, 10, 10]  # outside the 128-px image
    data["annotations"][2]["bbox"] = [-10, -10, 30, 30]  # partly outside: clipped, kept
    ds = DetectionDataset(_write(tmp_path, data), fvit_world.images, True, 128, MEAN, STD)
    assert ds.skipped["zero_area_box"] == 1 and ds.skipped["box_outside_image"] == 1
    kept = [b for a, b in ds.anns[data["annotations"][2]["image_id"]] if a["id"] == data["annotations"][2]["id"]]
    assert kept == [[0.0, 0.0, 20, 20]]


def test_unknown_category_truncated_json_and_empty_list(fvit_world, tmp_path):
    data = _base(fvit_world)
    data["annotations"][3]["category_id"] = 999
    with pytest.raises(ValueError, match=r"annotations\[3\].*category_id 999"):
        DetectionDataset(_write(tmp_path, data), fvit_world.images, True, 128, MEAN, STD)
    trunc = tmp_path / "trunc.json"
    trunc.write_text(fvit_world.instances_train.read_text()[:200])
    with pytest.raises(ValueError, match="trunc.json"):
        DetectionDataset(trunc, fvit_world.images, True, 128, MEAN, STD)
    with pytest.raises(ValueError, match="no usable images"):
        DetectionDataset(_write(tmp_path, {**data, "images": [], "annotations": []}, "empty.json"),
                         fvit_world.images, True, 128, MEAN, STD)
    with pytest.raises(ValueError, match="missing top-level field 'categories'"):
        DetectionDataset(_write(tmp_path, {"images": [], "annotations": []}, "nocat.json"), fvit_world.images,
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
