"""The exporters' shared pieces (``shared/onnx_export.py``): the canvas-size rule, the default check pictures and
the verdict of the parity check."""
import numpy as np
import pytest

from shared.onnx_export import canvas, check_canvas_size, check_pictures, parity_problems
from shared.transforms import whole_cells_multiple


def test_whole_cells_multiple_of_the_feature_strides():
    assert whole_cells_multiple([4.0, 8.0, 16.0, 32.0, 64.0]) == 64  # F-ViT on ViTamin: P2–P6
    assert whole_cells_multiple([3.5, 7.0, 14.0, 28.0, 56.0]) == 56  # on ViT-L/14: 56 / 3.5 = 16 cells
    assert whole_cells_multiple([3.5]) == 7  # 3.5 itself holds no whole pixel count
    assert whole_cells_multiple([6, 4]) == 12  # not just the largest


def test_canvas_size_rule_names_the_nearest_valid_sides():
    check_canvas_size(256, 128, 64, "why")  # valid: nothing raised
    check_canvas_size(128, 128, 64, "why")
    with pytest.raises(ValueError, match=r"^--size 300: .* multiple of 64 \(why\) .* window 128; try 256 or 320$"):
        check_canvas_size(300, 128, 64, "why")
    with pytest.raises(ValueError, match="try 128$"):  # 64 is below the window
        check_canvas_size(100, 128, 64, "why")
    with pytest.raises(ValueError, match="try 384$"):  # a multiple, but below a window of 336
        check_canvas_size(320, 336, 64, "why")
    with pytest.raises(ValueError, match="try 896 or 928$"):
        check_canvas_size(900, 336, 32, "why")


def test_check_pictures_have_ties_saturation_texture_and_both_paddings():
    pictures = dict(check_pictures(256))
    land, port = pictures["built-in scene, landscape"], pictures["built-in scene, portrait"]
    assert land.shape == (160, 256, 3) and port.shape == (256, 128, 3) and land.dtype == np.uint8
    for pic in (land, port):
        # canvas: the content leaves padding below (landscape) or to the right (portrait)
        image, size = canvas(pic, 256)
        assert image.shape == (256, 256, 3) and size.tolist() == list(pic.shape[:2])
    flat = (land == land[0, 0]).all(-1)
    assert flat[: 256 // 8].all() and not flat[256 // 8 :].all()  # a flat band on top: tied features
    assert (land == 255).all(-1).sum() == (port == 255).all(-1).sum() == 32 * 69  # saturated white
    assert (land == 0).all(-1).sum() >= 32 * 64  # and black
    assert len(np.unique(land.reshape(-1, 3), axis=0)) > 1000  # the scene's texture


def test_parity_problems_apply_the_tolerances():
    tol = {"boxes": 0.05, "scores": 1e-4}
    assert parity_problems({"max_abs_boxes": 0.04, "max_abs_scores": 1e-5, "labels_equal": True}, tol) == []
    assert parity_problems({"max_abs_boxes": 0.06, "labels_equal": False, "len_scores": (50, 48),
                            "max_abs_scores": float("nan")}, tol) == [
        "boxes differ by up to 0.06 (tolerance 0.05)", "labels differ",
        "scores: 50 rows in PyTorch, 48 in the graph", "scores differ by up to nan (tolerance 0.0001)"]
