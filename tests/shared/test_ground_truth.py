"""``--ann``: ids of real ground truth (panopticapi's sample: two COCO val2017 photos, COCO detection / LVIS-style /
COCO panoptic jsons) by file name and class name, and the image-path rules of the real layouts."""
import json

import pytest

from shared.formats.images import image_file
from shared.formats.validate import DatasetError
from shared.ground_truth import GroundTruth
from real_files import lay_out_like_the_configs

IDS = {"000000142238.jpg": 142238, "000000439180.jpg": 439180}


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return lay_out_like_the_configs(tmp_path_factory.mktemp("real"))


def test_image_file_rules():
    url = "http://images.cocodataset.org/val2017/000000397133.jpg"
    # COCO: file_name inside the split folder; the coco_url every real COCO json carries is not used
    assert image_file({"file_name": "000000397133.jpg", "coco_url": url}) == ("000000397133.jpg", "file_name")
    # LVIS v1: no file_name; <split>/<name> from coco_url (detectron2's LVIS loader), from either split
    assert image_file({"coco_url": url}) == ("val2017/000000397133.jpg", "coco_url")
    assert image_file({"coco_url": url.replace("val2017", "train2017")})[0] == "train2017/000000397133.jpg"
    with pytest.raises(ValueError, match="no file_name"):
        image_file({"id": 1})


def test_images_by_file_name_coco_lvis_and_panoptic(real):
    for key in ("detection", "lvis", "panoptic"):
        gt = GroundTruth(real[key])
        got = gt.match_images(sorted(IDS))
        assert {name: im["id"] for name, im in got.items()} == IDS, key
    lvis = GroundTruth(real["lvis"])  # the path below the LVIS image root matches exactly too
    assert lvis.match_images(["val2017/000000439180.jpg"])["val2017/000000439180.jpg"]["id"] == 439180
    with pytest.raises(DatasetError, match=r"input image holiday.jpg and 1 more not in its images"):
        GroundTruth(real["detection"]).match_images(["holiday.jpg", "000000142238.jpg", "x.jpg"])
    with pytest.raises(DatasetError, match="both match image 142238"):
        GroundTruth(real["detection"]).match_images(["a/000000142238.jpg", "b/000000142238.jpg"])


def test_categories_by_class_name(real):
    gt = GroundTruth(real["detection"])
    # COCO's ids have gaps: dog is 18, not its position in the list
    assert gt.match_classes(["dog", "person", "Dining_Table,table"]) == (["dog", "person", "Dining_Table,table"],
                                                                         [18, 1, 67])
    with pytest.raises(DatasetError, match="class 'unicorn' is not a category name"):
        gt.match_classes(["dog", "unicorn"])
    with pytest.raises(DatasetError, match="classes 'dog' and 'Dog,puppy' both name category 'dog'"):
        gt.match_classes(["dog", "Dog,puppy"])
    classes, ids = gt.vocabulary()
    assert ids == sorted(c["id"] for c in json.loads(real["detection"].read_text())["categories"])
    assert len(ids) == 133 and classes[:2] == ["person", "bicycle"]


def test_panoptic_categories_carry_stuff_marks(real):
    gt = GroundTruth(real["panoptic"])
    classes, ids = gt.vocabulary(stuff_marks=True)
    assert classes[0] == "person" and classes[-1] == "rug-merged*" and sum(c.endswith("*") for c in classes) == 53
    assert gt.match_classes(["sky-other-merged", "person"], stuff_marks=True) == (["sky-other-merged*", "person"],
                                                                                  [187, 1])
    with pytest.raises(DatasetError, match=r"'person\*' is marked stuff .* isthing 1"):
        gt.match_classes(["person*"], stuff_marks=True)
