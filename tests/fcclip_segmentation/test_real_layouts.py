"""FC-CLIP evaluation and the API with NO training set present (the config's train paths point nowhere; the training
vocabulary is the shipped COCO class-name file), on the real layouts the shipped configs and the dataset registry
expect: the real COCO-panoptic sample of cocodataset/panopticapi under ``coco/`` and an ADE20K tree as
``prepare_ade20k`` leaves it. A tiny random-init model: only the files, ids and vocabularies are under test."""
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ade_tree import FLOOR, WALL, build_tree
from fcclip_helpers import make_config
from fcclip_segmentation import FCCLIP
from fcclip_segmentation.builder import build_model
from fcclip_segmentation.data import (EVAL_DATASETS, PanopticDataset, check_training_classes, read_class_names,
                                      training_class_names)
from fcclip_segmentation.data.prepare_ade20k import main as prepare_main
from fcclip_segmentation.eval import main as eval_main
from fcclip_segmentation.metrics import panoptic_quality
from real_files import REPO, panopticapi_sample
from shared.engine import load_config, save_checkpoint, save_config
from shared.engine.config import resolve_input_path
from shared.formats.panoptic import rgb_to_id

COCO_NAMES = "fcclip_segmentation/configs/classnames/coco_panoptic_with_prompt_eng.txt"  # as the shipped configs
SHIPPED = sorted(p for p in (REPO / "fcclip_segmentation/configs").glob("*.yaml") if p.name != "synthetic_tiny.yaml")


def _no_training_set(tmp):
    nowhere = tmp / "nowhere"
    return [f"data.train_json={nowhere}/panoptic_train2017.json", f"data.train_png={nowhere}/panoptic_train2017",
            f"data.train_images={nowhere}/train2017"]


