"""The F-ViT Python API: save_pretrained → from_pretrained restores identical outputs (with and without the CLIP
weights in the folder), set_classes, predict on every input type, draw."""
import json

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from fvit_detection import FViT, PretrainedError
from fvit_helpers import make_config


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory, tiny_backbone):
    """A local CLIP weights file: the backbone is then restorable from its source."""
    path = tmp_path_factory.mktemp("clip") / "vitamin_tiny.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_backbone.clip.state_dict().items()}, str(path))
    return path


@pytest.fixture(scope="module")
def cfg(fvit_world, clip_file, tmp_path_factory):
    return make_config(fvit_world, tmp_path_factory.mktemp("fvit_api"), f"model.pretrained={clip_file}",
                       "model.score_thresh=0.0")


@pytest.fixture(scope="module")
def model(cfg):
    torch.manual_seed(0)
    m = FViT.from_config(cfg)
    torch.manual_seed(1)
    with torch.no_grad():  # the heads' random init gives every box the same score: spread them out
        for p in m.roi_heads.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


@pytest.fixture(scope="module")
def image(fvit_world):
    return sorted(fvit_world.images_val.glob("*.jpg"))[0]


def _same(a, b):
    assert a.keys() == b.keys()
    for k in ("boxes", "scores", "labels", "masks"):
        np.testing.assert_array_equal(a[k], b[k])
    assert a["label_names"] == b["label_names"]


def test_round_trip_without_and_with_the_backbone(model, image, clip_file, tmp_path):
    model.set_classes(["red circle", "blue square,blue box", "sky"])
    ref = model.predict(image)
    assert len(ref["boxes"]) > 0
    model.save_pretrained(tmp_path / "light")
    model.save_pretrained(tmp_path / "full", include_backbone=True)
    light, full = (load_file(str(tmp_path / f / "model.safetensors")) for f in ("light", "full"))
    assert not any(k.startswith("backbone.") for k in light)  # restorable from model.pretrained
    assert set(full) == set(model.state_dict()) and set(full) - set(light) == {
        k for k in model.state_dict() if k.startswith("backbone.")}
    cfg = json.loads((tmp_path / "full/config.json").read_text())
    assert cfg["backbone"] == {"name": "ViTamin-Tiny", "weights": str(clip_file), "included": True}
    assert cfg["classes"] == ["red circle", "blue square,blue box", "sky"]
    assert len(cfg["train_classes"]) == 9  # the 12 classes less the split's 3 novel (rare) ones
    for folder in ("light", "full"):
        loaded = FViT.from_pretrained(tmp_path / folder)
        assert loaded.class_names == model.class_names and not loaded.training
        _same(loaded.predict(image), ref)
    # the self-contained folder needs nothing else: not even the CLIP file it came from
    moved = clip_file.with_suffix(".moved")
    clip_file.rename(moved)
    try:
        _same(FViT.from_pretrained(tmp_path / "full").predict(image), ref)
        with pytest.raises(Exception, match="vitamin_tiny.safetensors"):
            FViT.from_pretrained(tmp_path / "light")
    finally:
        moved.rename(clip_file)


def test_light_folder_moves_with_its_clip_file(model, image, clip_file, tmp_path, monkeypatch):
    """A folder without the CLIP weights records the CLIP file relative to itself: any working directory reads it,
    and the two can be moved together (a demo or run tree); the path the config was given is not kept."""
    import shutil

    model.set_classes(["red circle", "sky"])
    ref = model.predict(image)
    tree = tmp_path / "run"
    shutil.copy(clip_file, tree.mkdir() or tree / "clip.safetensors")
    model.cfg_model.pretrained = str(tree / "clip.safetensors")
    try:
        model.save_pretrained(tree / "out" / "pretrained")
    finally:
        model.cfg_model.pretrained = str(clip_file)
    cfg = json.loads((tree / "out/pretrained/config.json").read_text())
    assert cfg["model"]["pretrained"] == "../../clip.safetensors" == cfg["backbone"]["weights"]
    assert not cfg["backbone"]["included"]
    moved = tmp_path / "elsewhere" / "run2"
    shutil.move(str(tree), str(moved.parent.mkdir() or moved))
    monkeypatch.chdir(moved.parent)  # nor does it depend on the working directory
    loaded = FViT.from_pretrained("run2/out/pretrained")
    assert loaded.backbone.weights.startswith(f"file:{moved / 'clip.safetensors'}")
    _same(loaded.predict(image), ref)


