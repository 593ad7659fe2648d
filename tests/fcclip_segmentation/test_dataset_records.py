"""PanopticDataset keeps its records packed (``shared.packed``) and gives the same records and samples as the Python
list it replaced (``benchmarks/dataset_reference.py``), bit for bit."""
import json

import numpy as np
import torch

from benchmarks.dataset_reference import ListPanopticDataset
from fcclip_segmentation.data import PanopticDataset
from shared.formats.panoptic import load_panoptic_json
from shared.packed import PackedList

MEAN = STD = (0.5, 0.5, 0.5)


def _same(a, b):
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


def test_records_and_samples_are_those_of_the_list_layout(fcclip_world, tmp_path):
    w = fcclip_world
    data = json.loads(w.panoptic_train.read_text())
    data["annotations"][0]["segments_info"][0]["iscrowd"] = 1  # left out of the training targets
    f = tmp_path / "pan.json"
    f.write_text(json.dumps(data))
    args = (f, w.panoptic_train_dir, w.images_train, True, 96, MEAN, STD)
    new, old = PanopticDataset(*args), ListPanopticDataset(*args)
    assert isinstance(new.records, PackedList) and isinstance(old.records, list) and len(new) == len(old) == 32
    expect = load_panoptic_json(f, w.panoptic_train_dir)["records"]  # in image-id order, with Path PNGs
    assert list(new.records) == old.records == expect and new.records[:3] == expect[:3]
    assert new.records[-1] == expect[-1] and new.records[::-5] == expect[::-5]
    for i in range(len(new)):
        a, b = new[(i, 7 + i)], old[(i, 7 + i)]
        assert _same(a, b), i
    assert len(new[(0, 7)]["target"]["labels"]) == sum(not s.get("iscrowd", 0) for s in expect[0]["segments"])


def test_test_samples_with_semantic_ground_truth_are_those_of_the_list_layout(fcclip_world):
    w = fcclip_world
    args = (w.panoptic_val, w.panoptic_val_dir, w.images_val, False, 96, MEAN, STD)
    new, old = PanopticDataset(*args), ListPanopticDataset(*args)
    assert len(new) == len(old) == 12
    for i in range(len(new)):
        a, b = new[(i, 0)], old[(i, 0)]
        assert _same(a, b) and (a["sem_gt"] != 255).any(), i
