"""Every F-ViT entry point reads a photo as shown: an EXIF-rotated JPEG gives what its upright version gives, a
16-bit PNG what its 8-bit version gives — the API (paths and PIL images), the web app's handler, the predict CLI
and the dataset (the variants: tests/photo_variants.py, from a real photo)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fvit_detection import FViT
from fvit_helpers import make_config
from photo_variants import PAIRS, write_variants
from real_files import real_photo

CLASSES = "cat,cheetah;grass;sky"


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return write_variants(real_photo("cheetah.jpg"), tmp_path_factory.mktemp("photos"))


@pytest.fixture(scope="module")
def model(fvit_world, tmp_path_factory):
    torch.manual_seed(0)
    m = FViT.from_config(make_config(fvit_world, tmp_path_factory.mktemp("fvit_photos"), "model.score_thresh=0.0"))
    torch.manual_seed(1)
    with torch.no_grad():  # the heads' random init gives every box the same score: spread them out
        for p in m.roi_heads.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m.set_classes(CLASSES)


def _same(a, b):
    for k in ("boxes", "scores", "labels", "masks"):
        np.testing.assert_array_equal(a[k], b[k])


@pytest.mark.parametrize("variant, plain", PAIRS)
def test_api_and_app_read_the_variant_as_its_plain_photo(model, variants, variant, plain):
    from fvit_detection.app import detect

    shown = (502, 343) if variant == "rotated.jpg" else (343, 502)  # (H, W): the photo is 502 wide, 343 high
    ref = model.predict(variants[plain])
    assert len(ref["scores"]) > 0 and ref["masks"].shape[1:] == shown
    _same(model.predict(variants[variant]), ref)
    with Image.open(variants[variant]) as pil:
        _same(model.predict(pil), ref)
    score = float(np.sort(ref["scores"])[-5])  # the app draws the five best
    picture, rows, _ = detect(model, str(variants[variant]), CLASSES, score)
    ref_picture, ref_rows, _ = detect(model, str(variants[plain]), CLASSES, score)
    assert rows == ref_rows and len(rows) == 5
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(ref_picture))


def test_predict_cli_reads_variants_as_plain_photos(model, variants, tmp_path):
    """Two folders, the plain photos and their variants in the same order: identical results and sizes."""
    from fvit_detection.predict import main

    model.save_pretrained(tmp_path / "model")
    outs = []
    for k, names in enumerate(zip(*PAIRS)):  # (variants), (plain photos)
        folder = tmp_path / f"images{k}"
        folder.mkdir()
        for i, name in enumerate(names):
            (folder / f"{i}_{name}").write_bytes(variants[name].read_bytes())
        assert main(["--pretrained", str(tmp_path / "model"), "--images", str(folder), "--out",
                     str(tmp_path / f"out{k}"), "--no-progress"]) == 0
        outs.append(tmp_path / f"out{k}")
    results = [json.loads((o / "results.json").read_text()) for o in outs]
    assert results[0] == results[1] and len(results[0]) > 0
    sizes = [[(im["height"], im["width"]) for im in json.loads((o / "images.json").read_text())] for o in outs]
    assert sizes[0] == sizes[1] == [(502, 343), (343, 502)]  # the shown sizes


def test_dataset_reads_variants_as_plain_photos(variants, tmp_path):
    from fvit_detection.data.dataset import DetectionDataset

    names = [n for pair in PAIRS for n in pair]
    shapes = {n: np.asarray(Image.open(variants[n])).shape[:2] for n in ("upright.png", "grey8.png")}
    shapes |= {"rotated.jpg": shapes["upright.png"], "grey16.png": shapes["grey8.png"]}
    ann = {"images": [{"id": i + 1, "file_name": n, "height": shapes[n][0], "width": shapes[n][1]}
                      for i, n in enumerate(names)],
           "annotations": [{"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": [20, 30, 100, 80], "area": 8000,
                            "iscrowd": 0} for i in range(len(names))],
           "categories": [{"id": 1, "name": "cheetah"}]}
    (tmp_path / "ann.json").write_text(json.dumps(ann))
    ds = DetectionDataset(tmp_path / "ann.json", variants["upright.png"].parent, train=False, size=128,
                          mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    for k in (0, 2):  # (variant, plain) pairs
        a, b = ds[k], ds[k + 1]
        assert a["image_size"] == b["image_size"]
        torch.testing.assert_close(a["image"], b["image"], rtol=0, atol=0)
