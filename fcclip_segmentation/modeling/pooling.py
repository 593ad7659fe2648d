"""Mask pooling: average a feature map inside each predicted (binarised) mask."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def mask_pool(features: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """features (B, C, h, w), mask_logits (B, Q, H, W) → (B, Q, C): Σ [logit > 0]·f / (Σ [logit > 0] + 1e-8).

    Masks are resized (bilinear) to the feature size first; no gradient flows through the binarised masks.
    """
    if mask_logits.shape[-2:] != features.shape[-2:]:
        mask_logits = F.interpolate(mask_logits, size=features.shape[-2:], mode="bilinear", align_corners=False)
    m = (mask_logits > 0).to(features.dtype).detach()
    return torch.einsum("bqhw,bchw->bqc", m, features) / (m.sum(dim=(-2, -1))[..., None] + 1e-8)
