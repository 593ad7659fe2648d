"""Image–caption pairs of a scene for contrastive (CLIP) pre-training: the whole image and one crop per object and
per visible stuff class, each with a caption naming what is in it (colour, shape, synonyms, counts, positions).

Every thing class, the detection novel classes included, and every stuff class is named (by its name or its
synonym, at random), so a CLIP trained on these pairs knows the vocabulary that the detectors and the segmenter
hold out. The file is a tab-separated table in the layout open_clip's own ``CsvDataset`` reads with its default
options (``--csv-separator`` tab, ``--csv-img-key filepath``, ``--csv-caption-key title``); image paths are
relative to the world folder.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from .scene import SHAPE_SYNONYMS, STUFF, STUFF_SYNONYMS, THINGS, Scene

SEPARATOR = "\t"  # open_clip_train's --csv-separator default
IMAGE_KEY, CAPTION_KEY = "filepath", "title"  # its --csv-img-key / --csv-caption-key defaults
CROP_CONTEXT = 0.25  # an object crop is its box widened by this fraction of its longer side on each side
MIN_CROP = 16  # pixels: the side of the smallest crop
STUFF_WINDOW = 0.25  # stuff crops: a square of this fraction of the image side …
STUFF_PURITY = 0.9  # … with at least this share of free pixels of that stuff class
STUFF_TRIES = 20
NUMBER_WORDS = ("zero", "a", "two", "three", "four", "five")
OBJECT_TEMPLATES = ("a {}", "a {}.", "a photo of a {}.", "a {} on {}", "a {} in front of {}", "{}",
                    "there is a {} in the scene", "a small {}", "a large {}")
STUFF_TEMPLATES = ("{}", "a patch of {}", "a photo of {}.", "{} seen from above", "there is {} in the scene")


def thing_name(rng: np.random.Generator, thing: str) -> str:
    """``"red circle"`` or its synonym ``"red disc"``, at random."""
    colour, shape = thing.split()
    return f"{colour} {shape if rng.random() < 0.5 else SHAPE_SYNONYMS[shape]}"


def stuff_name(rng: np.random.Generator, stuff: str) -> str:
    """``"sand"`` or its synonym ``"beach"``, at random."""
    return stuff if rng.random() < 0.5 else STUFF_SYNONYMS[stuff]


def _position(bbox: list[float], size: int) -> str | None:
    """Where a box lies when it lies wholly in one half of the image (left/right first), else None."""
    x, y, w, h = bbox
    if x + w <= size / 2:
        return "on the left"
    if x >= size / 2:
        return "on the right"
    if y + h <= size / 2:
        return "at the top"
    if y >= size / 2:
        return "at the bottom"
    return None


def image_caption(rng: np.random.Generator, objects: list[tuple[str, list[float]]], stuff: list[str],
                  size: int) -> str:
    """E.g. "two blue squares, a red disc on the left and a green wedge on lawn and beach"."""
    counts = Counter(t for t, _ in objects)
    parts = []
    for thing in sorted(counts, key=THINGS.index):
        n = counts[thing]
        name = thing_name(rng, thing)
        if n == 1:
            where = _position(next(b for t, b in objects if t == thing), size)
            parts.append(f"a {name}" + (f" {where}" if where else ""))
        else:
            parts.append(f"{NUMBER_WORDS[min(n, len(NUMBER_WORDS) - 1)]} {name}s")
    order = rng.permutation(len(parts))
    return f"{_enumerate([parts[i] for i in order])} on {_enumerate([stuff_name(rng, s) for s in stuff])}"


def _enumerate(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def crop_box(bbox: list[float], size: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1): a square around an object's (x, y, w, h) box with ``CROP_CONTEXT`` on each side, moved
    inside the ``size``×``size`` image."""
    x, y, w, h = bbox
    side = int(round(min(size, max(MIN_CROP, max(w, h) * (1 + 2 * CROP_CONTEXT)))))
    x0 = int(round(min(max(x + w / 2 - side / 2, 0), size - side)))
    y0 = int(round(min(max(y + h / 2 - side / 2, 0), size - side)))
    return x0, y0, x0 + side, y0 + side


def _stuff_window(rng: np.random.Generator, free_stuff: np.ndarray, side: int):
    """A square of side ``side`` that is mostly (``STUFF_PURITY``) the given free stuff pixels, or None."""
    size = free_stuff.shape[0]
    for _ in range(STUFF_TRIES):
        x0, y0 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
        if free_stuff[y0:y0 + side, x0:x0 + side].mean() >= STUFF_PURITY:
            return x0, y0, x0 + side, y0 + side
    return None


def scene_pairs(rng: np.random.Generator, scene: Scene, objects: list[tuple[str, list[float]]],
                stuff: list[str]) -> list[tuple[tuple[int, int, int, int] | None, str]]:
    """(crop box or None for the whole image, caption) pairs of one scene: the image, each object, and one window
    of each visible stuff class where one fits. ``objects``: (thing, visible bbox) in scene order."""
    size = scene.image.shape[0]
    pairs: list[tuple[tuple[int, int, int, int] | None, str]] = [(None, image_caption(rng, objects, stuff, size))]
    names = list(STUFF)
    for thing, bbox in objects:
        x, y, w, h = bbox
        below = scene.stuff_map[min(int(y + h), size - 1), min(int(x + w / 2), size - 1)]
        template = OBJECT_TEMPLATES[int(rng.integers(len(OBJECT_TEMPLATES)))]
        name = thing_name(rng, thing)
        if template.count("{}") == 2:
            template = template if below >= 0 else "a {}"
            ground = stuff_name(rng, names[below]) if below >= 0 else ""
            pairs.append((crop_box(bbox, size), template.format(name, ground)))
        else:
            pairs.append((crop_box(bbox, size), template.format(name)))
    covered = np.zeros(scene.stuff_map.shape, bool)
    for o in scene.objects:
        covered |= o.mask
    side = max(MIN_CROP, int(size * STUFF_WINDOW))
    for s in stuff:
        box = _stuff_window(rng, (scene.stuff_map == names.index(s)) & ~covered, side)
        if box is not None:
            template = STUFF_TEMPLATES[int(rng.integers(len(STUFF_TEMPLATES)))]
            pairs.append((box, template.format(stuff_name(rng, s))))
    return pairs


def table(rows: list[tuple[str, str]]) -> str:
    """The caption file's text: a ``filepath``/``title`` header, then one ``path<TAB>caption`` line per pair."""
    for path, cap in rows:
        if SEPARATOR in path + cap or "\n" in path + cap:
            raise ValueError(f"caption row {path!r}: tabs and newlines cannot appear in a path or caption")
    return "\n".join([SEPARATOR.join((IMAGE_KEY, CAPTION_KEY))] + [SEPARATOR.join(r) for r in rows]) + "\n"


def read_table(path) -> list[tuple[str, str]]:
    """(image path, caption) rows of a caption file written by ``table`` (errors name the file and line)."""
    from pathlib import Path

    lines = Path(path).read_text().splitlines()
    header = SEPARATOR.join((IMAGE_KEY, CAPTION_KEY))
    if not lines or lines[0] != header:
        raise ValueError(f"{path}: expected the header {header!r} (tab-separated), got {lines[:1]}")
    rows = []
    for k, line in enumerate(lines[1:], start=2):
        parts = line.split(SEPARATOR)
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{path}:{k}: expected 'image path<TAB>caption', got {line!r}")
        rows.append((parts[0], parts[1]))
    return rows
