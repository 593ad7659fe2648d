"""Pictures of predictions: boxes / masks / panoptic segments with labels that stay inside the image and do not
overlap, at a font size that follows the image size.

Layout rule: labels are placed best score first; each tries a few anchor positions (above its box, inside its top
edge, below it; for a segment its most interior pixel) clamped into the image, then slides down in steps of one
label height; a label that finds no free place is left out (the picture stays readable).

Which detections are drawn: those scoring at least ``DETECTION_MIN_SCORE`` unless the caller says otherwise (the
API's ``draw(..., min_score=)``, the detection CLI's ``--min-score``, the web app's threshold slider all start from
it). A detector returns up to its ``detections_per_img`` boxes down to scores near 0; drawn all, their labels no
longer fit near their boxes.
"""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 200, 200),
           (240, 50, 230), (150, 190, 40), (250, 140, 140), (0, 128, 128), (170, 110, 40), (128, 0, 0),
           (100, 150, 100), (128, 128, 0), (0, 0, 128), (128, 128, 128)]
MASK_ALPHA = 0.45
# detections drawn by default: scoring at least this (mmdetection's visualiser default, pred_score_thr=0.3)
DETECTION_MIN_SCORE = 0.3


def colour(index: int) -> tuple[int, int, int]:
    return PALETTE[index % len(PALETTE)]


def font_for(size: tuple[int, int]) -> ImageFont.ImageFont:
    """A font whose height is ~1/30 of the shorter image side, at least 10 px (readable on thumbnails and 4K)."""
    return ImageFont.load_default(size=max(10, round(min(size) / 30)))


class LabelLayout:
    """Greedy placement of text boxes inside a (W, H) canvas without overlaps."""

    def __init__(self, size: tuple[int, int], font):
        self.w, self.h = size
        self.font = font
        self.placed: list[tuple[int, int, int, int]] = []

    def text_size(self, text: str) -> tuple[int, int]:
        x0, y0, x1, y1 = self.font.getbbox(text)
        return x1 - x0 + 4, y1 - min(y0, 0) + 4

    def place(self, text: str, anchors: list[tuple[float, float]]) -> tuple[int, int, int, int] | None:
        """The box (x0, y0, x1, y1) for ``text`` at the first anchor (top-left corners) that fits, else None."""
        tw, th = self.text_size(text)
        if tw > self.w or th > self.h:
            return None
        for ax, ay in anchors:
            x = int(min(max(ax, 0), self.w - tw))
            y = int(min(max(ay, 0), self.h - th))
            for dy in range(0, self.h, th):
                for yy in (y + dy, y - dy) if dy else (y,):
                    if 0 <= yy <= self.h - th:
                        box = (x, yy, x + tw, yy + th)
                        if not any(_overlap(box, b) for b in self.placed):
                            self.placed.append(box)
                            return box
        return None


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_label(d: ImageDraw.ImageDraw, box, text: str, fill: tuple[int, int, int], font) -> None:
    d.rectangle(box, fill=fill)
    light = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] > 150
    d.text((box[0] + 2, box[1] + 2), text, fill=(0, 0, 0) if light else (255, 255, 255), font=font)


def _blend_masks(image: Image.Image, masks: list[np.ndarray], colours: list[tuple[int, int, int]]) -> Image.Image:
    out = np.asarray(image.convert("RGB")).astype(np.float32)
    for m, c in zip(masks, colours):
        out[m] = (1 - MASK_ALPHA) * out[m] + MASK_ALPHA * np.asarray(c, np.float32)
    return Image.fromarray(out.round().clip(0, 255).astype(np.uint8))


def draw_detections(image: Image.Image, result: dict, min_score: float = DETECTION_MIN_SCORE) -> Image.Image:
    """``result``: boxes (N, 4) xyxy, scores, labels, label_names [, masks (N, H, W) bool] in image pixels; the
    detections scoring at least ``min_score`` are drawn (0: all)."""
    scores = np.asarray(result["scores"], np.float64)
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] >= min_score]
    colours = {int(k): colour(int(result["labels"][k])) for k in order}
    if "masks" in result and len(order):
        image = _blend_masks(image, [result["masks"][k] for k in order[::-1]], [colours[k] for k in order[::-1]])
    canvas = image.convert("RGB").copy()
    d = ImageDraw.Draw(canvas)
    font = font_for(canvas.size)
    width = max(1, round(min(canvas.size) / 200))
    for k in order:
        d.rectangle([float(v) for v in result["boxes"][k]], outline=colours[k], width=width)
    layout = LabelLayout(canvas.size, font)
    for k in order:
        x0, y0, x1, y1 = (float(v) for v in result["boxes"][k])
        text = f"{result['label_names'][k]} {float(result['scores'][k]):.2f}"
        th = layout.text_size(text)[1]
        box = layout.place(text, [(x0, y0 - th), (x0, y0), (x0, y1)])
        if box is not None:
            _draw_label(d, box, text, colours[k], font)
    return canvas


def draw_panoptic(image: Image.Image, result: dict) -> Image.Image:
    """``result``: panoptic (H, W) segment ids and segments [{id, label, label_name, score, isthing}]."""
    from scipy.ndimage import distance_transform_edt

    pan = np.asarray(result["panoptic"])
    segs = sorted(result["segments"], key=lambda s: -s["score"])
    colours = {s["id"]: segment_colour(s) for s in segs}
    canvas = _blend_masks(image, [pan == s["id"] for s in segs], [colours[s["id"]] for s in segs])
    d = ImageDraw.Draw(canvas)
    font = font_for(canvas.size)
    layout = LabelLayout(canvas.size, font)
    for s in segs:
        m = pan == s["id"]
        if not m.any():
            continue
        y, x = np.unravel_index(np.argmax(distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]), m.shape)
        text = s["label_name"]
        tw, th = layout.text_size(text)
        box = layout.place(text, [(x - tw / 2, y - th / 2)])
        if box is not None:
            _draw_label(d, box, text, colours[s["id"]], font)
    return canvas


def segment_colour(segment: dict) -> tuple[int, int, int]:
    """Stuff: the class colour; things: the class colour shifted per instance so neighbours differ."""
    base = np.asarray(colour(int(segment["label"])), np.int32)
    if not segment["isthing"]:
        return tuple(int(v) for v in base)
    shift = (int(segment["id"]) * 37) % 61 - 30
    return tuple(int(v) for v in np.clip(base + shift, 0, 255))