@pytest.fixture(scope="module", autouse=True)
def one_prompt():
    """One FC-CLIP prompt instead of 14: the prompts are not under test here, and 14 × the ~400 ADE / ~250 COCO
    synonyms through the text tower cost ~10 s on 2 CPU cores."""
    from backbone import templates

    fcclip = templates.TEMPLATE_SETS["fcclip"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(templates.TEMPLATE_SETS, "fcclip", dataclasses.replace(fcclip, templates=fcclip.templates[:1]))
        yield


@pytest.fixture(scope="module")
def run(fcclip_world, tmp_path_factory):
    """A tiny COCO-trained-shaped checkpoint (133 classes: the shipped COCO class-name file) and its config, whose
    training paths point nowhere."""
    tmp = tmp_path_factory.mktemp("no_train_set")
    cfg = make_config(fcclip_world, tmp, *_no_training_set(tmp), f"data.train_class_names={COCO_NAMES}",
                      "eval.batch_size=2")
    assert not (tmp / "nowhere").exists()
    torch.manual_seed(0)
    model, names = build_model(cfg)
    assert len(names) == 133 and model.criterion.empty_weight.shape == (134,)
    save_checkpoint(tmp / "coco133.pt", {"model": model.checkpoint_state_dict()})
    save_config(cfg, tmp / "config.yaml")
    return {"tmp": tmp, "config": tmp / "config.yaml", "checkpoint": tmp / "coco133.pt", "cfg": cfg}


def _coco_tree(root: Path) -> Path:
    """The panopticapi sample laid out as the registry's ``coco`` set (= detectron2's datasets/coco)."""
    sample = panopticapi_sample() / "sample_data"
    coco = root / "coco"
    for src, dst in (("input_images", "val2017"), ("panoptic_examples", "panoptic_val2017")):
        shutil.copytree(sample / src, coco / dst)
    (coco / "annotations").mkdir()
    shutil.copy(sample / "panoptic_examples.json", coco / "annotations/panoptic_val2017.json")
    return coco


def _eval(run, out, *args):
    return eval_main(["--config", str(run["config"]), "--checkpoint", str(run["checkpoint"]), "--out", str(out),
                      *args])


def test_coco_panoptic_eval_on_the_real_sample_without_training_set(run, tmp_path):
    coco = _coco_tree(tmp_path / "datasets")
    assert _eval(run, tmp_path / "out", "--dataset", "coco", "--data-root", str(tmp_path / "datasets")) == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    gt = json.loads((coco / "annotations/panoptic_val2017.json").read_text())
    cats = {c["id"]: c for c in gt["categories"]}
    assert metrics["num_images"] == 2
    for k in ("PQ_all", "SQ_all", "RQ_all", "PQ_things", "PQ_stuff", "mIoU"):
        assert isinstance(metrics[k], float) and 0.0 <= metrics[k] <= 1.0, k
    # the vocabulary: COCO's 133 categories in id order, named by the shipped class-name file (by id)
    coco_names = read_class_names(REPO / COCO_NAMES)
    ids = sorted(cats)
    assert [c["name"] for c in metrics["IoU_per_class"]] == [coco_names[i].split(",")[0] for i in ids]
    assert metrics["IoU_per_class"][0]["name"] == "person" and len(ids) == 133
    # mIoU counts exactly the classes with ground-truth pixels, painted from the real PNGs (crowd keeps its class)
    with_gt = set()
    for ann in gt["annotations"]:
        seg = rgb_to_id(np.asarray(Image.open(coco / "panoptic_val2017" / ann["file_name"]).convert("RGB")))
        with_gt |= {ids.index(s["category_id"]) for s in ann["segments_info"] if (seg == s["id"]).any()}
    assert {i for i, c in enumerate(metrics["IoU_per_class"]) if c["IoU"] is not None} == with_gt
    assert with_gt == {ids.index(c) for c in (1, 8, 19, 37, 125, 184, 187, 193)}  # person, boat, horse, …
    # predictions: one PNG per image at the image's size; real image ids, COCO category ids with their isthing
    pred = json.loads((tmp_path / "out/panoptic_pred.json").read_text())
    assert [(im["id"], im["file_name"]) for im in pred["images"]] == [(142238, "000000142238.jpg"),
                                                                     (439180, "000000439180.jpg")]
    assert pred["categories"] == gt["categories"]
    sizes = {im["id"]: (im["height"], im["width"]) for im in gt["images"]}
    n_segments = 0
    for ann in pred["annotations"]:
        png = rgb_to_id(np.asarray(Image.open(tmp_path / "out/panoptic_pred" / ann["file_name"])))
        assert png.shape == sizes[ann["image_id"]] and ann["file_name"] == f"{ann['image_id']:012d}.png"
        assert set(np.unique(png)) - {0} == {s["id"] for s in ann["segments_info"]}
        for s in ann["segments_info"]:
            assert s["isthing"] == cats[s["category_id"]]["isthing"] and s["area"] == int((png == s["id"]).sum())
        n_segments += len(ann["segments_info"])
    assert n_segments > 0
    # the numbers are those of the written files
    pq = panoptic_quality(coco / "annotations/panoptic_val2017.json", tmp_path / "out/panoptic_pred.json",
                          coco / "panoptic_val2017", tmp_path / "out/panoptic_pred")
    assert metrics["PQ_all"] == pytest.approx(pq["All"]["pq"])


def test_instance_ap_on_the_real_detection_json_and_a_wrong_one_refused_before_inference(run, fcclip_world,
                                                                                           tmp_path, capsys,
                                                                                           monkeypatch):
    """The registry's ``coco`` set with an instances json: the sample's own objects in COCO detection format (RLE
    masks) give mask / box AP; the synthetic world's instances json (other images) is refused naming the field
    and the image, before any image is run through the model."""
    import fcclip_segmentation.evaluation as evaluation

    coco = _coco_tree(tmp_path / "datasets")
    shutil.copy(panopticapi_sample() / "sample_data/panoptic_coco_detection_format.json",
                coco / "annotations/instances_val2017.json")
    args = ["--dataset", "coco", "--data-root", str(tmp_path / "datasets")]
    assert _eval(run, tmp_path / "out", *args, "eval.max_images=1") == 0
    metrics = json.loads((tmp_path / "out/metrics.json").read_text())
    assert metrics["num_images"] == 1
    for k in ("segm_AP", "segm_AP50", "bbox_AP", "bbox_AP50"):
        assert isinstance(metrics[k], float) and 0.0 <= metrics[k] <= 1.0, k
    capsys.readouterr()

    def no_inference(*a, **k):
        raise AssertionError("ran the model before checking the instances json")

    monkeypatch.setattr(evaluation, "instance_inference", no_inference)
    monkeypatch.setattr(evaluation, "panoptic_inference", no_inference)
    wrong = fcclip_world.instances_val
    assert _eval(run, tmp_path / "out2", *args, f"data.val_instances={wrong}") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: data.val_instances {wrong}: 2 of the 2 evaluated images are not in its images, e.g. id "
                   "142238 (a COCO instances json of the same images as data.val_json)"]


