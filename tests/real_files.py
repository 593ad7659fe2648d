"""Real public files for the tests (imported by test files): files nobody on the team wrote.

- Photos shipped inside an installed package (gradio's media assets, part of the ``app`` extra that ``dev``
  installs): ordinary JPEGs (one progressive), an RGBA PNG and a palette GIF. Found without importing gradio.
- The ``sample_data/`` of cocodataset/panopticapi: two COCO val2017 photos with their official COCO-panoptic json +
  PNGs and the same objects in COCO detection format (RLE masks, annotation ids from 0, stuff categories included);
  ``panoptic_coco_categories.json`` beside it. Annotations CC BY 4.0; the photos under the Flickr licenses their
  json records name. It is not committed here (the project commits no fetched files): it is looked up in
  ``$VITAMIN_REAL_DATA/panopticapi``, the steering repository's ``shared/data/panopticapi`` beside this checkout,
  or ``.real_data/panopticapi`` (git-ignored) in this checkout; tests that need it skip, saying where to put it.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PANOPTICAPI_PLACES = ("$VITAMIN_REAL_DATA/panopticapi", "../shared/data/panopticapi", ".real_data/panopticapi")

# name -> path inside the installed gradio package (format, mode and size as shipped)
PHOTOS = {
    "cheetah.jpg": "media_assets/images/cheetah.jpg",      # JPEG RGB 502x343
    "tower.jpg": "media_assets/images/tower.jpg",          # JPEG RGB 377x600 (portrait)
    "groot.jpeg": "media_assets/images/groot.jpeg",        # progressive JPEG RGB 910x512
    "cheetah2.jpg": "test_data/cheetah2.jpg",              # JPEG RGB 762x787
    "logo.png": "media_assets/images/hf-logo_transpng.png",  # PNG RGBA 256x256
    "rectangles.gif": "test_data/rectangles.gif",          # GIF P 400x300
}


def real_photo(name: str) -> Path:
    """The path of one of ``PHOTOS``; skips when gradio (the ``app`` extra) is not installed."""
    spec = importlib.util.find_spec("gradio")
    if spec is None or spec.origin is None:
        pytest.skip("gradio (the app extra, installed by .[dev]) is not installed: no real photos")
    path = Path(spec.origin).parent / PHOTOS[name]
    assert path.is_file(), f"{path} missing from the installed gradio"
    return path


def panopticapi_sample() -> Path:
    """The folder holding ``sample_data/`` and ``panoptic_coco_categories.json`` of cocodataset/panopticapi."""
    for place in PANOPTICAPI_PLACES:
        if place.startswith("$"):
            root = os.environ.get("VITAMIN_REAL_DATA")
            if not root:
                continue
            path = Path(root) / "panopticapi"
        else:
            path = (REPO / place).resolve()
        if (path / "sample_data" / "panoptic_examples.json").is_file():
            return path
    pytest.skip("cocodataset/panopticapi's sample_data/ + panoptic_coco_categories.json not found in any of "
                + ", ".join(PANOPTICAPI_PLACES))
