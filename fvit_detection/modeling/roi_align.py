"""Multi-level RoIAlign with ``aligned=True`` (torchvision's MultiScaleRoIAlign hard-codes aligned=False)."""
from __future__ import annotations

import torch
import torchvision
from torch import nn
from torchvision.ops import roi_align


class MultiLevelRoIAlign(nn.Module):
    """Pools each box from the level its size maps to: ⌊log2(√(wh) / 56)⌋ clamped to the levels (mmdet's rule,
    boundaries 112 / 224 / 448 px), with adaptive sampling and pixel-centre alignment.
    """

    def __init__(self, strides: list[float], output_size: int, finest_scale: float = 56.0):
        super().__init__()
        if list(strides) != sorted(strides):
            raise ValueError(f"RoI strides must increase, got {strides}")
        self.scales = [1.0 / s for s in strides]
        self.output_size = output_size
        self.finest_scale = finest_scale

    def levels(self, boxes: list[torch.Tensor]) -> torch.Tensor:
        """(Σn,) level index of every box: ⌊log2(√(wh) / 56 + 1e-6)⌋ clamped to [0, L − 1]."""
        b = torch.cat(boxes)
        size = ((b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)).sqrt()
        lvl = torch.floor(torch.log2(size / self.finest_scale + 1e-6))
        return lvl.clamp(0, len(self.scales) - 1).long()

    def forward(self, feats: list[torch.Tensor], boxes: list[torch.Tensor]) -> torch.Tensor:
        """feats: per level (B, C, h, w); boxes: per image (n_i, 4) xyxy → (Σn_i, C, S, S)."""
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(boxes)])
        out = feats[0].new_zeros((rois.shape[0], feats[0].shape[1], self.output_size, self.output_size))
        if not torchvision._is_tracing() and rois.shape[0] == 0:  # a traced graph must also take boxes
            return out
        levels = self.levels(boxes)
        for k, (f, scale) in enumerate(zip(feats, self.scales)):
            idx = torch.where(levels == k)[0]
            if torchvision._is_tracing() or idx.numel():  # a traced graph keeps every level's branch
                pooled = roi_align(f, rois[idx].to(f.dtype), self.output_size, spatial_scale=scale,
                                   sampling_ratio=0, aligned=True).to(out.dtype)
                # a scatter, not out[idx] = …: exported, index assignment fixes the box count it was traced with
                out = out.scatter(0, idx.view(-1, 1, 1, 1).expand_as(pooled), pooled)
        return out
