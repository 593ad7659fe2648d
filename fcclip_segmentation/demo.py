"""The segmentation demo step: train FC-CLIP on the synthetic world (random-init ViTamin-Tiny), evaluate PQ / mIoU."""
from __future__ import annotations

from pathlib import Path

CONFIG = Path(__file__).parent / "configs" / "synthetic_tiny.yaml"


def synthetic_overrides(world, out_dir) -> list[str]:
    """Config overrides pointing ``synthetic_tiny.yaml`` at a generated world."""
    a = world.root / "annotations"
    return [f"data.train_json={world.panoptic_train}", f"data.train_png={world.panoptic_train_dir}",
            f"data.train_images={world.images / 'train'}", f"data.train_class_names={world.classnames_panoptic}",
            f"data.val_json={world.panoptic_val}", f"data.val_png={world.panoptic_val_dir}",
            f"data.val_images={world.images / 'val'}", f"data.val_class_names={world.classnames_panoptic}",
            f"data.val_instances={a / 'instances_val.json'}", f"train.out_dir={out_dir}",
            f"text_cache={out_dir}/text_cache"]


def run(ctx) -> dict:
    from shared.engine import load_config

    from .config import FCCLIPConfig
    from .train import train

    cfg = load_config(FCCLIPConfig, CONFIG, synthetic_overrides(ctx.world, ctx.out_dir) +
                      [f"train.seed={ctx.seed}", "train.resume=false", "train.export_pretrained=true"])
    metrics = train(cfg)
    return {"config": str(CONFIG), "steps": cfg.train.max_steps, **metrics,
            "checkpoint": str(Path(cfg.train.out_dir) / "last.pt"),
            "pretrained": str(Path(cfg.train.out_dir) / "pretrained")}  # for from_pretrained and python -m shared.app