def test_novel_flags_follow_the_training_vocabulary(model):
    # base = shares a normalised synonym with a trained class; the rare classes of the split stay novel
    model.set_classes("red_circle;Red Circle,disc;traffic light;blue circle;blue_circle,dot")
    assert model.roi_heads.novel[:5].tolist() == [False, False, True, True, True]
    assert model.class_names == ["red_circle", "Red Circle,disc", "traffic light", "blue circle", "blue_circle,dot"]


def test_predict_input_types_agree(model, image):
    model.set_classes(["red circle", "green square", "blue triangle"])
    pil = Image.open(image).convert("RGB")
    rgb = np.array(pil)
    ref = model.predict(str(image))
    assert ref["boxes"].shape[1] == 4 and ref["masks"].shape[1:] == rgb.shape[:2] and ref["masks"].dtype == bool
    assert ref["boxes"][:, 2].max() <= rgb.shape[1] and ref["boxes"][:, 3].max() <= rgb.shape[0]
    assert ref["label_names"] == [["red circle", "green square", "blue triangle"][k] for k in ref["labels"]]
    for x in (image, pil, rgb, rgb / 255.0, torch.from_numpy(rgb).permute(2, 0, 1).contiguous(),
              torch.from_numpy(rgb).permute(2, 0, 1).float() / 255):
        _same(model.predict(x), ref)
    many = model.predict([image, pil, rgb], batch_size=2)  # batched 2 + 1
    assert len(many) == 3
    for r in many:
        np.testing.assert_allclose(r["scores"][:5], ref["scores"][:5], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(r["boxes"][:5], ref["boxes"][:5], rtol=1e-4, atol=1e-2)
    kept = model.predict(image, score_threshold=float(np.median(ref["scores"])))
    assert 0 < len(kept["scores"]) < len(ref["scores"]) and (kept["scores"] >= np.median(ref["scores"])).all()
    with pytest.raises(ValueError, match="image 1: expected"):
        model.predict([rgb, np.zeros((4, 5, 6), np.uint8)])
    with pytest.raises(FileNotFoundError, match="nope.jpg"):
        model.predict("nope.jpg")


def test_draw_keeps_labels_inside_and_apart(model, image):
    model.set_classes(["red circle", "green square"])
    small = np.asarray(Image.open(image).convert("RGB").resize((64, 48)))
    res = model.predict(small)
    pic = model.draw(small, res)
    assert pic.size == (64, 48) and pic.mode == "RGB"
    assert not np.array_equal(np.asarray(pic), small)


def test_draw_default_threshold(model, image):
    """``draw`` shows the detections scoring ≥ DETECTION_MIN_SCORE by default (the model returns 50 down to ~0),
    ``min_score=0`` all of them: the picture of the default is the picture of the result cut at that score."""
    from fvit_detection.app import above
    from shared.draw import DETECTION_MIN_SCORE

    model.set_classes(["red circle", "green square"])
    res = model.predict(image)
    scores = res["scores"]
    assert (scores < DETECTION_MIN_SCORE).any() and (scores >= DETECTION_MIN_SCORE).any()
    cut = above(res, DETECTION_MIN_SCORE)
    assert len(cut["scores"]) == int((scores >= DETECTION_MIN_SCORE).sum())
    np.testing.assert_array_equal(np.asarray(model.draw(image, res)), np.asarray(model.draw(image, cut, 0.0)))
    assert not np.array_equal(np.asarray(model.draw(image, res)), np.asarray(model.draw(image, res, 0.0)))


def test_vocabulary_per_call_leaves_the_model_as_it_is(model, image):
    """``predict(classes=...)`` gives what ``set_classes`` + ``predict`` give, without changing the model;
    classifiers are cached per class list, the cache is bounded."""
    from shared.pretrained import VOCABULARY_CACHE_SIZE

    model.set_classes(["red circle", "green square"], ids=[5, 9])
    own, own_embeddings = model.vocabulary, model.roi_heads.text_embeddings.clone()
    other = model.predict(image, classes="blue triangle;sky,heaven", ids=[3, 4])
    assert model.vocabulary is own and model.class_names == ["red circle", "green square"]
    assert model.category_ids == [5, 9] and torch.equal(model.roi_heads.text_embeddings, own_embeddings)
    assert set(other["category_ids"].tolist()) <= {3, 4} and set(other["label_names"]) <= {"blue triangle", "sky"}
    model.set_classes("blue triangle;sky,heaven", ids=[3, 4])
    again = model.predict(image)
    _same(other, again)
    np.testing.assert_array_equal(other["category_ids"], again["category_ids"])
    model.set_classes(own)  # a Vocabulary object is accepted as it is
    assert model.vocabulary is own and torch.equal(model.roi_heads.text_embeddings, own_embeddings)
    # cached per class list: the same list gives the same tensors, the oldest lists are dropped
    v1, v2 = model.make_vocabulary("blue triangle;sky,heaven"), model.make_vocabulary(["blue triangle", "sky,heaven"])
    assert v1.classifier is v2.classifier and v1.category_ids == (1, 2)
    for k in range(VOCABULARY_CACHE_SIZE + 3):
        model._classifiers.get(("filler", k), lambda: ([], None))
    assert len(model._classifiers) == VOCABULARY_CACHE_SIZE
    with pytest.raises(ValueError, match="class 2 is empty"):
        model.predict(image, classes="cat;;dog")
    with pytest.raises(ValueError, match="ids= with a Vocabulary"):  # never silently ignored
        model.predict(image, classes=own, ids=[1, 2])
    with pytest.raises(ValueError, match="ids= needs classes="):
        model.predict(image, ids=[1, 2])


def test_from_pretrained_refuses_other_folders(model, tmp_path):
    with pytest.raises(PretrainedError, match="config.json missing"):
        FViT.from_pretrained(tmp_path)
    model.save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m/config.json").read_text())
    (tmp_path / "m/config.json").write_text(json.dumps({**cfg, "kind": "fcclip"}))
    with pytest.raises(PretrainedError, match="kind 'fcclip', expected 'fvit'"):
        FViT.from_pretrained(tmp_path / "m")


def test_training_export_and_converter_write_loadable_folders(model, cfg, image, tmp_path):
    from fvit_detection.builder import build_model
    from fvit_detection.convert import main as convert_main
    from fvit_detection.convert import ours_to_reference
    from fvit_detection.pretrained import export_pretrained
    from shared.engine import save_checkpoint, save_config

    names = ["red circle", "green square"]
    ref = model.set_classes(names).predict(image)
    plain = build_model(cfg)  # the training module (not the API class), given the trained weights
    plain.load_state_dict(model.state_dict())
    export_pretrained(plain, cfg, names, tmp_path / "exported")
    _same(FViT.from_pretrained(tmp_path / "exported").predict(image), ref)
    # reference checkpoint → pretrained folder (--config), equal to the model it came from
    sd, _ = ours_to_reference(model.checkpoint_state_dict(), "ours", "plain")
    save_checkpoint(tmp_path / "ref.pth", {"state_dict": sd})
    save_config(cfg, tmp_path / "cfg.yaml")
    assert convert_main(["--reference", str(tmp_path / "ref.pth"), "--config", str(tmp_path / "cfg.yaml"),
                         "--out", str(tmp_path / "converted")]) == 0
    converted = FViT.from_pretrained(tmp_path / "converted").set_classes(names)
    _same(converted.predict(image), ref)


def test_batch_cli_writes_coco_results_and_resumes(model, cfg, fvit_world, tmp_path, capsys):
    import contextlib
    import io

    from pycocotools.coco import COCO

    from fvit_detection.predict import main
    from shared.engine import save_checkpoint, save_config

    model.save_pretrained(tmp_path / "pre")
    images = fvit_world.images_val
    out = tmp_path / "out"
    args = ["--pretrained", str(tmp_path / "pre"), "--images", str(images / "00000[1-4].jpg"),
            "--classes", "red circle;green square", "--out", str(out), "--score-threshold", "0.05", "--no-progress"]
    assert main(args + ["--vis"]) == 0
    files = sorted(images.glob("00000[1-4].jpg"))
    assert len(files) == 4
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": json.loads((out / "images.json").read_text()), "annotations": [],
                      "categories": json.loads((out / "categories.json").read_text())}
        gt.createIndex()
        dt = gt.loadRes(str(out / "results.json"))
    assert [c["name"] for c in gt.dataset["categories"]] == ["red circle", "green square"]
    assert [im["file_name"] for im in gt.dataset["images"]] == [f.name for f in files]
    model.set_classes(["red circle", "green square"])
    for im in gt.dataset["images"]:
        ref = model.predict(images / im["file_name"], score_threshold=0.05)
        anns = dt.loadAnns(dt.getAnnIds(imgIds=[im["id"]]))
        assert len(anns) == len(ref["boxes"])
        if anns:
            x0, y0, w, h = anns[0]["bbox"]
            np.testing.assert_allclose([x0, y0, x0 + w, y0 + h], ref["boxes"][0], rtol=1e-5, atol=1e-3)
            assert anns[0]["category_id"] == ref["labels"][0] + 1
    assert sorted(p.name for p in (out / "vis").iterdir()) == [f.stem + ".png" for f in files]
    first = (out / "results.json").read_text()
    # a killed run: the last image's line is torn; the rerun redoes only that image
    lines = (out / "progress.jsonl").read_text().splitlines()
    (out / "progress.jsonl").write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    capsys.readouterr()
    assert main(args) == 0
    assert (out / "results.json").read_text() == first
    assert len((out / "progress.jsonl").read_text().splitlines()) == len(files)
    # other settings in the same folder are refused before the model loads
    assert main(args[:5] + ["red circle", *args[6:]]) == 2
    assert "classes: ['red circle', 'green square'] → ['red circle']" in capsys.readouterr().err
    assert main(args[:5] + ["red circle;;dog", *args[6:]]) == 2
    assert "class 2 is empty" in capsys.readouterr().err
    # the training config + checkpoint route, one picture
    save_checkpoint(tmp_path / "last.pt", {"model": model.checkpoint_state_dict()})
    save_config(cfg, tmp_path / "config.yaml")
    assert main(["--config", str(tmp_path / "config.yaml"), "--checkpoint", str(tmp_path / "last.pt"),
                 "--image", str(files[0]), "--classes", "red circle", "--out", str(tmp_path / "one.png")]) == 0
    assert Image.open(tmp_path / "one.png").size == Image.open(files[0]).size


