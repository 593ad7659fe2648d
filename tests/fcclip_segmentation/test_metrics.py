"""PQ/SQ/RQ and mIoU on hand-built cases, against hand-computed numbers."""
import json

import numpy as np
import pytest
from PIL import Image

from fcclip_segmentation.metrics import SemanticSegEvaluator, panoptic_quality
from shared.formats.panoptic import id_to_rgb

CATS = [{"id": 1, "name": "a", "isthing": 1}, {"id": 2, "name": "b", "isthing": 1},
        {"id": 3, "name": "s", "isthing": 0}]


def _write(root, name, ids, segments, cats=CATS):
    folder = root / name
    folder.mkdir()
    Image.fromarray(id_to_rgb(ids)).save(folder / "1.png")
    data = {"images": [{"id": 1, "file_name": "1.jpg", "height": ids.shape[0], "width": ids.shape[1]}],
            "annotations": [{"image_id": 1, "file_name": "1.png", "segments_info": segments}], "categories": cats}
    (root / f"{name}.json").write_text(json.dumps(data))
    return root / f"{name}.json", folder


def _seg(i, cat, ids, crowd=0):
    return {"id": i, "category_id": cat, "area": int((ids == i).sum()), "bbox": [0, 0, 1, 1], "iscrowd": crowd}


def test_pq_perfect_prediction(tmp_path):
    ids = np.zeros((6, 6), np.int64)
    ids[:2] = 1
    ids[3:] = 2
    segs = [_seg(1, 1, ids), _seg(2, 3, ids)]
    gj, gf = _write(tmp_path, "gt", ids, segs)
    pj, pf = _write(tmp_path, "pred", ids, segs)
    r = panoptic_quality(gj, pj, gf, pf)
    assert (r["All"]["pq"], r["All"]["sq"], r["All"]["rq"]) == (1.0, 1.0, 1.0)


def test_pq_partial_overlap_unmatched_void_crowd_things_and_stuff(tmp_path):
    gt = np.zeros((10, 10), np.int64)  # 0 = void (row 2, row 7, (0..1, 5), rows 8-9 cols 5-9)
    gt[0:2, 0:5] = 1                   # thing a, 10 px
    gt[8:10, 0:5] = 2                  # crowd of a, 10 px
    gt[0:2, 6:10] = 3                  # thing b, 8 px
    gt[3:7, :] = 4                     # stuff s, 40 px
    gsegs = [_seg(1, 1, gt), _seg(2, 1, gt, crowd=1), _seg(3, 2, gt), _seg(4, 3, gt)]
    pred = np.zeros((10, 10), np.int64)
    pred[0:2, 0:4] = 11
    pred[2, 0:2] = 11                  # p11: 8 px on a + 2 px on void → IoU 8 / (10 + 10 − 8 − 2) = 0.8
    pred[0:2, 8:10] = 12               # p12: b, IoU 4 / 8 = 0.5 — not > 0.5: FP, and GT b is a FN
    pred[3:8, :] = 13                  # p13: s, 40 px on s + 10 on void → IoU 40 / (50 + 40 − 40 − 10) = 1
    pred[8:10, 0:4] = 14               # p14: a, entirely on the crowd of a → ignored
    pred[8:10, 5:10] = 15              # p15: b, entirely on void → ignored
    psegs = [_seg(11, 1, pred), _seg(12, 2, pred), _seg(13, 3, pred), _seg(14, 1, pred), _seg(15, 2, pred)]
    gj, gf = _write(tmp_path, "gt", gt, gsegs)
    pj, pf = _write(tmp_path, "pred", pred, psegs)
    r = panoptic_quality(gj, pj, gf, pf)
    pc = r["per_class"]
    assert pc[1]["pq"] == pytest.approx(0.8) and pc[1]["tp"] == 1 and pc[1]["fp"] == 0 and pc[1]["fn"] == 0
    assert pc[2]["pq"] == 0 and pc[2]["fp"] == 1 and pc[2]["fn"] == 1
    assert pc[3]["pq"] == pytest.approx(1.0)
    assert r["All"]["pq"] == pytest.approx((0.8 + 0 + 1) / 3)
    assert r["All"]["rq"] == pytest.approx((1 + 0 + 1) / 3)
    assert r["Things"]["pq"] == pytest.approx(0.4) and r["Stuff"]["pq"] == pytest.approx(1.0)


