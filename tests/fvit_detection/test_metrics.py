"""OV-COCO and LVIS evaluation with the reference's rules, on hand-built cases where the plausible other rule gives
another number: F-ViT's maxDets=[100, 300, 1000]; the lvis api's 300-per-image cap, then its zero-area filter."""
import json

import numpy as np
import pytest

from fvit_detection.metrics import evaluate_coco_ov, evaluate_lvis, lvis_api_results
from shared.formats.coco import mask_to_rle

SIZE = 100
GT_BOX = [10.0, 10.0, 20.0, 20.0]  # xywh
FAR_BOX = [60.0, 60.0, 10.0, 10.0]  # IoU 0 with GT_BOX


def _write(path, data):
    path.write_text(json.dumps(data))
    return str(path)


def _det(box, score, cat=1, image=1, mask=None):
    rec = {"image_id": image, "category_id": cat, "bbox": list(box), "score": score}
    if mask is not None:
        rec["segmentation"] = mask_to_rle(mask)
    return rec


def _mask(box):
    m = np.zeros((SIZE, SIZE), dtype=bool)
    x, y, w, h = (int(v) for v in box)
    m[y:y + h, x:x + w] = True
    return m


# --- OV-COCO: maxDets [100, 300, 1000] --------------------------------------------------------------------------------
@pytest.fixture()
def coco_gt(tmp_path):
    x, y, w, h = GT_BOX
    return _write(tmp_path / "coco.json", {
        "images": [{"id": 1, "width": SIZE, "height": SIZE}],
        "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": GT_BOX, "area": w * h, "iscrowd": 0},
                        {"id": 2, "image_id": 1, "category_id": 2, "bbox": FAR_BOX, "area": 100.0, "iscrowd": 0}]})


def test_coco_ov_counts_up_to_1000_detections_per_image_and_class(coco_gt):
    """150 false positives of class 1 score above its true positive (rank 151): with pycocotools' default maxDets
    [1, 10, 100] the match is cut (AP50 0); F-ViT's [100, 300, 1000] keeps it: precision 1/151 at every recall."""
    results = [_det(FAR_BOX, 1.0 - 0.001 * k) for k in range(150)] + [_det(GT_BOX, 0.01)]
    results.append(_det(FAR_BOX, 0.5, cat=2))  # class 2 (base): one exact hit
    m = evaluate_coco_ov(coco_gt, results, novel_cat_ids={1})
    assert m["novel_AP50"] == pytest.approx(1 / 151)  # maxDets 100 would give 0.0
    assert m["base_AP50"] == pytest.approx(1.0)
    assert m["all_AP50"] == pytest.approx((1 / 151 + 1.0) / 2)
    # pycocotools' summarize: AP50 (stats[1]) reads maxDets[2] = 1000, but AP (stats[0]) its default maxDets=100,
    # an entry of both lists, so the reference's bbox mAP still cuts at 100 per image and class
    assert m["bbox_AP50"] == pytest.approx((1 / 151 + 1.0) / 2)
    assert m["bbox_AP"] == pytest.approx((0.0 + 1.0) / 2)


