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


def tiny_model(num_classes: int = 7):
    """A small FC-CLIP on a random-init ViTamin-Tiny (32-d heads, 5 queries, 2 decoder layers, 128 px grids)."""
    import warnings

    from backbone import build_backbone
    from fcclip_segmentation.modeling.fcclip import FCCLIP, FCCLIPModelConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cfg = FCCLIPModelConfig(backbone="ViTamin-Tiny", hidden_dim=32, num_queries=5, encoder_layers=2,
                                decoder_layers=3, num_heads=4, dim_feedforward=16, encoder_feedforward_dim=16,
                                position_compensation_size=128)
        return FCCLIP(cfg, build_backbone("ViTamin-Tiny"), num_classes)