@pytest.mark.parametrize("stuff_class", [False, True])
def test_pq_of_an_empty_group_is_none_with_a_reason(tmp_path, stuff_class):
    """Things only: panopticapi divides by zero for Stuff and hotcoco says −1; we report None and why — with no
    stuff class at all, or with one that no ground-truth or predicted segment has. All and Things are unchanged."""
    ids = np.zeros((4, 4), np.int64)
    ids[:2] = 1
    cats = CATS if stuff_class else CATS[:2]
    gj, gf = _write(tmp_path, "gt", ids, [_seg(1, 1, ids)], cats)
    pj, pf = _write(tmp_path, "pred", ids, [_seg(1, 1, ids)], cats)
    r = panoptic_quality(gj, pj, gf, pf)
    assert r["All"]["pq"] == 1.0 and r["Things"]["pq"] == 1.0 and r["Things"]["n"] == 1
    assert {k: r["Stuff"][k] for k in ("pq", "sq", "rq", "n")} == {"pq": None, "sq": None, "rq": None, "n": 0}
    assert r["Stuff"]["reason"] == ("no stuff class has a ground-truth or predicted segment" if stuff_class
                                    else "the categories have no stuff class")
    assert json.loads(json.dumps(r["Stuff"]))["pq"] is None  # json null, not -1 or NaN


def test_iou_of_a_class_without_ground_truth_is_nan_as_detectron2():
    """Class 2 is predicted on one pixel but has no ground truth: detectron2's IoU is NaN there (not 0), and it
    stays out of mIoU / fwIoU / mACC."""
    ev = SemanticSegEvaluator(num_classes=3)
    ev.update(np.array([[0, 2], [1, 1]]), np.array([[0, 0], [1, 1]]))
    r = ev.compute()
    assert r["IoU"][:2] == pytest.approx([0.5, 1.0]) and np.isnan(r["IoU"][2])
    assert r["mIoU"] == pytest.approx(0.75) and r["fwIoU"] == pytest.approx((0.5 * 2 + 1.0 * 2) / 4)
    assert r["mACC"] == pytest.approx(0.75) and r["pACC"] == pytest.approx(3 / 4)


def test_miou_with_ignore_label_hand_computed():
    ev = SemanticSegEvaluator(num_classes=4, ignore_label=255)
    gt = np.array([[0, 0, 1], [1, 2, 255]])
    pred = np.array([[0, 1, 1], [1, 1, 3]])  # the 3 falls on an ignored pixel: not counted
    ev.update(pred, gt)
    r = ev.compute()
    # class 0: 1/(1+1), class 1: 2/(2+2), class 2: 0/1; class 3 has no ground truth → out of the mean
    assert r["IoU"][:3] == pytest.approx([0.5, 0.5, 0.0])
    assert r["mIoU"] == pytest.approx(1 / 3) and r["pACC"] == pytest.approx(3 / 5)
    assert r["mACC"] == pytest.approx((0.5 + 1 + 0) / 3)
    with pytest.raises(ValueError, match="differ in size"):
        ev.update(pred[:1], gt)
    with pytest.raises(ValueError, match="ground-truth label 7"):
        ev.update(pred, np.array([[0, 0, 1], [1, 7, 255]]))


def test_pq_with_string_image_ids_as_cityscapes_and_mapillary_write_them(tmp_path):
    """hotcoco takes integer image ids only: string ids are renumbered in both files, PQ unchanged."""
    gt = np.zeros((6, 6), np.int64)
    gt[:3], gt[3:] = 1, 2
    pred = gt.copy()
    pred[2] = 2  # thing IoU 12/18 = 2/3, stuff IoU 18/24 = 3/4
    gj, gf = _write(tmp_path, "gt", gt, [_seg(1, 1, gt), _seg(2, 3, gt)])
    pj, pf = _write(tmp_path, "pred", pred, [_seg(1, 1, pred), _seg(2, 3, pred)])
    for path in (gj, pj):
        data = json.loads(path.read_text())
        data["images"][0]["id"] = data["annotations"][0]["image_id"] = "frankfurt_000000_000294"
        path.write_text(json.dumps(data))
    r = panoptic_quality(gj, pj, gf, pf)
    assert r["All"]["pq"] == pytest.approx((2 / 3 + 3 / 4) / 2) and r["All"]["rq"] == 1.0
    data = json.loads(pj.read_text())
    data["annotations"][0]["image_id"] = "munich_1"
    pj.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="pred.json: annotations\\[0\\] image_id 'munich_1' is not an image of"):
        panoptic_quality(gj, pj, gf, pf)
