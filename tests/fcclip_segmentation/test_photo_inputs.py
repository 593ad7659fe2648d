"""Every FC-CLIP entry point reads a photo as shown: an EXIF-rotated JPEG gives what its upright version gives, a
16-bit PNG what its 8-bit version gives — the API (paths and PIL images), the web app's handler, the predict CLI
and the panoptic dataset (the variants: tests/photo_variants.py, from a real photo)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fcclip_helpers import make_config
from fcclip_segmentation import FCCLIP
from photo_variants import PAIRS, write_variants
from real_files import real_photo

CLASSES = "cat,cheetah;grass*;sky*"


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return write_variants(real_photo("cheetah.jpg"), tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def model(fcclip_world, tmp_path_factory):
    torch.manual_seed(0)
    return FCCLIP.from_config(make_config(fcclip_world, tmp_path_factory.mktemp("fcclip_photos"))).set_classes(CLASSES)


def _same(a, b):
    np.testing.assert_array_equal(a["panoptic"], b["panoptic"])
    np.testing.assert_array_equal(a["semantic"], b["semantic"])
    assert a["segments"] == b["segments"]


@pytest.mark.parametrize("variant, plain", PAIRS)
def test_api_and_app_read_the_variant_as_its_plain_photo(model, variants, variant, plain):
    from fcclip_segmentation.app import segment

    shown = (502, 343) if variant == "rotated.jpg" else (343, 502)  # (H, W): the photo is 502 wide, 343 high
    ref = model.predict(variants[plain])  # the model's threshold, as the app uses
    assert ref["segments"] and ref["panoptic"].shape == shown
    _same(model.predict(variants[variant]), ref)
    with Image.open(variants[variant]) as pil:
        _same(model.predict(pil), ref)
    picture, rows, _ = segment(model, str(variants[variant]), CLASSES)
    assert [r[1] for r in rows] == [s["label_name"] for s in ref["segments"]]
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(model.draw(variants[plain], ref)))


def test_predict_cli_reads_variants_as_plain_photos(model, variants, tmp_path):
    """Two folders, the plain photos and their variants in the same order: identical segments, sizes, PNGs."""
    from fcclip_segmentation.predict import main

    model.save_pretrained(tmp_path / "model")
    outs = []
    for k, names in enumerate(zip(*PAIRS)):  # (variants), (plain photos)
        folder = tmp_path / f"images{k}"
        folder.mkdir()
        for i, name in enumerate(names):
            (folder / f"{i}_{name}").write_bytes(variants[name].read_bytes())
        assert main(["--pretrained", str(tmp_path / "model"), "--images", str(folder), "--out",
                     str(tmp_path / f"out{k}"), "--score-threshold", "0", "--no-progress"]) == 0
        outs.append(tmp_path / f"out{k}")
    pan = [json.loads((o / "panoptic.json").read_text()) for o in outs]
    assert [(im["height"], im["width"]) for im in pan[0]["images"]] == [(502, 343), (343, 502)]  # shown sizes
    assert [(im["height"], im["width"]) for im in pan[1]["images"]] == [(502, 343), (343, 502)]
    assert [a["segments_info"] for a in pan[0]["annotations"]] == [a["segments_info"] for a in pan[1]["annotations"]]
    assert any(a["segments_info"] for a in pan[0]["annotations"])
    for kind in ("panoptic", "semantic"):
        for a, b in zip(*(sorted((o / kind).glob("*.png")) for o in outs)):
            np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_panoptic_dataset_reads_variants_as_plain_photos(variants, tmp_path):
    """The photos through the training/eval dataset; the panoptic PNGs (not photos) are read as stored."""
    from fcclip_segmentation.data.dataset import PanopticDataset
    from shared.formats.panoptic import id_to_rgb

    names = [n for pair in PAIRS for n in pair]
    shapes = {n: np.asarray(Image.open(variants[n])).shape[:2] for n in ("upright.png", "grey8.png")}
    shapes |= {"rotated.jpg": shapes["upright.png"], "grey16.png": shapes["grey8.png"]}
    (tmp_path / "pan").mkdir()
    anns = []
    for i, n in enumerate(names):
        h, w = shapes[n]
        ids = np.full((h, w), 7, np.int64)
        ids[h // 4:h // 2, w // 4:w // 2] = 8
        Image.fromarray(id_to_rgb(ids)).save(tmp_path / "pan" / f"{i}.png")
        anns.append({"image_id": i + 1, "file_name": f"{i}.png", "segments_info": [
            {"id": 7, "category_id": 2, "iscrowd": 0, "area": int((ids == 7).sum()), "bbox": [0, 0, w, h]},
            {"id": 8, "category_id": 1, "iscrowd": 0, "area": int((ids == 8).sum()),
             "bbox": [w // 4, h // 4, w // 2 - w // 4, h // 2 - h // 4]}]})
    data = {"images": [{"id": i + 1, "file_name": n, "height": shapes[n][0], "width": shapes[n][1]}
                       for i, n in enumerate(names)],
            "annotations": anns,
            "categories": [{"id": 1, "name": "cheetah", "isthing": 1}, {"id": 2, "name": "grass", "isthing": 0}]}
    (tmp_path / "pan.json").write_text(json.dumps(data))
    ds = PanopticDataset(tmp_path / "pan.json", tmp_path / "pan", variants["upright.png"].parent, train=False,
                         size=128, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    for k in (0, 2):  # (variant, plain) pairs
        a, b = ds[k], ds[k + 1]
        assert a["image_size"] == b["image_size"] and a["orig_size"] == shapes[names[k]]
        torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=0)
        np.testing.assert_array_equal(a["sem_gt"], b["sem_gt"])
