"""F-ViT on real files nobody on the team wrote: panopticapi's sample (two COCO val2017 photos with their official
annotations) laid out as the shipped configs expect. Eval finds the images; predict with ``--ann`` writes ids that
pycocotools reads against the real ground truth with no remapping; every box lies inside its image."""
import contextlib
import dataclasses
import io
import json

import numpy as np
import pytest
import torch

from fvit_detection import FViT
from fvit_detection.config import FViTConfig
from fvit_detection.data import DetectionDataset
from fvit_detection.eval import main as eval_main
from fvit_detection.predict import main as predict_main
from real_files import lay_out_like_the_configs
from shared.engine import load_config, save_checkpoint, save_config
from shared.formats.validate import DatasetError
from shared.ground_truth import GroundTruth

SHIPPED_COCO = "fvit_detection/configs/ov_coco_vitamin_l_336.yaml"
SHIPPED_LVIS = "fvit_detection/configs/ov_lvis_vitamin_l_336.yaml"
SIZES = {142238: (427, 640), 439180: (360, 640)}  # image id -> (H, W) of the two photos
# the shipped model at toy size: random-init ViTamin-Tiny, 128-px windows on 256-px inputs
TINY = ["model.backbone=ViTamin-Tiny", "model.pretrained=null", "model.window_stride=64", "model.c4_block=null",
        "model.fpn_channels=64", "model.roi_conv_channels=64", "model.rpn_pre_nms=300", "model.rpn_post_nms=100",
        "model.roi_batch_per_image=128", "model.score_thresh=0.0", "model.detections_per_img=20",
        "data.image_size=256"]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    return lay_out_like_the_configs(tmp_path_factory.mktemp("real"))


@pytest.fixture(scope="module", autouse=True)
def one_prompt():
    """One F-ViT prompt instead of 63: the prompts are not under test here, and 63 × the 65 OV-COCO classes through
    the text tower cost seconds on 2 CPU cores."""
    from backbone import templates

    fvit = templates.TEMPLATE_SETS["fvit"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(templates.TEMPLATE_SETS, "fvit", dataclasses.replace(fvit, templates=fvit.templates[:1]))
        yield


def shipped_layout(config: str, real, out) -> list[str]:
    """Overrides that put the shipped config's data paths (``data/…``) below the sample's root, as they are."""
    shipped = load_config(FViTConfig, config).data
    root = real["data"].parent
    # text_cache stays the default one the predict CLI uses too: the 65 OV-COCO classes are embedded once
    return [f"data.{k}={root / getattr(shipped, k)}" for k in ("train_ann", "train_images", "val_ann", "val_images")] \
        + [f"train.out_dir={out}"]


@pytest.fixture(scope="module")
def coco_cfg(real, tmp_path_factory):
    out = tmp_path_factory.mktemp("fvit_real")
    return load_config(FViTConfig, SHIPPED_COCO, TINY + shipped_layout(SHIPPED_COCO, real, out))


@pytest.fixture(scope="module")
def pretrained(coco_cfg, tmp_path_factory):
    torch.manual_seed(0)
    model = FViT.from_config(coco_cfg, class_names=["dog", "person"])  # a short vocabulary: quick to embed
    with torch.no_grad():  # the heads' random init gives every box the same score: spread them out
        for p in model.roi_heads.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path_factory.mktemp("fvit_real_pre")
    model.save_pretrained(path)
    save_checkpoint(path / "last.pt", {"model": model.checkpoint_state_dict()})
    return path, model


def _inside(records):
    for r in records:
        h, w = SIZES[r["image_id"]]
        x, y, bw, bh = r["bbox"]
        assert x >= 0 and y >= 0 and bw >= 0 and bh >= 0 and x + bw <= w + 1e-3 and y + bh <= h + 1e-3, r


def _load_res(gt_file, results_file):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_file))
        return gt, gt.loadRes(str(results_file))  # refuses image ids that are not the ground truth's


