"""Timing helpers shared by the benchmark scripts."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch


def timed(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after one warm-up call (CUDA synchronised)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"


def step_functions(model: torch.nn.Module, batch: dict, dtype: torch.dtype | None,
                   device: torch.device) -> tuple[Callable[[], None], Callable[[], None]]:
    """(train_step, infer) for a detector / segmenter of this repo: ``model(batch)`` returns ``loss*`` entries in
    train mode; inference runs the same images without targets. AdamW on the trainable parameters; autocast to
    ``dtype`` when given."""
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4)
    test_batch = {"images": batch["images"], "image_sizes": batch["image_sizes"]}

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    def train_step():
        model.train()
        with autocast():
            loss = sum(v for k, v in model(batch).items() if k.startswith("loss"))
        opt.zero_grad()
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad(), autocast():
            model(test_batch)

    return train_step, infer
