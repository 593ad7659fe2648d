"""Set criterion: transformers' Mask2Former loss (Hungarian matching, CE / BCE / dice with point sampling),
with the mask count averaged over the torch.distributed ranks."""
from __future__ import annotations

import torch
import torch.distributed as dist
from transformers.models.mask2former.modeling_mask2former import Mask2FormerLoss


class SetCriterion(Mask2FormerLoss):
    """transformers only averages the number of masks across ranks under accelerate; do it for torchrun too."""

    def get_num_masks(self, class_labels, device):
        n = torch.as_tensor(float(sum(len(c) for c in class_labels)), device=device)
        world = 1
        if dist.is_available() and dist.is_initialized():
            dist.all_reduce(n)
            world = dist.get_world_size()
        return torch.clamp(n / world, min=1)

    def weighted(self, losses: dict) -> dict:
        """Apply the class / mask / dice weights (to the auxiliary layers' losses too)."""
        out = {}
        for key, value in losses.items():
            w = next((wt for name, wt in self.weight_dict.items() if key.startswith(name)), 1.0)
            out[key] = value * w
        return out
