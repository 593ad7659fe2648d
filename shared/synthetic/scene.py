"""Sampling and rendering of one synthetic image: stuff regions + occluding coloured shapes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

COLOURS = {"red": (215, 45, 40), "green": (60, 200, 80), "blue": (45, 85, 225), "yellow": (235, 215, 45)}
SHAPES = ("circle", "square", "triangle")
SHAPE_SYNONYMS = {"circle": "disc", "square": "block", "triangle": "wedge"}
STUFF = {"sky": (140, 195, 240), "grass": (60, 110, 40), "water": (25, 70, 120), "sand": (200, 180, 130)}
GROUND = tuple(STUFF)[1:]  # below the sky band: two of these side by side in every scene
STUFF_SYNONYMS = {"sky": "clear sky", "grass": "lawn", "water": "sea", "sand": "beach"}
THINGS = [f"{c} {s}" for s in SHAPES for c in COLOURS]  # category ids 1..12 in this order
NOVEL = ("blue circle", "green triangle", "yellow square")  # the open-vocabulary split's "rare" classes
# held out of the panoptic training file (segmentation's open vocabulary): the novel things and one stuff class
SEG_HELD_OUT = NOVEL + ("sand",)
MIN_VISIBLE_AREA = 20  # objects occluded below this many pixels are removed from the scene


@dataclass
class SceneObject:
    thing: str  # e.g. "red circle"
    mask: np.ndarray  # visible (H, W) bool, after occlusion


@dataclass
class Scene:
    image: np.ndarray  # (H, W, 3) uint8
    stuff_map: np.ndarray  # (H, W) index into STUFF names, −1 = void (region boundaries)
    objects: list[SceneObject]


def _shape_mask(shape: str, cx: float, cy: float, r: float, size: int) -> np.ndarray:
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=1)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=1)
    return np.array(canvas, dtype=bool)


def sample_scene(rng: np.random.Generator, size: int) -> Scene:
    """A sky band on top, two ground regions side by side below it; 2–5 shapes drawn back to front."""
    stuff_names = list(STUFF)
    yy, xx = np.mgrid[0:size, 0:size]
    horizon = int(size * rng.uniform(0.25, 0.5))
    ground = rng.choice(list(GROUND), size=2, replace=False)
    split = int(size * rng.uniform(0.3, 0.7))
    stuff_map = np.where(yy < horizon, 0, np.where(xx < split, stuff_names.index(ground[0]),
                                                   stuff_names.index(ground[1])))
    # one-pixel void boundaries between stuff regions, as annotators leave them
    stuff_map[(yy == horizon)] = -1
    stuff_map[(yy > horizon) & (xx == split)] = -1

    raw = []
    for _ in range(int(rng.integers(2, 6))):
        r = size * rng.uniform(0.07, 0.18)
        cx, cy = rng.uniform(r, size - r), rng.uniform(r, size - r)
        thing = THINGS[int(rng.integers(len(THINGS)))]
        raw.append((thing, _shape_mask(thing.split()[1], cx, cy, r, size)))
    # occlusion: later shapes cover earlier ones; drop the nearly hidden and recompute
    kept = raw
    while True:
        visible, cover = [], np.zeros((size, size), bool)
        for thing, m in reversed(kept):
            visible.append(SceneObject(thing, m & ~cover))
            cover |= m
        visible.reverse()
        small = [i for i, o in enumerate(visible) if o.mask.sum() < MIN_VISIBLE_AREA]
        if not small:
            break
        kept = [k for i, k in enumerate(kept) if i not in small]

    palette = np.array([STUFF[n] for n in stuff_names], dtype=np.float64)
    img = palette[np.maximum(stuff_map, 0)]  # void boundaries are unlabeled, not unpainted
    for o in visible:
        img[o.mask] = COLOURS[o.thing.split()[0]]
    img += rng.normal(0.0, 6.0, img.shape)  # texture, so regions are not flat colour
    return Scene(np.clip(img, 0, 255).astype(np.uint8), stuff_map, visible)