def test_ade20k_eval_on_the_prepared_tree_without_training_set(run, tmp_path):
    root = build_tree(tmp_path / "datasets")  # datasets/ADEChallengeData2016
    assert prepare_main(["--root", str(root), "--splits", "validation"]) == 0  # the user's step; nothing of train
    ade = EVAL_DATASETS["ade20k_150"]
    for rel in (ade.images, ade.panoptic_json, ade.panoptic_png, ade.sem_seg, ade.instances_json):
        assert (tmp_path / "datasets" / rel).exists(), rel  # the registry reads what prepare_ade20k writes
    assert _eval(run, tmp_path / "out", "--dataset", "ade20k_150", "--data-root", str(tmp_path / "datasets")) == 0
    m = json.loads((tmp_path / "out/metrics.json").read_text())
    assert m["num_images"] == 1 and isinstance(m["PQ_all"], float) and isinstance(m["mIoU"], float)
    assert "segm_AP" in m  # the instance json prepare_ade20k writes is read (mask/box AP)
    # mIoU from the reference's label maps (annotations_detectron2): wall and floor only, 0-based
    assert [i for i, c in enumerate(m["IoU_per_class"]) if c["IoU"] is not None] == [WALL - 1, FLOOR - 1]
    assert len(m["IoU_per_class"]) == 150 and m["IoU_per_class"][0]["name"] == "wall"
    pred = json.loads((tmp_path / "out/panoptic_pred.json").read_text())
    assert [im["file_name"] for im in pred["images"]] == ["ADE_val_00000001.jpg"]
    assert (tmp_path / "out/panoptic_pred/ADE_val_00000001.png").is_file()
    gt = json.loads((tmp_path / "datasets" / ade.panoptic_json).read_text())
    thing = {c["id"]: c["isthing"] for c in gt["categories"]}
    assert sorted(thing) == list(range(150)) and pred["categories"] == gt["categories"]
    segments = pred["annotations"][0]["segments_info"]
    assert segments and all(s["isthing"] == thing[s["category_id"]] for s in segments)
    assert not (tmp_path / "datasets/ADEChallengeData2016/ade20k_panoptic_train.json").exists()


def test_from_config_without_training_set(run, fcclip_world, tmp_path, monkeypatch):
    cfg = run["cfg"]
    monkeypatch.chdir(tmp_path)  # the shipped class-name path resolves from any directory
    assert not Path(COCO_NAMES).exists() and resolve_input_path(COCO_NAMES) == str(REPO / COCO_NAMES)
    model = FCCLIP.from_config(cfg, str(run["checkpoint"]), class_names=["cat,kitty", "purple star", "sky*"])
    assert len(model.train_classes) == 133 and model.train_classes[0].startswith("person,")
    assert model.seen.tolist() == [True, False, True]  # "cat" and "sky" are COCO synonyms, "purple star" is not
    assert model.is_thing.tolist() == [True, True, False]
    image = sorted(fcclip_world.images_val.glob("*.jpg"))[0]
    assert model.predict(image, score_threshold=0.0)["panoptic"].shape == np.asarray(Image.open(image)).shape[:2]
    # the default vocabulary (the training classes with thing/stuff flags) needs the training json's categories
    with pytest.raises(FileNotFoundError, match=r"nowhere/panoptic_train2017.json.*give the vocabulary instead"):
        FCCLIP.from_config(cfg)


