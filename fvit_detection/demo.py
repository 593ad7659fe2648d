"""The detection demo step: train F-ViT on the synthetic world (random-init ViTamin-Tiny), evaluate OV-LVIS style."""
from __future__ import annotations

from pathlib import Path

CONFIG = Path(__file__).parent / "configs" / "synthetic_tiny.yaml"


def run(ctx) -> dict:
    from shared.engine import load_config

    from .config import FViTConfig
    from .train import train

    w = ctx.world
    cfg = load_config(FViTConfig, CONFIG, [
        f"data.train_ann={w.lvis_train_ov}", f"data.train_images={w.images}", f"data.val_ann={w.lvis_val}",
        f"data.val_images={w.images}", f"train.out_dir={ctx.out_dir}", f"text_cache={ctx.out_dir}/text_cache",
        f"train.seed={ctx.seed}", "train.resume=false", "train.export_pretrained=true"])
    metrics = train(cfg)
    keys = ("bbox_AP", "bbox_AP50", "bbox_APr", "bbox_AP_base", "bbox_AP_novel", "segm_AP", "segm_AP_base",
            "segm_AP_novel", "num_images")
    return {"config": str(CONFIG), "steps": cfg.train.max_steps, **{k: metrics[k] for k in keys if k in metrics},
            "checkpoint": str(Path(cfg.train.out_dir) / "last.pt"),
            "pretrained": str(Path(cfg.train.out_dir) / "pretrained")}  # for from_pretrained and python -m shared.app
