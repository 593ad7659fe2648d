"""Label layout of the prediction pictures: inside the image, never overlapping, sized to the image."""
import numpy as np
from PIL import Image

from shared.draw import LabelLayout, draw_detections, font_for


def test_labels_stay_inside_and_apart_then_run_out():
    layout = LabelLayout((120, 60), font_for((120, 60)))
    boxes = [layout.place(f"class {k} 0.9", [(100, -5)]) for k in range(10)]  # all want the top-right corner
    placed = [b for b in boxes if b is not None]
    _, th = layout.text_size("class 0 0.9")
    assert len(placed) == 60 // th  # one column of labels fits at that x: the rest are left out
    assert boxes[len(placed):] == [None] * (10 - len(placed))
    for i, a in enumerate(placed):
        assert 0 <= a[0] and a[2] <= 120 and 0 <= a[1] and a[3] <= 60
        for b in placed[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_font_follows_the_image_size():
    assert font_for((64, 48)).size == 10  # the floor: still legible on thumbnails
    assert font_for((3000, 2100)).size == 70


def test_detections_drawn_best_first_label_above_box():
    img = Image.new("RGB", (200, 100), (0, 0, 0))
    res = {"boxes": np.array([[10, 50, 60, 90], [12, 52, 62, 92]], np.float32), "scores": np.array([0.5, 0.9]),
           "labels": np.array([0, 1]), "label_names": ["cat", "dog"]}
    out = np.asarray(draw_detections(img, res))
    th = LabelLayout((200, 100), font_for((200, 100))).text_size("dog 0.90")[1]
    # the best detection (dog, palette colour 1) owns the slot just above its box top; cat slides elsewhere
    assert (out[52 - th + 1, 14] == (60, 180, 75)).all()
