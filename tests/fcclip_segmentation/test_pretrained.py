"""The FC-CLIP Python API: save_pretrained → from_pretrained restores identical outputs, set_classes with the
stuff marker, predict on every input type, draw."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from fcclip_segmentation import FCCLIP
from fcclip_segmentation.pretrained import split_stuff
from fcclip_helpers import make_config


@pytest.fixture(scope="module")
def model(fcclip_world, tmp_path_factory):
    torch.manual_seed(0)
    return FCCLIP.from_config(make_config(fcclip_world, tmp_path_factory.mktemp("fcclip_api")))


@pytest.fixture(scope="module")
def image(fcclip_world):
    return sorted(fcclip_world.images_val.glob("*.jpg"))[0]


def _same(a, b):
    np.testing.assert_array_equal(a["panoptic"], b["panoptic"])
    np.testing.assert_array_equal(a["semantic"], b["semantic"])
    assert a["segments"] == b["segments"]


def test_split_stuff():
    names, thing = split_stuff(["red circle,red disc", "sky*", "grass, lawn*"])
    assert names == ["red circle,red disc", "sky", "grass,lawn"] and thing.tolist() == [True, False, False]


def test_training_vocabulary_and_round_trip(model, image, tmp_path):
    assert len(model.class_names) == 16 and model.is_thing.tolist() == [True] * 12 + [False] * 4
    model.set_classes(["red circle", "blue square,blue box", "sky*", "grass*"])
    assert model.is_thing.tolist() == [True, True, False, False]
    assert model.seen.tolist() == [True, True, True, True]  # synonyms of the synthetic training classes
    ref = model.predict(image, score_threshold=0.0)
    assert ref["segments"], "the random model should still produce segments at threshold 0"
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m/config.json").read_text())
    assert cfg["kind"] == "fcclip" and cfg["backbone"]["included"]  # random-init CLIP: only here
    assert cfg["classes"] == ["red circle", "blue square,blue box", "sky*", "grass*"]
    card = (tmp_path / "m/README.md").read_text()  # the model card (no run: no training data, no metrics)
    assert "pipeline_tag: image-segmentation" in card and "# FC-CLIP open-vocabulary panoptic segmenter" in card
    assert "`3: sky*`" in card and "not recorded" in card and "No metrics recorded." in card
    loaded = FCCLIP.from_pretrained(tmp_path / "m")
    assert loaded.is_thing.tolist() == [True, True, False, False] and loaded.class_names == model.class_names
    _same(loaded.predict(image, score_threshold=0.0), ref)


def test_predict_outputs_and_input_types(model, image):
    model.set_classes("red circle;green square;sky*;grass*;purple star")
    assert model.seen.tolist()[4] is False  # not a training synonym: the out-of-vocabulary weight β
    pil = Image.open(image).convert("RGB")
    rgb = np.array(pil)
    ref = model.predict(image, score_threshold=0.0)
    h, w = rgb.shape[:2]
    assert ref["panoptic"].shape == (h, w) and ref["semantic"].shape == (h, w)
    assert set(np.unique(ref["semantic"])) <= set(range(5))
    for s in ref["segments"]:
        assert s["area"] == int((ref["panoptic"] == s["id"]).sum()) > 0
        assert s["label_name"] == ["red circle", "green square", "sky", "grass", "purple star"][s["label"]]
        assert s["isthing"] == (s["label"] not in (2, 3))
    for x in (pil, rgb, torch.from_numpy(rgb).permute(2, 0, 1).contiguous()):
        _same(model.predict(x, score_threshold=0.0), ref)
    both = model.predict([rgb, rgb[: h // 2]], score_threshold=0.0)
    assert both[0]["panoptic"].shape == (h, w) and both[1]["panoptic"].shape == (h // 2, w)
    high = model.predict(image, score_threshold=1.0)
    assert high["segments"] == [] and (high["panoptic"] == 0).all()
    pic = model.draw(image, ref)
    assert pic.size == (w, h) and not np.array_equal(np.asarray(pic), rgb)


def test_vocabulary_per_call_leaves_the_model_as_it_is(model, image):
    """``predict(classes=...)`` (stuff marks, ids) gives what ``set_classes`` + ``predict`` give, without changing
    the model's vocabulary, flags or ids."""
    model.set_classes("red circle;sky*", ids=[7, 8])
    own, own_flags = model.vocabulary, (model.is_thing.clone(), model.seen.clone())
    other = model.predict(image, score_threshold=0.0, classes="green square;purple star;grass*", ids=[1, 2, 3])
    assert model.vocabulary is own and model.class_names == ["red circle", "sky"] and model.category_ids == [7, 8]
    assert torch.equal(model.is_thing, own_flags[0]) and torch.equal(model.seen, own_flags[1])
    assert other["segments"] and {s["category_id"] for s in other["segments"]} <= {1, 2, 3}
    assert all(s["isthing"] == (s["category_id"] != 3) for s in other["segments"])
    model.set_classes("green square;purple star;grass*", ids=[1, 2, 3])
    _same(other, model.predict(image, score_threshold=0.0))
    model.set_classes(own)
    assert model.class_names == ["red circle", "sky"] and torch.equal(model.is_thing, own_flags[0])


