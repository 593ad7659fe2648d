"""Multi-level RoIAlign with ``aligned=True`` (torchvision's MultiScaleRoIAlign hard-codes aligned=False)."""
from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.ops import roi_align
from torchvision.ops.poolers import LevelMapper


class MultiLevelRoIAlign(nn.Module):
    """Pools each box from the level its size maps to: ⌊log2(√(wh) / 56)⌋ clamped to the levels (mmdet's rule,
    boundaries 112 / 224 / 448 px), with adaptive sampling and pixel-centre alignment.
    """

    def __init__(self, strides: list[float], output_size: int):
        super().__init__()
        levels = [math.log2(s) for s in strides]
        if any(abs(lv - round(lv)) > 1e-6 for lv in levels) or levels != sorted(levels):
            raise ValueError(f"RoI strides must be increasing powers of two, got {strides}")
        self.scales = [1.0 / s for s in strides]
        self.output_size = output_size
        self.mapper = LevelMapper(round(levels[0]), round(levels[-1]))

    def forward(self, feats: list[torch.Tensor], boxes: list[torch.Tensor]) -> torch.Tensor:
        """feats: per level (B, C, h, w); boxes: per image (n_i, 4) xyxy → (Σn_i, C, S, S)."""
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)])
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1], self.output_size, self.output_size))
        if rois.shape[0] == 0:
            return out
        levels = self.mapper(boxes)
        for k, (f, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == k)[0]
            if idx.numel():
                out[idx] = roi_align(f, rois[idx].to(f.dtype), self.output_size, spatial_scale=scale,
                                     sampling_ratio=0, aligned=True).to(out.dtype)
        return out