def test_eval_with_the_shipped_coco_layout(real, coco_cfg, pretrained, tmp_path, capsys):
    pretrained, _ = pretrained
    """data/coco/val2017 + a COCO json carrying coco_url AND file_name: the images are found (the old rule used
    coco_url and looked in val2017/val2017/), metrics are computed, results.json is in the json's ids."""
    save_config(coco_cfg, tmp_path / "config.yaml")
    assert eval_main(["--config", str(tmp_path / "config.yaml"), "--checkpoint", str(pretrained / "last.pt"),
                      "--out", str(tmp_path / "eval")]) == 0, capsys.readouterr().err
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["num_images"] == 2 and {"bbox_AP", "novel_AP50", "base_AP50"} <= set(metrics)
    results = json.loads((tmp_path / "eval" / "results.json").read_text())
    ov_ids = {c["id"] for c in json.loads(real["ov_all"].read_text())["categories"]}
    assert results and {r["image_id"] for r in results} == set(SIZES) and {r["category_id"] for r in results} <= ov_ids
    _inside(results)
    _load_res(real["ov_all"], tmp_path / "eval" / "results.json")


def test_lvis_images_by_coco_url_below_the_coco_root(real):
    """The shipped LVIS layout: lvis_v1_val.json (coco_url only) + data/coco; LVIS val draws from both splits."""
    shipped = load_config(FViTConfig, SHIPPED_LVIS).data
    root = real["data"].parent
    ds = DetectionDataset(root / shipped.val_ann, root / shipped.val_images, False, 256, (0.5,) * 3, (0.25,) * 3)
    assert sorted(ds.image_path(im).relative_to(real["coco"]).as_posix() for im in ds.images) == [
        "val2017/000000142238.jpg", "val2017/000000439180.jpg"]
    data = json.loads(real["lvis"].read_text())
    data["images"][0]["coco_url"] = data["images"][0]["coco_url"].replace("/val2017/", "/train2017/")
    (root / "lvis_mixed.json").write_text(json.dumps(data))
    ds = DetectionDataset(root / "lvis_mixed.json", real["coco"], False, 256, (0.5,) * 3, (0.25,) * 3)
    assert ds.image_path(ds.images[0]).parent == real["train2017"]


def test_a_wrong_layout_is_named_not_skipped(real):
    """The COCO json with the LVIS image root: every image is missing, so skipping would drop them all. The error
    names the path tried and the field it came from, and says the layout is wrong instead of suggesting skip."""
    with pytest.raises(DatasetError) as e:
        DetectionDataset(real["detection"], real["coco"], False, 256, (0.5,) * 3, (0.25,) * 3)
    msg = str(e.value)
    assert f"{real['coco'] / '000000142238.jpg'}, from file_name '000000142238.jpg'" in msg
    assert "does not fit this json's layout" in msg and "on_bad_record" not in msg
    data = json.loads(real["detection"].read_text())
    data["images"][1]["file_name"] = "gone.jpg"  # one missing of two: that one is named, skipping is offered
    (real["data"] / "one_missing.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"(?s)data.on_bad_record=skip.*file_name 'gone.jpg': image file not found: "
                                           r".*val2017/gone.jpg"):
        DetectionDataset(real["data"] / "one_missing.json", real["val2017"], False, 256, (0.5,) * 3, (0.25,) * 3)


def test_predict_with_ann_evaluates_against_the_real_ground_truth(real, pretrained, tmp_path):
    pretrained, model = pretrained
    out = tmp_path / "out"
    args = ["--pretrained", str(pretrained), "--images", str(real["val2017"]), "--ann", str(real["detection"]),
            "--classes", "dog;person;car,automobile", "--out", str(out), "--no-progress"]
    assert predict_main(args) == 0
    gt, dt = _load_res(real["detection"], out / "results.json")
    results = json.loads((out / "results.json").read_text())
    assert {r["image_id"] for r in results} == set(SIZES) and {r["category_id"] for r in results} <= {18, 1, 3}
    assert len({r["category_id"] for r in results}) > 1
    _inside(results)
    assert json.loads((out / "categories.json").read_text()) == [
        {"id": 18, "name": "dog", "synonyms": ["dog"]}, {"id": 1, "name": "person", "synonyms": ["person"]},
        {"id": 3, "name": "car", "synonyms": ["car", "automobile"]}]
    assert {im["id"]: im["file_name"] for im in json.loads((out / "images.json").read_text())} == {
        i: f"{i:012d}.jpg" for i in SIZES}
    # the API returns the same ids beside the labels
    model.set_classes(["dog", "person", "car,automobile"], [18, 1, 3])
    r = model.predict(real["val2017"] / "000000142238.jpg")
    assert r["category_ids"].tolist() == [[18, 1, 3][k] for k in r["labels"]]
    mine = sorted((x["category_id"], round(x["score"], 5)) for x in results if x["image_id"] == 142238)
    assert mine == sorted((int(c), round(float(s), 5)) for c, s in zip(r["category_ids"], r["scores"]))