def test_inference_runs_at_the_test_window_stride_and_leaves_the_backbone_as_it_is(model, image, monkeypatch):
    """``infer`` passes ``test_window_stride`` (64 in the tiny config; training 128) to the backbone for its call
    only: the backbone's options are never written, so a model shared by threads or a training loop keeps them."""
    seen = []
    forward = type(model.backbone).forward

    def spy(self, images, block_indices=None, window_stride=None):
        seen.append(window_stride)
        return forward(self, images, block_indices, window_stride)

    before = model.backbone.options.window_stride
    monkeypatch.setattr(type(model.backbone), "forward", spy)
    model.predict(image)
    assert seen == [model.cfg.test_window_stride] == [64] and model.backbone.options.window_stride == before


def test_batch_cli_output_is_read_back_by_the_panoptic_evaluator(model, fcclip_world, tmp_path):
    from fcclip_segmentation.metrics import panoptic_quality
    from fcclip_segmentation.predict import main
    from shared.formats.panoptic import load_panoptic_json, read_segment_ids

    model.save_pretrained(tmp_path / "pre")
    images = fcclip_world.images_val
    out = tmp_path / "out"
    classes = "red circle,red disc;green square;sky*;grass*"
    assert main(["--pretrained", str(tmp_path / "pre"), "--images", str(images / "00000[1-3].jpg"), "--classes",
                 classes, "--out", str(out), "--score-threshold", "0", "--vis", "--no-progress"]) == 0
    pan = json.loads((out / "panoptic.json").read_text())
    assert [c["name"] for c in pan["categories"]] == ["red circle", "green square", "sky", "grass"]
    assert [c["isthing"] for c in pan["categories"]] == [1, 1, 0, 0]
    data = load_panoptic_json(out / "panoptic.json", out / "panoptic")
    model.set_classes(classes)
    n_segments = 0
    for rec in data["records"]:
        h, w = rec["image"]["height"], rec["image"]["width"]
        ref = model.predict(images / rec["image"]["file_name"], score_threshold=0.0)
        np.testing.assert_array_equal(read_segment_ids(rec["png"], rec["segments"], (h, w)), ref["panoptic"])
        sem = np.asarray(Image.open(out / "semantic" / rec["png"].name))
        np.testing.assert_array_equal(sem, ref["semantic"])
        n_segments += len(rec["segments"])
    assert n_segments > 0
    # the repo's PQ code reads the files: the predictions scored against themselves are perfect
    pq = panoptic_quality(out / "panoptic.json", out / "panoptic.json", out / "panoptic", out / "panoptic")
    assert pq["All"]["pq"] == pytest.approx(1.0) and pq["All"]["n"] >= 1
    assert len(list((out / "vis").iterdir())) == 3
