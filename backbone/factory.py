"""``build_backbone``: registry name (+ weights, options) → ``ClipBackbone``."""
from __future__ import annotations

import warnings

import torch

from . import tiny
from .model import ClipBackbone
from .options import BackboneOptions
from .registry import get_entry
from .weights import create_clip_model


def build_backbone(name: str, pretrained: str | None = None, device: str | torch.device = "cpu",
                   **options) -> ClipBackbone:
    """Build the feature backbone of open_clip model ``name``.

    pretrained: None (random init), an open_clip pretrained tag (e.g. ``datacomp1b``; downloads when online),
        or a local ``.safetensors``/``.bin``/``.pt`` file of a full CLIP model or of its image tower only.
    device: ``meta`` builds a shape-only model (fast; for specs, counts and MACs).
    options: fields of ``BackboneOptions`` (mode, window_stride, res5, block_indices, frozen, …).
    """
    import open_clip

    entry = get_entry(name)
    opts = BackboneOptions.from_kwargs(**options)
    tiny.register()
    clip_model, weights = create_clip_model(name, pretrained, device=device)
    backbone = ClipBackbone(clip_model, name, entry.family, opts, open_clip.get_tokenizer(name), weights)
    for w in backbone.spec.warnings:
        warnings.warn(w)
    return backbone
