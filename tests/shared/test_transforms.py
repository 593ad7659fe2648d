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


# --- mask-aware LSJ (issue #20) equals the frozen pre-#20 transform bit for bit ------------------------------------
def _many_masks_instance(rng, h=480, w=640, n=25):
    """A real-size image with ``n`` polygon masks plus the edge cases: an empty mask, one pixel in a corner, the
    whole frame, a one-column strip on the right edge (emptied by most crops)."""
    from PIL import Image, ImageDraw

    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    masks = np.zeros((n, h, w), bool)
    for k in range(n - 4):
        canvas = Image.new("1", (w, h))
        r = rng.uniform(0.02, 0.3) * min(h, w)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        t = np.sort(rng.uniform(0, 2 * np.pi, 20))
        ImageDraw.Draw(canvas).polygon(list(zip(cx + r * np.cos(t), cy + r * np.sin(t))), fill=1)
        masks[k] = np.asarray(canvas)
    masks[n - 3, h - 1, 0] = True
    masks[n - 2] = True
    masks[n - 1, :, w - 1] = True  # masks[n - 4] stays empty
    boxes = rng.uniform(0, 200, (n, 4)).astype(np.float32)  # ignored when there are masks
    return Instances(image, boxes, np.arange(n, dtype=np.int64), masks)


# (image h, w), crop size, scale range, flip probability: down- and upscaling, no resize, odd sizes, both flips
LSJ_CASES = [((480, 640), 512, (0.1, 0.6), 0.0), ((480, 640), 512, (1.2, 2.0), 1.0), ((427, 640), 384, (1.0, 1.0), 1.0),
             ((333, 517), 257, (0.3, 2.0), 0.5), ((640, 480), 768, (0.8, 1.3), 0.5)]


@pytest.mark.parametrize("shape,size,scale_range,flip", LSJ_CASES)
def test_large_scale_jitter_equals_the_pre_issue20_transform(shape, size, scale_range, flip):
    from benchmarks.data_reference import large_scale_jitter as reference_lsj

    inst = _many_masks_instance(np.random.default_rng(size), *shape)
    emptied = 0  # masks with pixels before the transform and none after (kept by min_box_size=-inf)
    for seed in range(3):
        for min_box in (0.01, 0.0, -np.inf):
            want = reference_lsj(inst, np.random.default_rng(seed), size, scale_range, flip, min_box)
            got = large_scale_jitter(inst, np.random.default_rng(seed), size, scale_range, flip, min_box)
            assert np.array_equal(got.image, want.image) and got.boxes.dtype == want.boxes.dtype == np.float32
            assert np.array_equal(got.boxes, want.boxes) and np.array_equal(got.labels, want.labels)
            assert got.masks.shape == want.masks.shape and np.array_equal(got.masks, want.masks)
            if min_box == -np.inf:
                emptied += int((inst.masks.any((1, 2)) & ~want.masks.any((1, 2))).sum())
        # masks only, written into the padded canvas: the same masks at the top-left, zeros elsewhere
        canvas = large_scale_jitter(inst, np.random.default_rng(seed), size, scale_range, flip, -np.inf,
                                    return_boxes=False, mask_canvas=size)
        h, w = want.image.shape[:2]
        assert canvas.boxes is None and canvas.masks.shape == (len(inst.masks), size, size)
        assert np.array_equal(canvas.masks[:, :h, :w], want.masks) and not canvas.masks[:, h:].any()
        assert not canvas.masks[:, :, w:].any() and np.array_equal(canvas.image, want.image)
    assert emptied > 0 or scale_range == (1.0, 1.0)  # masks the crop (or a tiny scale) empties are compared too


def test_large_scale_jitter_over_64_masks_and_without_masks():
    """More masks than one 64-bit pass packs; boxes-only instances (no masks) follow the clipping path."""
    from benchmarks.data_reference import large_scale_jitter as reference_lsj

    inst = _many_masks_instance(np.random.default_rng(1), 61, 83, n=70)
    for seed in range(4):
        want = reference_lsj(inst, np.random.default_rng(seed), 64, (0.5, 2.0))
        got = large_scale_jitter(inst, np.random.default_rng(seed), 64, (0.5, 2.0))
        assert np.array_equal(got.masks, want.masks) and np.array_equal(got.boxes, want.boxes)
        no_masks = Instances(inst.image, inst.boxes, inst.labels)
        want = reference_lsj(no_masks, np.random.default_rng(seed), 64, (0.5, 2.0))
        got = large_scale_jitter(no_masks, np.random.default_rng(seed), 64, (0.5, 2.0))
        assert got.masks is None and np.array_equal(got.boxes, want.boxes) and np.array_equal(got.labels, want.labels)


def test_nearest_index_reads_pil_nearest_resize():
    """Gathering with the per-axis tables equals PIL's NEAREST resize of a mask, down and up, odd ratios."""
    from PIL import Image

    from shared.transforms import _nearest_index

    rng = np.random.default_rng(0)
    for (h, w), (nh, nw) in [((480, 640), (1008, 1344)), ((427, 640), (43, 64)), ((333, 517), (1000, 1553)),
                             ((7, 5), (3, 11)), ((1, 1), (9, 1))]:
        m = rng.random((h, w)) < 0.5
        want = np.asarray(Image.fromarray(m).resize((nw, nh), Image.NEAREST))
        assert np.array_equal(m[_nearest_index(h, nh)][:, _nearest_index(w, nw)], want)


@pytest.mark.parametrize("pad", ["mean", "black"])
def test_normalize_and_pad_equals_the_pre_issue20_version(pad):
    from benchmarks.data_reference import normalize_and_pad as reference

    mean, std = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)  # CLIP's
    image = np.random.default_rng(0).integers(0, 256, (333, 517, 3), dtype=np.uint8)
    for img, size in ((image, 517), (image[:, ::-1], 600), (image[:300, :300], 300)):  # a flipped view too
        assert torch.equal(normalize_and_pad(img, mean, std, size, pad), reference(img, mean, std, size, pad))


def test_pad_masks_zero_pads_and_shares_a_full_canvas():
    from shared.transforms import pad_masks

    masks = np.random.default_rng(0).random((3, 5, 7)) < 0.5
    m = pad_masks(masks, 9)
    assert m.dtype == torch.uint8 and m.shape == (3, 9, 9) and torch.equal(m[:, :5, :7], torch.from_numpy(masks).byte())
    assert m[:, 5:].sum() == 0 and m[:, :, 7:].sum() == 0
    full = np.zeros((2, 9, 9), bool)
    assert pad_masks(full, 9).data_ptr() == full.ctypes.data  # LSJ's mask_canvas: no copy
