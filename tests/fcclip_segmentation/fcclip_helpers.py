"""Helpers for the FC-CLIP tests (importable from test files and torchrun scripts)."""
from fcclip_segmentation.demo import CONFIG, synthetic_overrides
from shared.engine import load_config


def make_config(world, out_dir, *overrides):
    from fcclip_segmentation.config import FCCLIPConfig

    return load_config(FCCLIPConfig, CONFIG, synthetic_overrides(world, out_dir) + ["train.progress=false", *overrides])
