"""Trainable per-level adapters between the frozen ViTamin pyramid and the FPN (F-ViT ``interpolate1..4``)."""
from __future__ import annotations

from torch import nn

from backbone import BackboneSpec


def _norm(kind: str, channels: int) -> nn.Module:
    if kind == "bn":
        return nn.BatchNorm2d(channels)
    if kind == "gn":
        return nn.GroupNorm(min(32, channels), channels)
    raise ValueError(f"norm={kind!r}: expected 'bn' (SyncBN under DDP) or 'gn'")


class PyramidAdapters(nn.Module):
    """C2..C5 for the FPN from the backbone outputs.

    C2 = conv3×3 → norm → GELU → conv3×3 on ``res2`` (stride 4); C3 = conv3×3 on ``res3`` (stride 8);
    C4 = the tapped middle block (stride 16, identity); C5 = ``res5`` (the backbone's 2×2 max-pool of the last
    block, stride 32). Channels are read from the spec.
    """

    def __init__(self, spec: BackboneSpec, c4_block: int, norm: str = "bn"):
        super().__init__()
        c2, c3 = spec.levels["res2"].channels, spec.levels["res3"].channels
        self.c4_key = f"block{c4_block}"
        self.adapt2 = nn.Sequential(nn.Conv2d(c2, c2, 3, padding=1), _norm(norm, c2), nn.GELU(),
                                    nn.Conv2d(c2, c2, 3, padding=1))
        self.adapt3 = nn.Conv2d(c3, c3, 3, padding=1)
        self.out_channels = [c2, c3, spec.block_channels, spec.levels["res5"].channels]
        self.strides = [spec.levels["res2"].stride, spec.levels["res3"].stride, spec.block_stride,
                        spec.levels["res5"].stride]

    def forward(self, feats: dict) -> dict:
        """backbone outputs → {"c2": (B,C2,H/4,W/4), "c3": …/8, "c4": …/16, "c5": …/32}."""
        return {"c2": self.adapt2(feats["res2"]), "c3": self.adapt3(feats["res3"]),
                "c4": feats[self.c4_key], "c5": feats["res5"]}
