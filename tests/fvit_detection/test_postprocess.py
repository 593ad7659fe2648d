"""Detections back to the original image: the real per-axis factors (mmdet's ``bboxes / scale_factor``) and a clip,
not the nominal size / max(H, W); masks pasted at the original size by the reference's rule (mmdet's
``FCNMaskHead.get_seg_masks``)."""
import numpy as np
import pytest
import torch

from fvit_detection.modeling.postprocess import paste_masks, rescale_to_original
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


def _paste_by_hand(prob: np.ndarray, box, height: int, width: int, threshold: float = 0.5) -> np.ndarray:
    """mmdet's rule written out per pixel, in float64: the pixel centred at (x + ½, y + ½) reads the M × M map
    bilinearly at map coordinate (x + ½ − x0) / (x1 − x0) · M − ½ (``grid_sample``, ``align_corners=False``), zero
    outside the map; in the mask when the value is >= ``threshold``."""
    m = prob.shape[0]
    x0, y0, x1, y1 = box

    def taps(c, lo, hi):  # [(map index, weight)] of one axis, zero outside the map
        u = (c + 0.5 - lo) / (hi - lo) * m - 0.5
        i = int(np.floor(u))
        return [(j, wt) for j, wt in ((i, 1 - (u - i)), (i + 1, u - i)) if 0 <= j < m]

    out = np.zeros((height, width), bool)
    for y in range(height):
        for x in range(width):
            v = sum(wy * wx * prob[j, i] for j, wy in taps(y, y0, y1) for i, wx in taps(x, x0, x1))
            out[y, x] = v >= threshold
    return out


def test_masks_are_pasted_by_the_reference_rule():
    rng = np.random.default_rng(0)
    probs = rng.random((3, 1, 28, 28)).astype(np.float32)
    boxes = np.array([[3.3, 2.7, 31.6, 20.2],     # fractional corners
                      [0.0, 0.0, 40.0, 24.0],     # the whole image
                      [30.5, 10.25, 39.75, 23.5]], np.float32)  # small, at the corner
    got = paste_masks(torch.from_numpy(probs), torch.from_numpy(boxes), (24, 40))
    assert got.shape == (3, 24, 40) and got.dtype == bool
    for k in range(3):
        np.testing.assert_array_equal(got[k], _paste_by_hand(probs[k, 0], boxes[k].astype(np.float64), 24, 40))


def test_a_half_probability_is_in_the_mask():
    """The reference keeps a pixel at exactly the threshold (>= 0.5): a map of 0.5 everywhere gives every pixel that
    reads the map only (no zero from outside blended in); a > rule gives an empty mask."""
    # a 32 × 32 map in a 64 × 32 box: every grid coordinate is a binary fraction, so float32 is exact here.
    # x: map coordinate (x − 4.5) / 2 ∈ [0, 31] for x = 5 … 66; y: y − 2 ∈ [0, 31] for y = 2 … 33
    probs = torch.full((1, 1, 32, 32), 0.5)
    box = torch.tensor([[4.0, 2.0, 68.0, 34.0]])
    got = paste_masks(probs, box, (40, 80))[0]
    want = np.zeros((40, 80), bool)
    want[2:34, 5:67] = True
    np.testing.assert_array_equal(got, want)
    assert not paste_masks(probs, box, (40, 80), threshold=0.5 + 1e-6).any()


def test_a_box_of_zero_width_reads_the_centre_column():
    """x0 == x1: the reference's ±inf grid coordinates become 0, the map's centre, over the box's ±1 px region."""
    probs = torch.zeros((1, 1, 28, 28))
    probs[0, 0, :, 13:15] = 1.0  # the centre column pair: grid x = 0 reads between them
    got = paste_masks(probs, torch.tensor([[5.0, 2.0, 5.0, 10.0]]), (16, 16))[0]
    assert got[:, :4].sum() == 0 and got[:, 6:].sum() == 0
    assert got[3:10, 4:6].all()


@pytest.mark.parametrize("n", [0, 2])
def test_rescale_pastes_at_the_original_size_with_the_rescaled_boxes(n):
    rng = np.random.default_rng(1)
    probs = torch.from_numpy(rng.random((n, 1, 28, 28)).astype(np.float32))
    det = {"boxes": torch.tensor([[10.0, 20.0, 120.0, 90.0], [0.0, 0.0, 256.0, 171.0]])[:n],
           "scores": torch.tensor([0.9, 0.5])[:n], "labels": torch.tensor([0, 1])[:n], "mask_probs": probs}
    r = rescale_to_original(det, (171, 256), (427, 640))
    assert r["masks"].shape == (n, 427, 640) and r["masks"].dtype == bool
    np.testing.assert_array_equal(r["masks"], paste_masks(probs, torch.from_numpy(r["boxes"]), (427, 640)))
    if n:
        assert r["masks"][0].any() and not r["masks"][0][:, :20].any()  # inside its box (x0 = 10 / 0.4 = 25)
