"""Learnable per-level position compensation added to the backbone maps (FC-CLIP's ``global_pos_embed``)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PositionCompensation(nn.Module):
    """One learnable (1, C, h, w) map per level, stored at a base grid and resized bilinearly to the feature
    size, so any input size works (the reference hard-codes 1344² inputs)."""

    def __init__(self, channels: dict[str, int], grids: dict[str, tuple[int, int]], init_std: float = 1.0):
        super().__init__()
        self.maps = nn.ParameterDict({k: nn.Parameter(torch.randn(1, c, *grids[k]) * init_std)
                                      for k, c in channels.items()})

    def forward(self, feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        out = dict(feats)
        for k, p in self.maps.items():
            x = feats[k]
            pe = p if p.shape[-2:] == x.shape[-2:] else F.interpolate(p, size=x.shape[-2:], mode="bilinear",
                                                                       align_corners=False)
            out[k] = x + pe.to(x.dtype)
        return out
