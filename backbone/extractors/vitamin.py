"""ViTamin (timm ``VisionTransformer`` with a ``HybridEmbed`` of ``MbConvStages``) inside open_clip."""
from __future__ import annotations

from typing import Sequence

import torch
from timm.layers import resample_abs_pos_embed

from .base import FeatureExtractor, check_block_indices, tokens_to_map


class ViTaminExtractor(FeatureExtractor):
    """stem (s2) → stages[0] = res2 (s4) → stages[1] = res3 (s8) → pool + pos-embed + blocks = res4 (s16).

    Pieces are taken from the trunk in the order ``trunk.forward_features`` runs them, so at the native
    size ``res4`` equals ``forward_features`` exactly.
    """

    family = "vitamin"
    clip_source = "res4"

    def __init__(self, visual):
        super().__init__(visual)
        self.trunk = visual.trunk
        self.convs = self.trunk.patch_embed.backbone
        if len(self.convs.stages) != 2:
            raise ValueError(f"expected 2 MbConv stages in a ViTamin trunk, found {len(self.convs.stages)}")

    @property
    def native_size(self) -> tuple[int, int]:
        return tuple(self.trunk.patch_embed.img_size)

    @property
    def num_blocks(self) -> int:
        return len(self.trunk.blocks)

    @property
    def token_stride(self) -> int:
        return self.native_size[0] // self.trunk.patch_embed.grid_size[0]

    @property
    def has_pos_embed(self) -> bool:
        return self.trunk.pos_embed is not None

    def _add_pos_embed(self, tokens: torch.Tensor, grid: tuple[int, int], skip: bool) -> torch.Tensor:
        trunk = self.trunk
        if skip or trunk.pos_embed is None:
            return tokens
        native_grid = tuple(trunk.patch_embed.grid_size)
        if grid == native_grid:
            return trunk._pos_embed(tokens)
        pos = resample_abs_pos_embed(trunk.pos_embed, new_size=grid, old_size=native_grid, num_prefix_tokens=0)
        return trunk.pos_drop(tokens + pos)

    def forward_window(self, x, block_indices: Sequence[int] = (), skip_pos_embed: bool = False):
        trunk, convs = self.trunk, self.convs
        wanted = set(check_block_indices(block_indices, self.num_blocks))
        out = {}
        x = out["stem"] = convs.stem(x)
        x = out["res2"] = convs.stages[0](x)
        x = out["res3"] = convs.stages[1](x)
        x = convs.pool(x)
        grid = (x.shape[2], x.shape[3])
        t = self._add_pos_embed(x.flatten(2).transpose(1, 2), grid, skip_pos_embed)
        t = trunk.norm_pre(trunk.patch_drop(t))
        for i, block in enumerate(trunk.blocks):
            t = block(t)
            if i in wanted:
                out[f"block{i}"] = tokens_to_map(t, grid)
        out["res4"] = tokens_to_map(trunk.norm(t), grid)
        return out

    def embed_vectors(self, v):
        trunk = self.trunk
        return self.visual.head(trunk.head(trunk.head_drop(trunk.fc_norm(v))))