def test_predict_ann_vocabulary_and_several_image_paths(real, pretrained, tmp_path):
    """Without --classes the --ann categories are the vocabulary; a shell-expanded glob (several paths) is all
    processed."""
    pretrained, _ = pretrained
    out = tmp_path / "out"
    files = sorted(str(p) for p in real["val2017"].glob("*.jpg"))
    assert predict_main(["--pretrained", str(pretrained), "--images", *files, "--ann", str(real["ov_all"]),
                         "--out", str(out), "--no-progress"]) == 0
    cats = json.loads(real["ov_all"].read_text())["categories"]
    assert [(c["id"], c["name"]) for c in json.loads((out / "categories.json").read_text())] == [
        (c["id"], c["name"]) for c in sorted(cats, key=lambda c: c["id"])]
    assert sorted(im["id"] for im in json.loads((out / "images.json").read_text())) == sorted(SIZES)
    _load_res(real["ov_all"], out / "results.json")


def test_predict_refuses_mistakes_before_the_model_loads(real, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    for f in real["val2017"].glob("*.jpg"):
        (photos / f.name).symlink_to(f)
    (photos / "holiday.jpg").symlink_to(next(real["val2017"].glob("*.jpg")))
    missing = str(tmp_path / "no_model")  # never read: each error comes first
    base = ["--pretrained", missing, "--out", str(tmp_path / "out"), "--no-progress"]
    cases = [(["--images", str(photos), "--ann", str(real["detection"])], "input image holiday.jpg not in its images"),
             (["--images", str(real["val2017"]), "--ann", str(real["detection"]), "--classes", "dog;unicorn"],
              "class 'unicorn' is not a category name"),
             (["--images", str(real["val2017"]), "--classes", ""], "--classes: no classes")]
    for extra, needle in cases:
        capsys.readouterr()
        assert predict_main(base + extra) == 2
        err = capsys.readouterr().err
        assert needle in err and "no_model" not in err and "Traceback" not in err, err
    with pytest.raises(SystemExit) as e:
        predict_main(base + ["--images", str(real["val2017"]), "--score-threshold", "5"])
    assert e.value.code == 2 and "--score-threshold 5.0: expected a score in [0, 1]" in capsys.readouterr().err


def test_real_ids_score_as_the_ground_truth_itself_and_positions_do_not(real):
    """Hand case: detections equal to the ground-truth boxes, written with the --ann ids, score exactly what
    pycocotools gives the ground truth as results (below 1: annotation id 0 never matches in pycocotools, a quirk
    of this real file); the old rule (class position + 1) scores them under other categories."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from fvit_detection.metrics import results_records

    data = json.loads(real["detection"].read_text())
    classes, ids = GroundTruth(real["detection"]).vocabulary()
    label = {c: k for k, c in enumerate(ids)}

    def ap(results):
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(real["detection"]))
            ev = COCOeval(gt, gt.loadRes(results), "bbox")
            ev.evaluate(), ev.accumulate(), ev.summarize()
        return ev.stats[0]

    reference = ap([{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                    for a in data["annotations"]])
    ours, old = [], []
    for im in data["images"]:
        anns = [a for a in data["annotations"] if a["image_id"] == im["id"]]
        det = {"boxes": np.array([[x, y, x + w, y + h] for x, y, w, h in (a["bbox"] for a in anns)], np.float64),
               "scores": np.ones(len(anns)), "labels": np.array([label[a["category_id"]] for a in anns])}
        ours += results_records(det, im["id"], ids)
        old += results_records(det, im["id"], list(range(1, len(ids) + 1)))
    assert 0.5 < reference < 1.0
    assert ap(ours) == pytest.approx(reference, abs=1e-9)
    assert ap(old) < reference - 0.3
