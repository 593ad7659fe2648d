"""Helpers for the F-ViT tests (importable from test files and from torchrun scripts)."""
from shared.engine import load_config

CONFIG = "fvit_detection/configs/synthetic_tiny.yaml"


def make_config(world, out_dir, *overrides):
    from fvit_detection.config import FViTConfig

    return load_config(FViTConfig, CONFIG, [
        f"data.train_ann={world.lvis_train_ov}", f"data.train_images={world.images}",
        f"data.val_ann={world.lvis_val}", f"data.val_images={world.images}",
        f"train.out_dir={out_dir}", f"text_cache={out_dir}/text_cache", "train.progress=false", *overrides])
