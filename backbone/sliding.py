"""Sliding-window feature extraction: native-size windows, batched, overlaps averaged."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F


def window_origins(length: int, window: int, stride: int, align: int = 1) -> list[int]:
    """Start offsets of the windows along one axis.

    ``ceil(max(length − window, 0) / stride) + 1`` windows at ``i · stride``, each rounded down to a multiple of
    ``align`` (``align=1`` keeps the reference placement), the last one snapped to end at the border.
    """
    if stride <= 0:
        raise ValueError(f"window stride must be positive, got {stride}")
    if length < window:
        raise ValueError(f"input side {length} is smaller than the window {window}; pad it first")
    count = -(-max(length - window, 0) // stride) + 1
    origins = {min((i * stride) // align * align, length - window) for i in range(count)}
    return sorted(origins)


def sliding_window_forward(
    fn: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    images: torch.Tensor,
    window: tuple[int, int],
    stride: tuple[int, int],
    align: int = 1,
    window_batch_size: int = 16,
) -> dict[str, torch.Tensor]:
    """Run ``fn`` on every window of every image and average the overlapping outputs.

    images: (B, 3, H, W) with H, W ≥ window. ``fn`` maps (N, 3, wh, ww) → {name: (N, C, wh/s, ww/s)}.
    All windows of the batch go through ``fn`` together, ``window_batch_size`` at a time. An output window at
    pixel origin (y, x) is pasted at ⌊y / s⌋, ⌊x / s⌋ (exact when origins are multiples of ``align`` = s).
    Returns {name: (B, C, ⌈H/s⌉, ⌈W/s⌉)} in float32.
    """
    tracing = torch.jit.is_tracing()
    # plain ints: traced, every size below would otherwise become shape arithmetic in the graph (fixed anyway)
    b, _, height, width = (int(v) for v in images.shape)
    wh, ww = window
    ys = window_origins(height, wh, stride[0], align)
    xs = window_origins(width, ww, stride[1], align)
    jobs = [(i, y, x) for i in range(b) for y in ys for x in xs]
    sums: dict[str, torch.Tensor] = {}
    out_size: dict[str, tuple[int, int]] = {}
    for start in range(0, len(jobs), window_batch_size):
        chunk = jobs[start : start + window_batch_size]
        crops = torch.stack([images[i, :, y : y + wh, x : x + ww] for i, y, x in chunk])
        for name, out in fn(crops).items():
            oh, ow = out_size.setdefault(name, tuple(int(v) for v in out.shape[-2:]))
            if name not in sums:
                shape = (b, int(out.shape[1]), -(-height * oh // wh), -(-width * ow // ww))
                sums[name] = torch.zeros(shape, dtype=torch.float32, device=out.device)
            buf = sums[name]
            for k, (i, y, x) in enumerate(chunk):
                py, px = y * oh // wh, x * ow // ww
                if tracing:  # one Pad + Add per window: an indexed += traces to ~70 ONNX ops (bit-identical sums)
                    bh, bw = (int(v) for v in buf.shape[-2:])
                    pad = (px, bw - px - ow, py, bh - py - oh)
                    placed = F.pad(out[k].float(), pad)[None]
                    buf = buf + (placed if b == 1 else F.pad(placed, (0, 0, 0, 0, 0, 0, i, b - 1 - i)))
                else:
                    buf[i, :, py : py + oh, px : px + ow] += out[k].float()
            sums[name] = buf
    # one count map per output resolution, shared by all channels and images
    counts: dict[tuple[int, int], torch.Tensor] = {}
    for name, (oh, ow) in out_size.items():
        if (oh, ow) not in counts:
            # in numpy: tiny, checkable for meta inputs too, and a single constant in a traced graph
            cnt = np.zeros(tuple(sums[name].shape[-2:]), np.float32)
            for y in ys:
                for x in xs:
                    py, px = y * oh // wh, x * ow // ww
                    cnt[py : py + oh, px : px + ow] += 1
            if not (cnt > 0).all():
                raise RuntimeError(f"sliding windows leave part of the {name} map uncovered")
            counts[(oh, ow)] = torch.from_numpy(cnt).to(sums[name].device)
    return {name: buf / counts[out_size[name]] for name, buf in sums.items()}