# ----------------------------------------------------------------------------- the Hub's conventions
def _same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.class_names == b.class_names and a.category_ids == b.category_ids


def test_hub_id_resolves_through_the_offline_cache(model, tmp_path, offline_hub):
    """(Saved folders give identical predictions: ``test_round_trip_*``; here the same weights and vocabulary.)"""
    model.set_classes(["red circle", "blue square"])
    model.save_pretrained(tmp_path / "full", include_backbone=True)
    commit = offline_hub("acme/fvit-tiny", tmp_path / "full")
    _same_weights(FViT.from_pretrained("acme/fvit-tiny"), model)
    from shared.hub import resolve_folder

    snapshot = resolve_folder("acme/fvit-tiny", revision=commit)  # a pinned commit: the same snapshot
    assert snapshot.name == commit and (snapshot / "model.safetensors").is_file()
    with pytest.raises(PretrainedError, match="'acme/missing' is not in the local Hub cache"):
        FViT.from_pretrained("acme/missing")
    # a path that does not exist and cannot be a Hub id: one error, no Hub look-up
    with pytest.raises(PretrainedError, match=r"outputs/run/pretrained: no such folder \(and not a Hub model id"):
        FViT.from_pretrained("outputs/run/pretrained")


def test_push_to_hub_uploads_a_folder_that_loads_elsewhere(model, tmp_path, monkeypatch):
    """``push_to_hub`` against a stub of ``HfApi`` (never the network): the uploaded folder has the weights, the CLIP
    too (its source is a local file the downloader would not have), and a model card; it loads to the same model."""
    import shutil

    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import RepoUrl

    calls = {}

    def create_repo(self, repo_id, **kw):
        calls["create_repo"] = (repo_id, kw)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, *, repo_id, folder_path, **kw):
        calls["upload"] = (repo_id, kw)
        shutil.copytree(folder_path, tmp_path / "uploaded")
        return "commit-info"

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    model.set_classes(["red circle", "sky"])
    assert model.push_to_hub("acme/fvit-tiny", private=True) == "commit-info"
    assert calls["create_repo"] == ("acme/fvit-tiny", {"private": True, "exist_ok": True, "repo_type": "model"})
    assert calls["upload"][0] == "acme/fvit-tiny" and calls["upload"][1]["repo_type"] == "model"
    up = tmp_path / "uploaded"
    assert sorted(p.name for p in up.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((up / "config.json").read_text())["backbone"]["included"] is True
    _same_weights(FViT.from_pretrained(up), model)


def test_model_card_names_vocabulary_backbone_data_and_the_runs_metrics(model, cfg, tmp_path, capsys):
    from fvit_detection.builder import build_model
    from fvit_detection.pretrained import export_pretrained
    from shared.hub import main as hub_main

    plain = build_model(cfg)
    plain.load_state_dict(model.state_dict())
    metrics = {"bbox_AP": 0.1234, "bbox_AP_novel": 0.05, "segm_AP": 0.2, "per_class": [0.1, 0.2]}
    export_pretrained(plain, cfg, ["red circle", "green square,green box"], tmp_path / "exported", [5, 9],
                      metrics=metrics)
    card = (tmp_path / "exported" / "README.md").read_text()
    assert card.startswith("---\n") and "pipeline_tag: object-detection" in card
    assert "library_name: vitamin-downstream" in card
    assert "# F-ViT open-vocabulary detector (ViTamin-Tiny)" in card
    assert "2 classes" in card and "`5: red circle`, `9: green square,green box`" in card
    assert f"train_ann: `{cfg.data.train_ann}`" in card and f"evaluated on: `{cfg.data.val_ann}`" in card
    assert "| bbox_AP | 0.1234 |" in card and "| bbox_AP_novel | 0.0500 |" in card and "per_class" not in card
    # loaded and saved again (a new vocabulary): the run's record is kept, the vocabulary is the new one
    again = FViT.from_pretrained(tmp_path / "exported").set_classes(["sky"])
    again.save_pretrained(tmp_path / "again")
    card2 = (tmp_path / "again" / "README.md").read_text()
    assert "| bbox_AP | 0.1234 |" in card2 and "1 classes" in card2 and "`1: sky`" in card2
    # a folder whose CLIP is a local file next to it cannot be pushed as it is: one line, exit 2
    assert hub_main(["push", str(tmp_path / "again"), "acme/x"]) == 2
    assert "the CLIP weights are the local file" in capsys.readouterr().err
