"""Image + instance transforms shared by detection and segmentation: hand-checked values."""
import numpy as np
import pytest
import torch

from shared.transforms import Instances, large_scale_jitter, normalize_and_pad, resize_long_side

MEAN, STD = (0.5, 0.25, 0.0), (0.5, 0.25, 1.0)


def test_normalize_and_pad_mean_and_black():
    img = np.full((2, 3, 3), 255, np.uint8)
    x = normalize_and_pad(img, MEAN, STD, 4)
    assert x.shape == (3, 4, 4)
    assert torch.allclose(x[:, :2, :3], torch.tensor([1.0, 3.0, 1.0])[:, None, None].expand(3, 2, 3))
    assert (x[:, 2:] == 0).all() and (x[:, :, 3:] == 0).all()  # padded after normalising: the mean colour
    b = normalize_and_pad(img, MEAN, STD, 4, pad="black")
    assert torch.equal(b[:, :2, :3], x[:, :2, :3])
    black = torch.tensor([-1.0, -1.0, 0.0])[:, None]  # (0 - mean) / std
    assert torch.equal(b[:, 3], black.expand(3, 4)) and torch.equal(b[:, :, 3], black.expand(3, 4))
    with pytest.raises(ValueError, match="larger than the pad size 2"):
        normalize_and_pad(img, MEAN, STD, 2)
    with pytest.raises(ValueError, match="pad='grey'"):
        normalize_and_pad(img, MEAN, STD, 4, pad="grey")


def _square_instance():
    img = np.zeros((20, 40, 3), np.uint8)
    masks = np.zeros((1, 20, 40), bool)
    masks[0, 5:10, 0:8] = True
    return Instances(img, np.array([[0, 5, 8, 10]], np.float32), np.array([3]), masks)


def test_resize_long_side_scales_boxes_and_masks():
    out, scale = resize_long_side(_square_instance(), 80)
    assert scale == 2.0 and out.image.shape == (40, 80, 3)
    assert out.boxes.tolist() == [[0, 10, 16, 20]] and out.masks[0].sum() == 4 * 5 * 8


def test_large_scale_jitter_is_seeded_and_keeps_masks_and_boxes_consistent():
    a = large_scale_jitter(_square_instance(), np.random.default_rng(3), 32, (0.5, 2.0))
    b = large_scale_jitter(_square_instance(), np.random.default_rng(3), 32, (0.5, 2.0))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.boxes, b.boxes)
    assert max(a.image.shape[:2]) <= 32 and a.masks.shape[1:] == a.image.shape[:2]
    for box, mask in zip(a.boxes, a.masks):
        ys, xs = np.nonzero(mask)
        assert box.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_large_scale_jitter_flip_mirrors_the_mask():
    inst = _square_instance()
    flipped = large_scale_jitter(inst, np.random.default_rng(0), 40, (1.0, 1.0), flip_prob=1.0)
    assert flipped.boxes.tolist() == [[32, 5, 40, 10]] and flipped.masks[0, 5:10, 32:40].all()
