"""``ViTamin-Tiny``: a ViTamin of the real architecture at toy width, for CPU tests and the demo.

It is timm's ViTamin (MbConv-LN stages + GeGLU transformer) with smaller widths and depths,
registered under timm name ``vitamin_tiny_128`` and open_clip name ``ViTamin-Tiny``. No weights exist
for it; it is always random-init (or trained by this repo's synthetic runs).
"""
from __future__ import annotations

from pathlib import Path

import open_clip
import timm
from timm.models import vitamin as timm_vitamin

CONFIG_DIR = Path(__file__).parent / "model_configs"


def vitamin_tiny_128(pretrained: bool = False, **kwargs):
    embed_cfg = timm_vitamin.VitCfg(
        embed_dim=(16, 32, 64),
        depths=(1, 1, 1),
        stem_width=16,
        conv_cfg=timm_vitamin.VitConvCfg(norm_layer="layernorm2d", norm_eps=1e-6),
        head_type="1d",
    )
    model_args = dict(
        img_size=128, embed_dim=64, depth=4, num_heads=2, mlp_layer=timm_vitamin.GeGluMlp, mlp_ratio=2.0,
        class_token=False, global_pool="avg", embed_cfg=embed_cfg,
    )
    return timm_vitamin._create_vitamin("vitamin_tiny_128", pretrained=pretrained, **dict(model_args, **kwargs))


def register() -> None:
    """Make ``ViTamin-Tiny`` known to timm and open_clip (idempotent)."""
    if "vitamin_tiny_128" not in timm.list_models("vitamin_tiny_128"):
        vitamin_tiny_128.__module__ = timm_vitamin.__name__
        timm.models.register_model(vitamin_tiny_128)
    if "ViTamin-Tiny" not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_DIR)
