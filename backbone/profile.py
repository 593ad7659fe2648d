"""Parameter and multiply-accumulate counts, measured with torch's own FLOP counter on shape-only models."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

aten = torch.ops.aten
# What the paper's model-zoo tables count: convolutions and linear layers. Everything else the counter sees
# (bmm / baddbmm / attention kernels) is the attention score and value products.
LINEAR_CONV_OPS = {aten.convolution, aten._convolution, aten.mm, aten.addmm}


def count_macs(fn: Callable[[], Any], grad: bool = False) -> dict[str, int]:
    """MACs of ``fn()``: ``linear_conv`` and ``attention`` (products QKᵀ and AV). 1 MAC = 2 FLOPs.

    SDPA runs in its math form so attention appears as plain matmuls the counter understands. ``grad``: autograd
    stays on, so a training step's backward products are counted too.
    """
    counter = FlopCounterMode(display=False)
    with torch.set_grad_enabled(grad), sdpa_kernel(SDPBackend.MATH), counter:
        fn()
    per_op = counter.get_flop_counts().get("Global", {})
    linear_conv = sum(v for op, v in per_op.items() if op in LINEAR_CONV_OPS) // 2
    attention = sum(v for op, v in per_op.items() if op not in LINEAR_CONV_OPS) // 2
    return {"linear_conv": int(linear_conv), "attention": int(attention)}


def backbone_info(name: str) -> dict[str, Any]:
    """Spec, parameter counts and MACs of registry model ``name`` (built on the meta device: no weights)."""
    from .factory import build_backbone

    bb = build_backbone(name, device="meta")
    clip = bb.clip
    h, w = bb.spec.native_size
    params_image = sum(p.numel() for p in clip.visual.parameters())
    params_total = sum(p.numel() for p in clip.parameters())
    image = torch.empty(1, 3, h, w, device="meta")
    macs_image = count_macs(lambda: clip.encode_image(image))
    context = int(getattr(clip, "context_length", 77))
    tokens = torch.zeros(1, context, dtype=torch.long, device="meta")
    macs_text = count_macs(lambda: clip.encode_text(tokens))
    spec = bb.spec
    return {
        "name": name,
        "family": spec.family,
        "image_size": list(spec.native_size),
        "embed_dim": spec.embed_dim,
        "params_image": params_image,
        "params_text": params_total - params_image,
        "macs_image": macs_image["linear_conv"],
        "macs_text": macs_text["linear_conv"],
        "macs_image_with_attention": macs_image["linear_conv"] + macs_image["attention"],
        "macs_text_with_attention": macs_text["linear_conv"] + macs_text["attention"],
        "context_length": context,
        "num_blocks": spec.num_blocks,
        "block_channels": spec.block_channels,
        "size_divisibility": spec.size_divisibility,
        "pyramid": {k: {"channels": v.channels, "stride": v.stride} for k, v in spec.levels.items()},
        "mean": list(spec.mean),
        "std": list(spec.std),
        "warnings": list(spec.warnings),
    }
