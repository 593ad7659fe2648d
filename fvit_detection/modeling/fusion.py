"""Open-vocabulary score fusion of F-ViT: detector × CLIP (VLM) probabilities, geometric, per split."""
from __future__ import annotations

import torch


def fuse_scores(p_det: torch.Tensor, p_vlm: torch.Tensor, novel: torch.Tensor, alpha: float, beta: float) -> torch.Tensor:
    """s_j = p_det^(1−α) · p_vlm^α for base classes and background, p_det^(1−β) · p_vlm^β for novel ones.

    p_det, p_vlm: (N, C+1) probabilities (background last); novel: (C+1,) bool (background False).
    No renormalisation afterwards (as the reference).
    """
    if p_det.shape != p_vlm.shape or novel.shape != p_det.shape[-1:]:
        raise ValueError(f"shapes differ: p_det {tuple(p_det.shape)}, p_vlm {tuple(p_vlm.shape)}, novel {tuple(novel.shape)}")
    w = torch.where(novel, torch.as_tensor(beta, dtype=p_det.dtype), torch.as_tensor(alpha, dtype=p_det.dtype))
    w = w.to(p_det.device)
    return p_det.pow(1 - w) * p_vlm.pow(w)


def masked_class_loss(logits: torch.Tensor, labels: torch.Tensor, class_weight: torch.Tensor) -> torch.Tensor:
    """F-ViT's classification loss over sampled RoIs.

    logits: (N, C+1), labels: (N,) in [0, C] (C = background), class_weight: (C+1,) — 0 for classes excluded from
    training (novel), the background weight last. Excluded classes get logit −∞ (the softmax runs over the rest),
    each RoI's CE is multiplied by the weight of its label, and the sum is divided by N (mmdet's avg_factor).
    The caller's logits are not modified.
    """
    if logits.numel() == 0:
        return logits.sum() * 0
    masked = logits.masked_fill(class_weight.to(logits.device) < 1e-5, float("-inf"))
    ce = torch.nn.functional.cross_entropy(masked, labels, reduction="none")
    w = class_weight.to(logits.device)[labels]
    ce = torch.where(w > 0, ce, torch.zeros_like(ce))  # an excluded label contributes 0, not 0·∞ = nan
    return (ce * w).sum() / max(labels.numel(), 1)
