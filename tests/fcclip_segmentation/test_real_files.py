"""FC-CLIP predict on real files nobody on the team wrote: panopticapi's sample (two COCO val2017 photos with their
official COCO-panoptic json + PNGs) laid out as COCO ships them. With ``--ann`` the panoptic json's image ids, file
names, category ids and isthing are the ground truth's, and the project's PQ reads it against the real ground truth
with no remapping."""
import json

import pytest
import torch

from fcclip_helpers import make_config
from fcclip_segmentation import FCCLIP
from fcclip_segmentation.metrics import panoptic_quality
from fcclip_segmentation.predict import main as predict_main
from real_files import lay_out_like_the_configs


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return lay_out_like_the_configs(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="module")
def pretrained(fcclip_world, tmp_path_factory):
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("fcclip_real")
    model = FCCLIP.from_config(make_config(fcclip_world, out), class_names=["person", "sky*"])
    return model.save_pretrained(out / "pre"), model


def test_predict_with_ann_evaluates_against_the_real_panoptic_ground_truth(real, pretrained, tmp_path):
    pretrained, model = pretrained
    out = tmp_path / "out"
    # "sky-other-merged" is stuff in the json: it gets the stuff mark from isthing, not from the user
    assert predict_main(["--pretrained", str(pretrained), "--images", str(real["val2017"]), "--ann",
                         str(real["panoptic"]), "--classes", "person;sky-other-merged,sky;dog",
                         "--score-threshold", "0", "--out", str(out), "--no-progress"]) == 0
    pred = json.loads((out / "panoptic.json").read_text())
    gt = json.loads(real["panoptic"].read_text())
    gt_cats = {c["id"]: c for c in gt["categories"]}
    assert [(c["id"], c["name"], c["isthing"]) for c in pred["categories"]] == [
        (1, "person", 1), (187, "sky-other-merged", 0), (18, "dog", 1)]
    assert sorted((im["id"], im["file_name"]) for im in pred["images"]) == sorted(
        (im["id"], im["file_name"]) for im in gt["images"])
    assert sorted((a["image_id"], a["file_name"]) for a in pred["annotations"]) == sorted(
        (a["image_id"], a["file_name"]) for a in gt["annotations"])  # the PNGs are named as COCO's
    segments = [s for a in pred["annotations"] for s in a["segments_info"]]
    assert segments and {s["category_id"] for s in segments} <= {1, 187, 18}
    assert all(s["isthing"] == gt_cats[s["category_id"]]["isthing"] for s in segments)
    pq = panoptic_quality(real["panoptic"], out / "panoptic.json", real["panoptic_png"], out / "panoptic")
    # scored as it is, no remapping: every class with a (non-crowd) ground-truth or a predicted segment counts
    present = {s["category_id"] for a in gt["annotations"] for s in a["segments_info"] if not s["iscrowd"]}
    assert pq["All"]["n"] == len(present | {s["category_id"] for s in segments}) and 0 <= pq["All"]["pq"] <= 1
    # the API gives the same ids
    model.set_classes(["person", "sky-other-merged,sky*", "dog"], [1, 187, 18])
    r = model.predict(real["val2017"] / "000000142238.jpg", score_threshold=0.0)
    assert [s["category_id"] for s in r["segments"]] == [[1, 187, 18][s["label"]] for s in r["segments"]]