def test_a_checkpoint_keeps_its_class_count(run, fcclip_world, tmp_path, capsys, monkeypatch):
    """Trained with N classes (the synthetic world's 16) → loads with a config naming those N without the training
    set; a config whose training vocabulary has another count is refused with one line naming both counts, before
    the CLIP model is built."""
    world_cfg = make_config(fcclip_world, tmp_path, *_no_training_set(tmp_path))
    model, names = build_model(world_cfg)
    assert len(names) == 16
    save_checkpoint(tmp_path / "w16.pt", {"model": model.checkpoint_state_dict()})
    for train_names, rc in ((str(fcclip_world.classnames_panoptic), 0), (COCO_NAMES, 2)):
        cfg = load_config(type(world_cfg), run["config"], [f"data.train_class_names={train_names}"]
                          + [f"data.{k}={v}" for k, v in (("val_json", fcclip_world.panoptic_val),
                                                          ("val_png", fcclip_world.panoptic_val_dir),
                                                          ("val_images", fcclip_world.images_val),
                                                          ("val_class_names", fcclip_world.classnames_panoptic))]
                          + ["data.val_instances=null", "eval.max_images=1", "eval.tasks=[semantic]"])
        save_config(cfg, tmp_path / "c.yaml")
        capsys.readouterr()
        if rc == 2:
            monkeypatch.setattr("fcclip_segmentation.builder.build_clip", lambda m: pytest.fail("CLIP built"))
        assert eval_main(["--config", str(tmp_path / "c.yaml"), "--checkpoint", str(tmp_path / "w16.pt"),
                          "--out", str(tmp_path / "out")]) == rc
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: {tmp_path / 'w16.pt'} was trained with 16 classes, but the training vocabulary has 133: "
        "data.train_class_names (else data.train_json's categories) must list the classes it was trained with"]
    assert json.loads((tmp_path / "out/metrics.json").read_text())["num_images"] == 1  # the 16-class run


def test_training_vocabulary_is_the_class_name_file(fcclip_world, tmp_path):
    """The vocabulary the training set gives (its categories named by the file) is the file's classes; a json with
    fewer categories than the file is refused (the demo writes the file of its base categories)."""
    from fcclip_segmentation.demo import base_class_names

    w = fcclip_world
    full = PanopticDataset(w.panoptic_train, w.panoptic_train_dir, w.images_train, True, 128, (0,) * 3, (1,) * 3,
                           class_names_file=w.classnames_panoptic)
    assert full.class_names == training_class_names(w.classnames_panoptic, "nowhere.json")
    base = PanopticDataset(w.panoptic_train_base, w.panoptic_train_base_dir, w.images_train, True, 128,
                           (0,) * 3, (1,) * 3, class_names_file=w.classnames_panoptic)
    assert len(base.class_names) < len(full.class_names)
    with pytest.raises(ValueError, match=r"panoptic_train_base.json: its \d+ categories are not the 16 classes of "
                                         r"data.train_class_names .*are not categories of the json"):
        check_training_classes(base.class_names, full.class_names, w.panoptic_train_base, w.classnames_panoptic)
    # the demo's base file gives the same vocabulary the base training set had before (same count, names, order)
    assert training_class_names(base_class_names(w, tmp_path), "nowhere.json") == base.class_names
    # without a class-name file: the json's category names, its other content unread
    cats = json.loads(w.panoptic_train.read_text())["categories"]
    (tmp_path / "cats.json").write_text(json.dumps({"categories": cats[::-1]}))
    assert training_class_names(None, tmp_path / "cats.json") == [c["name"] for c in sorted(cats, key=lambda c: c["id"])]


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.name)
def test_shipped_configs_point_at_the_real_layouts(config):
    from fcclip_segmentation.config import FCCLIPConfig

    d = load_config(FCCLIPConfig, config).data
    assert (d.train_json, d.train_png, d.train_images) == ("data/coco/annotations/panoptic_train2017.json",
                                                           "data/coco/panoptic_train2017", "data/coco/train2017")
    ade = EVAL_DATASETS["ade20k_150"]
    assert (d.val_json, d.val_png, d.val_images, d.val_sem_seg, d.val_instances) == tuple(
        f"data/{p}" for p in (ade.panoptic_json, ade.panoptic_png, ade.images, ade.sem_seg, ade.instances_json))
    assert Path(resolve_input_path(d.train_class_names)).resolve() == REPO / COCO_NAMES
    assert Path(resolve_input_path(d.val_class_names)).resolve() == REPO / "fcclip_segmentation/configs/classnames" / ade.class_names
    assert len(training_class_names(d.train_class_names, d.train_json)) == 133  # the json is not read
    with pytest.raises(FileNotFoundError, match=r"^data.train_class_names: class-name file not found: nope.txt "
                                                r"\(relative to the working directory /.+\)$"):
        training_class_names("nope.txt", d.train_json)
