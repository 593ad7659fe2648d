"""Learning-rate schedule: linear warm-up then step decay; linear LR scaling with the batch size."""
from __future__ import annotations

import bisect

import torch


def warmup_step_lambda(warmup_steps: int, warmup_ratio: float, milestones, gamma: float):
    """Factor at step t: warm-up from ``warmup_ratio`` to 1 over ``warmup_steps`` (mmcv 'linear'), then ×``gamma``
    at every milestone passed."""
    milestones = sorted(milestones)

    def factor(step: int) -> float:
        decay = gamma ** bisect.bisect_right(milestones, step)
        if step < warmup_steps:
            return decay * (1 - (1 - step / warmup_steps) * (1 - warmup_ratio))
        return decay

    return factor


def build_scheduler(optimizer, warmup_steps: int, warmup_ratio: float, milestones, gamma: float):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_step_lambda(warmup_steps, warmup_ratio, milestones, gamma))


def scale_lr(base_lr: float, batch_size: int, base_batch_size: int | None) -> float:
    """Linear scaling rule: lr · (total batch / base batch); unchanged when ``base_batch_size`` is None."""
    return base_lr if not base_batch_size else base_lr * batch_size / base_batch_size
