"""FC-CLIP data: class-name assignment, label maps (PNG / uint16 TIFF), the semantic-only dataset, the registry."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fcclip_helpers import write_semantic_labels
from fcclip_segmentation.data import (EVAL_DATASETS, PanopticDataset, SemanticSegDataset, assign_class_names,
                                      dataset_overrides, read_class_names, read_label_map)
from fcclip_segmentation.data.dataset import eval_input
from fcclip_segmentation.data.registry import CLASSNAMES, find_dataset
from shared.formats.panoptic import id_to_rgb

MEAN = STD = (0.5, 0.5, 0.5)


def test_assign_class_names_by_id_or_by_order():
    names = {0: "wall", 5: "cat,kitty"}
    assert assign_class_names(names, [5, 0], "f") == ["cat,kitty", "wall"]  # by id
    assert assign_class_names({1: "a", 2: "b", 3: "c"}, [0, 1, 2], "f") == ["a", "b", "c"]  # ADE: index = id + 1
    with pytest.raises(ValueError, match="f: 2 class names for 3 dataset classes.*id 7"):
        assign_class_names(names, [0, 5, 7], "f")


def test_read_class_names_rejects_duplicates_and_bad_index(tmp_path):
    f = tmp_path / "n.txt"
    f.write_text("0:invalid_class_id\n1:cat, kitty\n2:dog")
    assert read_class_names(f) == {1: "cat,kitty", 2: "dog"}
    f.write_text("1:cat\n1:dog")
    with pytest.raises(ValueError, match="n.txt:2: index 1 appears twice"):
        read_class_names(f)
    f.write_text("one:cat")
    with pytest.raises(ValueError, match="n.txt:1: index 'one' is not an integer"):
        read_class_names(f)


def test_read_label_map_uint16_tiff_and_palette_png(tmp_path):
    a = np.array([[0, 300], [65535, 846]], np.uint16)
    Image.fromarray(a).save(tmp_path / "a.tif")
    got = read_label_map(tmp_path / "a.tif")
    assert got.dtype == np.int64 and got.tolist() == a.tolist()
    p = Image.fromarray(np.array([[1, 2], [255, 0]], np.uint8)).convert("P")
    p.save(tmp_path / "p.png")
    assert read_label_map(tmp_path / "p.png").tolist() == [[1, 2], [255, 0]]
    Image.new("RGB", (2, 2)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match="rgb.png: label maps must be single-channel"):
        read_label_map(tmp_path / "rgb.png")


def test_semantic_dataset_reads_tiff_labels_at_original_size(fcclip_world, tmp_path):
    labels = write_semantic_labels(fcclip_world, tmp_path / "tif", ".tif", 65535)
    ds = SemanticSegDataset(fcclip_world.images_val, labels, fcclip_world.classnames_panoptic, 64, MEAN, STD,
                            ignore_label=65535, label_suffix=".tif")
    s = ds[0]
    gt = read_label_map(sorted(labels.glob("*.tif"))[0])
    assert s["image"].shape == (3, 64, 64) and max(s["image_size"]) == 64
    assert s["orig_size"] == gt.shape and np.array_equal(s["sem_gt"], gt) and (gt == 65535).any()
    assert len(ds.class_names) == len(read_class_names(fcclip_world.classnames_panoptic))


def test_eval_input_resizes_long_side_and_pads_mean_or_black():
    image = np.full((30, 60, 3), 255, np.uint8)
    x, size = eval_input(image, 80, MEAN, STD)
    assert size == (40, 80) and x.shape == (3, 80, 80) and (x[:, :40] == 1.0).all() and (x[:, 40:] == 0).all()
    x, _ = eval_input(image, 80, MEAN, STD, pad="black")
    assert (x[:, :40] == 1.0).all() and (x[:, 40:] == -1.0).all()  # (0 − 0.5) / 0.5: the reference's canvas


def test_semantic_dataset_bad_inputs(fcclip_world, tmp_path):
    w = fcclip_world
    labels = write_semantic_labels(w, tmp_path / "png")
    first = sorted(labels.glob("*.png"))[0]
    gt = read_label_map(first)

    def ds():
        return SemanticSegDataset(w.images_val, labels, w.classnames_panoptic, 64, MEAN, STD)

    Image.fromarray(gt[:-1].astype(np.uint8)).save(first)  # one row short
    with pytest.raises(ValueError, match=rf"{first.name}: label map is {gt.shape[0] - 1}×{gt.shape[1]} but"):
        ds()[0]
    bad = gt.astype(np.uint8)
    bad[0, 0] = 200
    Image.fromarray(bad).save(first)
    with pytest.raises(ValueError, match=rf"{first.name}: label 200 is neither a class .* nor the ignore label 255"):
        ds()[0]
    first.rename(labels / "000000_missing.png")
    with pytest.raises(ValueError, match="no image for label map 000000_missing"):  # when the set is built
        ds()
    with pytest.raises(FileNotFoundError, match="label folder not found"):
        SemanticSegDataset(w.images_val, tmp_path / "nothing", w.classnames_panoptic, 64, MEAN, STD)
    with pytest.raises(ValueError, match="no label maps ending in '.tif'"):
        SemanticSegDataset(w.images_val, labels, w.classnames_panoptic, 64, MEAN, STD, label_suffix=".tif")


def test_registry_resolves_paths_aliases_and_reports_missing_files(tmp_path):
    assert find_dataset("ade20k_panoptic_val") is find_dataset("openvocab_ade20k_panoptic_val") is \
        EVAL_DATASETS["ade20k_150"]  # detectron2's / FC-CLIP's names
    ds = find_dataset("openvocab_pascal_ctx459_sem_seg_val")
    assert ds is EVAL_DATASETS["pascal_context_459"] and ds.task == "semantic"
    with pytest.raises(FileNotFoundError, match=r"'pascal_context_459' under data root .*pascal_ctx_d2/images/validation"):
        dataset_overrides("pascal_context_459", tmp_path)
    (tmp_path / ds.images).mkdir(parents=True)
    (tmp_path / ds.sem_seg).mkdir(parents=True)
    o = dict(x.split("=", 1) for x in dataset_overrides("pascal_context_459", tmp_path))
    assert o["data.val_task"] == "semantic" and o["data.val_label_suffix"] == ".tif"
    assert o["data.val_ignore_label"] == "65535" and o["data.val_sem_seg"] == str(tmp_path / ds.sem_seg)
    assert Path(o["data.val_class_names"]).parent == CLASSNAMES
    ade = EVAL_DATASETS["ade20k_150"]
    for rel in (ade.images, ade.panoptic_png):
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / ade.panoptic_json).write_text("{}")
    o = dict(x.split("=", 1) for x in dataset_overrides("ade20k_150", tmp_path))
    assert o["data.val_sem_seg"] == o["data.val_instances"] == "null"  # optional, absent
    (tmp_path / ade.sem_seg).mkdir(parents=True)
    assert dict(x.split("=", 1) for x in dataset_overrides("ade20k_150", tmp_path))["data.val_sem_seg"] == \
        str(tmp_path / ade.sem_seg)
    with pytest.raises(ValueError, match="unknown dataset 'ade'; known: ade20k_150, coco"):
        find_dataset("ade")


@pytest.mark.parametrize("name", sorted(EVAL_DATASETS))
def test_registered_class_name_files_are_shipped(name):
    ds = EVAL_DATASETS[name]
    assert len(read_class_names(CLASSNAMES / ds.class_names)) > 0


def test_training_crop_keeps_segments_it_empties_as_all_zero_masks(tmp_path):
    """A 20×40 image with a thing at columns 0-4, a crowd segment and a stuff segment at columns 35-39, fitted into
    40 px and cropped to 20×20: no crop holds both ends, yet both non-crowd segments stay targets (json order,
    labels = category positions) — the emptied one as an all-zero mask, as the reference mapper keeps it."""
    ids = np.zeros((20, 40), np.int64)
    ids[:, :5], ids[:10, 20:25], ids[:, 35:] = 1, 2, 3
    (tmp_path / "png").mkdir()
    (tmp_path / "images").mkdir()
    Image.fromarray(id_to_rgb(ids)).save(tmp_path / "png" / "1.png")
    Image.new("RGB", (40, 20), (90, 120, 150)).save(tmp_path / "images" / "1.jpg")
    cats = [{"id": 7, "name": "thing", "isthing": 1}, {"id": 9, "name": "stuff", "isthing": 0}]
    segs = [{"id": 1, "category_id": 7, "iscrowd": 0}, {"id": 2, "category_id": 7, "iscrowd": 1},
            {"id": 3, "category_id": 9, "iscrowd": 0}]
    (tmp_path / "pan.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "1.jpg", "height": 20, "width": 40}], "categories": cats,
        "annotations": [{"image_id": 1, "file_name": "1.png", "segments_info": segs}]}))
    ds = PanopticDataset(tmp_path / "pan.json", tmp_path / "png", tmp_path / "images", True, 20, MEAN, STD,
                         scale_range=(2.0, 2.0))
    dropping = PanopticDataset(tmp_path / "pan.json", tmp_path / "png", tmp_path / "images", True, 20, MEAN, STD,
                               scale_range=(2.0, 2.0), drop_emptied_segments=True)
    empties = 0
    for seed in range(6):
        t = ds[0, seed]["target"]
        assert t["labels"].tolist() == [0, 1] and t["masks"].shape == (2, 20, 20)
        area = t["masks"].flatten(1).sum(1).tolist()
        assert all(a % 20 == 0 and a <= 20 * 5 for a in area)  # full-height columns of the 5-column segments
        empties += area.count(0)
        # the option drops exactly the emptied ones (same seed, same crop)
        d, kept = dropping[0, seed]["target"], [i for i, a in enumerate(area) if a]
        assert d["labels"].tolist() == t["labels"][kept].tolist() and torch.equal(d["masks"], t["masks"][kept])
    assert empties >= 6  # at least one of the two is outside every crop