# --- LVIS: lvis api's result handling ---------------------------------------------------------------------------------
@pytest.fixture()
def lvis_gt(tmp_path):
    x, y, w, h = GT_BOX
    return _write(tmp_path / "lvis.json", {
        "images": [{"id": 1, "width": SIZE, "height": SIZE, "neg_category_ids": [2],
                    "not_exhaustive_category_ids": []}],
        "categories": [{"id": 1, "name": "cat", "frequency": "r"}, {"id": 2, "name": "dog", "frequency": "f"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": GT_BOX, "area": w * h,
                         "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}]})


def test_zero_area_detections_are_dropped_for_bbox_and_segm(lvis_gt):
    """A top-scoring detection with a zero-width box (its mask elsewhere, not empty) ahead of an exact hit: kept, it
    is a false positive (AP 0.5, hotcoco's own handling); the lvis api drops it by its box area w·h — for segm too,
    where the mask's area would have kept it — so AP is 1."""
    zero = _det([15.0, 15.0, 0.0, 10.0], 0.9, mask=_mask(FAR_BOX))
    hit = _det(GT_BOX, 0.8, mask=_mask(GT_BOX))
    m = evaluate_lvis(lvis_gt, [zero, hit], ("bbox", "segm"), novel_cat_ids={1})
    for t in ("bbox", "segm"):
        assert m[f"{t}_AP"] == pytest.approx(1.0) and m[f"{t}_APr"] == pytest.approx(1.0)
        assert m[f"{t}_AP_novel"] == pytest.approx(1.0)
    assert evaluate_lvis(lvis_gt, [{**zero, "bbox": [15.0, 15.0, 1.0, 10.0]}, hit], ("bbox",))["bbox_AP"] == \
        pytest.approx(0.5)  # the same detection with a 1-px box counts: a false positive ahead of the hit


def test_zero_area_detections_take_their_place_in_the_300_cap(lvis_gt):
    """The cap comes first: 1 zero-area + 299 false positives fill the image's 300 places, so the hit ranked 301st
    is cut (AP 0). Filtering before capping would keep it (AP 1/300)."""
    results = [_det([15.0, 15.0, 0.0, 10.0], 0.99)] + [_det(FAR_BOX, 0.5)] * 299 + [_det(GT_BOX, 0.1)]
    assert evaluate_lvis(lvis_gt, results, ("bbox",))["bbox_AP"] == pytest.approx(0.0)
    assert evaluate_lvis(lvis_gt, results[1:], ("bbox",))["bbox_AP"] == pytest.approx(1 / 300)


def test_zero_area_ground_truth_is_not_evaluated(lvis_gt, tmp_path):
    """The lvis api also drops ground truth of area 0 (its get_ann_ids keeps 0 < area < inf): one exact hit on the
    other annotation scores AP 1, where counting the zero-area one as a miss would give recall 1/2 (AP ≈ 0.505)."""
    data = json.loads(open(lvis_gt).read())
    data["annotations"].append({**data["annotations"][0], "id": 2, "bbox": FAR_BOX, "area": 0.0})
    gt = _write(tmp_path / "zero_gt.json", data)
    assert evaluate_lvis(gt, [_det(GT_BOX, 0.8)], ("bbox",))["bbox_AP"] == pytest.approx(1.0)
    data["annotations"][1]["area"] = 1e-3  # tiny but positive: evaluated, a miss
    gt = _write(tmp_path / "tiny_gt.json", data)
    assert evaluate_lvis(gt, [_det(GT_BOX, 0.8)], ("bbox",))["bbox_AP"] == pytest.approx(51 / 101)


def test_lvis_api_results_cap_then_filter_in_the_apis_order():
    a = [_det(FAR_BOX, s, image=7) for s in (0.2, 0.9, 0.5, 0.9)]  # over the cap of 2: sorted, ties in file order
    b = [_det(FAR_BOX, s, image=3) for s in (0.1, 0.3)]  # at the cap: untouched, file order
    zero_w, neg_h, nan = ([0, 0, 0, 5], [0, 0, 5, -1], [0, 0, float("nan"), 5])
    c = [_det(zero_w, 0.9, image=5), _det(neg_h, 0.8, image=5), _det(nan, 0.7, image=5), _det(FAR_BOX, 0.6, image=5)]
    out = lvis_api_results([a[0], b[0], c[0], a[1], b[1], c[1], a[2], c[2], a[3], c[3]], max_dets=2)
    assert out == [a[1], a[3], b[0], b[1]]  # image 5: its 2 places taken by the zero- and negative-area boxes
    assert lvis_api_results(c, max_dets=-1) == [c[3]]
    assert lvis_api_results([]) == []
    seg_only = [{k: v for k, v in _det(FAR_BOX, 0.5, mask=m).items() if k != "bbox"}
                for m in (_mask(FAR_BOX), np.zeros((SIZE, SIZE), bool))]
    assert lvis_api_results(seg_only) == seg_only[:1]  # without boxes: the mask area decides


# --- streamed evaluation (issue #20) equals the pre-#20 dict path ------------------------------------------------
def test_metrics_module_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, fvit_detection.metrics; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def _lvis_like(tmp_path, num_images=24, per_image=40):
    """An LVIS-shaped set (1203 categories, federated fields) and its detections as pre-#20 result records; two
    ground-truth annotations get area 0 (dropped by the lvis api) and one image gets no detection."""
    from benchmarks import coco_like

    gt = json.loads(coco_like.write_lvis_like_gt(tmp_path / "gt.json", num_images, seed=1).read_text())
    gt["annotations"][0]["area"] = gt["annotations"][5]["area"] = 0.0
    gt_file = _write(tmp_path / "gt0.json", gt)
    dets = coco_like.write_lvis_like_detections(tmp_path / "d.npy", gt, seed=1, per_image=per_image)
    records = []
    for image_id, xyxy, scores, cats, rles in coco_like.read_lvis_like_detections(dets):
        if image_id == 3:
            continue
        for k in range(len(scores)):
            x0, y0, x1, y1 = xyxy[k].tolist()
            records.append({"image_id": image_id, "category_id": int(cats[k]), "bbox": [x0, y0, x1 - x0, y1 - y0],
                            "score": float(scores[k]), "segmentation": {"size": rles[k]["size"],
                                                                         "counts": rles[k]["counts"].decode()}})
    return gt_file, gt, records


def test_streamed_lvis_evaluation_equals_the_pre_issue20_one(tmp_path):
    """Every metric equal (==, NaN where NaN), with 310 detections per image (over the 300 cap), batches of 5 images
    not aligned with the 12, zero-area ground truth, an image without detections, a detection on an image the
    ground truth lacks, and rare categories as the novel split."""
    from benchmarks.data_reference import evaluate_lvis as reference
    from fvit_detection.metrics import DetectionResults

    gt_file, gt, records = _lvis_like(tmp_path, num_images=12, per_image=310)
    records.append({**records[0], "image_id": 999})  # not in the ground truth: never matched, in both
    novel = {c["id"] for c in gt["categories"] if c["frequency"] == "r"}
    want = reference(gt_file, records, ("bbox", "segm"), novel)
    got = evaluate_lvis(gt_file, DetectionResults.from_records(records), ("bbox", "segm"), novel,
                        images_per_update=5)
    assert got.keys() == want.keys() and len(got) == 18
    assert all(got[k] == want[k] or (np.isnan(got[k]) and np.isnan(want[k])) for k in want), (got, want)
    assert 0 < got["segm_AP"] < 1 and 0 < got["bbox_AP_novel"] < 1


def test_lvis_api_order_equals_the_pre_issue20_cap_and_filter(tmp_path):
    """Random LVIS-shaped records with tied scores, images over and under a cap of 25, zero-area and NaN boxes,
    images interleaved in the file: the same records in the same order as the pre-#20 dict implementation."""
    from benchmarks.data_reference import lvis_api_results as reference

    _, _, records = _lvis_like(tmp_path, num_images=6)
    rng = np.random.default_rng(0)
    records = [records[i] for i in rng.permutation(len(records))]  # images interleaved
    records[3]["bbox"][2] = float("nan")
    for max_dets in (25, 40, -1):
        assert lvis_api_results(records, max_dets) == reference(records, max_dets)


def test_detection_results_write_the_pre_issue20_json(tmp_path):
    """add_detections on a detector's per-image output (float32 xyxy boxes, bool masks) → the same records and the
    same result-json bytes as results_records + atomic_write_json did; from_records, merge and pickling (the
    all-gather) keep them."""
    import pickle

    from benchmarks.data_reference import results_records
    from fvit_detection.metrics import DetectionResults
    from shared.io import atomic_write_json

    rng = np.random.default_rng(0)
    results, want = DetectionResults(), []
    label_to_cat = [3, 7, 11]
    for image_id in (5, 2, 9):
        n = int(rng.integers(0, 6))
        xy = rng.uniform(0, 50, (n, 2)).astype(np.float32)
        det = {"boxes": np.concatenate([xy, xy + rng.uniform(0, 30, (n, 2)).astype(np.float32)], 1),
               "scores": rng.uniform(0, 1, n).astype(np.float32), "labels": rng.integers(0, 3, n),
               "masks": rng.random((n, 40, 60)) < 0.3}
        results.add_detections(det, image_id, label_to_cat)
        want += results_records(det, image_id, label_to_cat)
    assert len(results) == len(want) > 0 and list(results.records()) == want
    results.write_json(tmp_path / "new.json")
    atomic_write_json(tmp_path / "old.json", want, indent=None)
    assert (tmp_path / "new.json").read_bytes() == (tmp_path / "old.json").read_bytes()
    again = DetectionResults.from_records(json.loads((tmp_path / "new.json").read_text()))
    assert list(again.records()) == want
    merged = DetectionResults.merge([pickle.loads(pickle.dumps(results)), DetectionResults(), again])
    assert list(merged.records()) == want + want
    with pytest.raises(ValueError, match=r"result record 1 \(image 5\): has no bbox"):
        DetectionResults.from_records([want[0], {k: v for k, v in want[0].items() if k != "bbox"}])
    with pytest.raises(ValueError, match="image 4: no masks, unlike the images before it"):
        results.add(4, np.zeros((1, 4)), np.ones(1), np.ones(1, np.int64))
    empty = tmp_path / "empty.json"
    DetectionResults().write_json(empty)
    assert empty.read_text() == "[]\n" and evaluate_lvis(str(empty), DetectionResults()) == {}
