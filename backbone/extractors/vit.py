"""Plain CLIP ViT (open_clip ``VisionTransformer``), the ViT-L/14 baseline."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed

from .base import FeatureExtractor, check_block_indices, tokens_to_map


class ViTExtractor(FeatureExtractor):
    """res4 = patch tokens (stride = patch size). A plain ViT has no finer maps: res3 / res2 are the tokens
    upsampled ×2 / ×4 (bilinear, parameter-free; F-ViT learns transposed convs on top), and no ``stem``.
    """

    family = "vit"
    clip_source = "res4"

    @property
    def native_size(self) -> tuple[int, int]:
        return tuple(self.visual.image_size)

    @property
    def num_blocks(self) -> int:
        return len(self.visual.transformer.resblocks)

    @property
    def token_stride(self) -> int:
        return self.visual.patch_size[0]

    @property
    def has_pos_embed(self) -> bool:
        return True

    def forward_window(self, x, block_indices: Sequence[int] = (), skip_pos_embed: bool = False):
        vis = self.visual
        if vis.attn_pool is not None:
            raise NotImplementedError("attention-pooled open_clip ViTs are not supported")
        wanted = set(check_block_indices(block_indices, self.num_blocks))
        x = vis.conv1(x)
        grid = (x.shape[2], x.shape[3])
        t = x.flatten(2).transpose(1, 2)
        cls = vis.class_embedding.to(t.dtype).expand(t.shape[0], 1, -1)
        t = torch.cat([cls, t], dim=1)
        if not skip_pos_embed:
            pos = vis.positional_embedding.to(t.dtype).unsqueeze(0)
            if grid != tuple(vis.grid_size):
                pos = resample_abs_pos_embed(pos, new_size=grid, old_size=vis.grid_size, num_prefix_tokens=1)
            t = t + pos
        t = vis.ln_pre(vis.patch_dropout(t))
        out = {}
        for i, block in enumerate(vis.transformer.resblocks):
            t = block(t)
            if i in wanted:
                out[f"block{i}"] = tokens_to_map(t[:, 1:], grid)
        res4 = out["res4"] = tokens_to_map(t[:, 1:], grid)
        out["res3"] = F.interpolate(res4, scale_factor=2, mode="bilinear", align_corners=False)
        out["res2"] = F.interpolate(res4, scale_factor=4, mode="bilinear", align_corners=False)
        return out

    def embed_vectors(self, v):
        vis = self.visual
        v = vis.ln_post(v)
        return v @ vis.proj if vis.proj is not None else v

    def embed_pooled(self, m):
        raise NotImplementedError("a CLS-pooled ViT's image embedding is not a function of its patch tokens")
