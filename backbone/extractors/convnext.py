"""ConvNeXt CLIP (timm ``ConvNeXt`` trunk inside open_clip ``TimmModel``), the FC-CLIP baseline."""
from __future__ import annotations

from typing import Sequence

from .base import FeatureExtractor


class ConvNeXtExtractor(FeatureExtractor):
    """stem (s4) → stages[0..3] = res2..res5 (s4..s32); dense CLIP map from res5 after ``norm_pre``
    (as FC-CLIP's ConvNeXt path). Fully convolutional: any input size, no position embedding.
    """

    family = "convnext"
    clip_source = "res5"

    def __init__(self, visual):
        super().__init__(visual)
        self.trunk = visual.trunk
        if len(self.trunk.stages) != 4:
            raise ValueError(f"expected 4 ConvNeXt stages, found {len(self.trunk.stages)}")

    @property
    def native_size(self) -> tuple[int, int]:
        return tuple(self.visual.image_size)

    @property
    def token_stride(self) -> int:
        return 32  # five stride-2 reductions of a ConvNeXt (4×4 patchify stem + 3 downsampling stages)

    def forward_window(self, x, block_indices: Sequence[int] = (), skip_pos_embed: bool = False):
        if block_indices:
            raise ValueError("a ConvNeXt has no transformer blocks to tap (block_indices must be empty)")
        trunk = self.trunk
        out = {}
        x = out["stem"] = trunk.stem(x)
        for name, stage in zip(("res2", "res3", "res4", "res5"), trunk.stages):
            x = out[name] = stage(x)
        out["res5"] = trunk.norm_pre(x)
        return out

    def embed_vectors(self, v):
        head = self.trunk.head
        v = head.norm(v[:, :, None, None]).flatten(1)
        v = head.fc(head.drop(head.pre_logits(v)))
        return self.visual.head(v)
