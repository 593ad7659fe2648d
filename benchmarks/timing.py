"""Timing, memory and FLOP helpers shared by the benchmark scripts."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

AMP_DTYPES = {"none": None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def timed(fn: Callable[[], object], repeats: int, device: torch.device, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` calls, after ``warmup`` calls (CUDA synchronised)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_gib(device: torch.device) -> float | None:
    """Peak allocated GPU memory since the last ``reset_peak_memory`` (None on the CPU: not tracked)."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


def flops(fn: Callable[[], object], grad: bool = False) -> int:
    """FLOPs of one ``fn()`` call as torch's FLOP counter sees them (``backbone.profile.count_macs``: matmuls,
    convolutions and attention products; 1 MAC = 2 FLOPs). ``grad``: count with autograd on (a training step)."""
    from backbone.profile import count_macs

    macs = count_macs(fn, grad=grad)
    return 2 * (macs["linear_conv"] + macs["attention"])


def step_functions(model: torch.nn.Module, batch: dict, dtype: torch.dtype | None, device: torch.device,
                   fused_adamw: bool = True) -> tuple[Callable[[], None], Callable[[], None]]:
    """(train_step, infer) for a detector / segmenter of this repo: ``model(batch)`` returns ``loss*`` entries in
    train mode; inference runs the same images without targets. AdamW on the trainable parameters (the fused
    kernel on CUDA unless ``fused_adamw`` is false); autocast to ``dtype`` when given. The loss terms stay on the
    device (no host sync inside the step)."""
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-4,
                            fused=fused_adamw and device.type == "cuda")
    test_batch = {"images": batch["images"], "image_sizes": batch["image_sizes"]}

    def train_step():
        model.train()
        with autocast(device, dtype):
            loss = sum(v for k, v in model(batch).items() if k.startswith("loss"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer():
        model.eval()
        with torch.no_grad(), autocast(device, dtype):
            model(test_batch)

    return train_step, infer
