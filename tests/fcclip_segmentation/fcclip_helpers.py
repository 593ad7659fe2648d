"""Helpers for the FC-CLIP tests (importable from test files and torchrun scripts)."""
from fcclip_segmentation.demo import CONFIG, synthetic_overrides
from shared.engine import load_config


def make_config(world, out_dir, *overrides):
    from fcclip_segmentation.config import FCCLIPConfig

    return load_config(FCCLIPConfig, CONFIG, synthetic_overrides(world, out_dir) + ["train.progress=false", *overrides])


def write_semantic_labels(world, out_dir, suffix=".png", ignore=255):
    """The synthetic val set as a semantic-only set: one label map per image (class positions in category-id
    order, ``ignore`` on void), painted from the panoptic PNGs; PNG (uint8) or TIFF (uint16)."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    from shared.formats.panoptic import load_panoptic_json, read_segment_ids

    data = load_panoptic_json(world.panoptic_val, world.panoptic_val_dir)
    label = {c: i for i, c in enumerate(sorted(data["categories"]))}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for rec in data["records"]:
        h, w = rec["image"]["height"], rec["image"]["width"]
        ids = read_segment_ids(rec["png"], rec["segments"], (h, w))
        gt = np.full((h, w), ignore, np.uint16 if suffix == ".tif" else np.uint8)
        for s in rec["segments"]:
            gt[ids == s["id"]] = label[s["category_id"]]
        Image.fromarray(gt).save(out_dir / (Path(rec["image"]["file_name"]).stem + suffix))
    return out_dir
