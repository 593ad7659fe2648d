"""Detections back to the original image: the real per-axis factors (mmdet's ``bboxes / scale_factor``) and a clip,
not the nominal size / max(H, W)."""
import numpy as np
import torch

from fvit_detection.modeling.postprocess import rescale_to_original
from shared.transforms import eval_input


def test_boxes_use_the_rounded_sides_and_stay_inside_the_image():
    # a COCO val2017 photo (427 × 640) at 256: the content is round(427 · 0.4) = 171 rows, so a box reaching the
    # bottom of the content ends at 171 / (171 / 427) = 427; the nominal factor 0.4 puts it at 427.5 (outside)
    image = np.zeros((427, 640, 3), np.uint8)
    _, size = eval_input(image, 256, (0.5,) * 3, (0.25,) * 3)
    assert tuple(size) == (171, 256)
    det = {"boxes": torch.tensor([[0.0, 0.0, 256.0, 171.0],      # the whole content
                                  [10.0, 171.0, 30.0, 171.0],     # zero height on the bottom edge
                                  [100.0, 50.0, 300.0, 200.0]]),  # beyond the content (clipped)
           "scores": torch.tensor([0.9, 0.5, 0.3]), "labels": torch.tensor([0, 1, 0])}
    r = rescale_to_original(det, size, (427, 640))
    # mmdet: bboxes / [w_scale, h_scale, w_scale, h_scale], w_scale = new_w / w, h_scale = new_h / h
    want = det["boxes"].numpy() / np.array([256 / 640, 171 / 427, 256 / 640, 171 / 427], np.float32)
    want = np.minimum(np.maximum(want, 0), [640, 427, 640, 427])
    np.testing.assert_allclose(r["boxes"], want, rtol=1e-6)
    np.testing.assert_allclose(r["boxes"][0], [0, 0, 640, 427], atol=1e-4)
    assert r["boxes"][1, 1] == r["boxes"][1, 3] == 427.0  # on the edge, not below it
    nominal = det["boxes"].numpy()[:2] / 0.4
    assert nominal[0, 3] == 427.5 and nominal[1, 1] > 427  # the old rule: outside the image
    assert (r["boxes"][:, 2] <= 640).all() and (r["boxes"][:, 3] <= 427).all() and (r["boxes"] >= 0).all()
    assert r["labels"].tolist() == [0, 1, 0] and r["scores"].dtype == np.float32
