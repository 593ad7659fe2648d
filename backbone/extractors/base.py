"""The per-window forward every CLIP image-tower family implements."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class FeatureExtractor:
    """Reads features out of an open_clip image tower (``visual``) without re-implementing it.

    Not an ``nn.Module``: the tower is owned (and registered) by the enclosing backbone; this object only
    knows how to walk it. Subclasses set ``family``, ``clip_source`` and implement the three methods below.
    """

    family: str = ""
    clip_source: str = "res4"  # level the dense CLIP map is computed from

    def __init__(self, visual: nn.Module):
        self.visual = visual

    # --- facts about the tower -----------------------------------------------------------------
    @property
    def native_size(self) -> tuple[int, int]:
        raise NotImplementedError

    @property
    def num_blocks(self) -> int:
        """Transformer blocks that can be tapped with ``block_indices`` (0 for a pure ConvNet)."""
        return 0

    @property
    def token_stride(self) -> int:
        """Stride of the coarsest map the tower itself computes; window origins align to it."""
        raise NotImplementedError

    @property
    def has_pos_embed(self) -> bool:
        return False

    # --- computation ---------------------------------------------------------------------------
    def forward_window(
        self, x: torch.Tensor, block_indices: Sequence[int] = (), skip_pos_embed: bool = False
    ) -> dict[str, torch.Tensor]:
        """(B, 3, H, W) → {level: (B, C, H/s, W/s)} for the tower's native levels and ``block{i}`` taps.

        The position embedding is resized when H × W differs from the native size.
        """
        raise NotImplementedError

    def embed_vectors(self, v: torch.Tensor) -> torch.Tensor:
        """(N, C) features of ``clip_source`` → (N, D) in the CLIP text space (not normalised).

        Applied to the global average of the tokens this is exactly the tower's pooled output
        (for average-pooled towers).
        """
        raise NotImplementedError

    def embed_map(self, m: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) → (B, D, h, w): ``embed_vectors`` at every location."""
        b, c, h, w = m.shape
        v = self.embed_vectors(m.permute(0, 2, 3, 1).reshape(b * h * w, c))
        return v.reshape(b, h, w, -1).permute(0, 3, 1, 2)

    def embed_pooled(self, m: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) → (B, D): global average then ``embed_vectors`` (== ``encode_image`` at native size)."""
        return self.embed_vectors(m.mean(dim=(2, 3)))


def tokens_to_map(tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """(B, h·w, C) → (B, C, h, w)."""
    b, n, c = tokens.shape
    return tokens.transpose(1, 2).reshape(b, c, grid[0], grid[1])


def check_block_indices(block_indices: Sequence[int], num_blocks: int) -> list[int]:
    """Negative indices count from the end; out-of-range indices raise."""
    out = []
    for i in block_indices:
        j = i + num_blocks if i < 0 else i
        if not 0 <= j < num_blocks:
            raise ValueError(f"block index {i} out of range for a tower with {num_blocks} blocks")
        out.append(j)
    return out
