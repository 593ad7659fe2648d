"""``ClipBackbone``: a CLIP model seen as a feature pyramid + dense CLIP embeddings."""
from __future__ import annotations

import warnings
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .extractors import EXTRACTORS
from .options import BackboneOptions
from .sliding import sliding_window_forward
from .spec import BackboneSpec, LevelSpec

PYRAMID_LEVELS = ("stem", "res2", "res3", "res4", "res5")


class ClipBackbone(nn.Module):
    """Wraps an open_clip model; ``forward(images)`` returns the pyramid and the dense CLIP map.

    Output dict for images (B, 3, H, W), padded per ``spec`` to (H', W'):
      ``stem``/``res2``/``res3``/``res4``/``res5``: (B, C_l, H'/s_l, W'/s_l) for the levels in ``spec.levels``;
      ``clip_dense``: (B, D, H'/s, W'/s) — the tower's pooled-embedding head applied at every location;
      ``block{i}``: (B, C, H'/s, W'/s) for each requested transformer block.
    """

    def __init__(self, clip_model: nn.Module, name: str, family: str, options: BackboneOptions | None = None,
                 tokenizer=None, weights: str = "random-init"):
        super().__init__()
        self.clip = clip_model
        self.name = name
        self.weights = weights
        self.tokenizer = tokenizer
        self.options = options or BackboneOptions()
        self.extractor = EXTRACTORS[family](clip_model.visual)
        self.spec = self._probe_spec(family)
        if self.options.reference_skip_pos_embed and not self.extractor.has_pos_embed:
            warnings.warn(f"{name} has no position embedding; reference_skip_pos_embed has no effect")
        self.set_frozen(self.options.frozen)

    # --- frozen / trainable ----------------------------------------------------------------------
    def set_frozen(self, frozen: bool) -> None:
        self.options.frozen = frozen
        self.clip.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.options.frozen:
            self.clip.eval()  # drop-path / dropout stay off however the parent is switched
        return self

    @property
    def restorable(self) -> bool:
        """Frozen and loaded from a pretrained source: a checkpoint of a model around it need not store it."""
        return self.options.frozen and self.weights != "random-init"

    # --- spec ------------------------------------------------------------------------------------
    def _probe_spec(self, family: str) -> BackboneSpec:
        """Channels and strides read off one shape-only forward at the native size."""
        ext = self.extractor
        h, w = ext.native_size
        block = [0] if ext.num_blocks else []
        outs = _shape_only(lambda x: ext.forward_window(x, block), self.clip, (1, 3, h, w))
        levels = {}
        for name in PYRAMID_LEVELS:
            if name in outs:
                c, oh = outs[name][1], outs[name][2]
                levels[name] = LevelSpec(channels=c, stride=_stride(h, oh), source=f"{family}:{name}")
        if "res5" not in levels:
            r4 = levels["res4"]
            levels["res5"] = LevelSpec(r4.channels, r4.stride * 2, f"res4 {self.options.res5} ×2")
        dense = _shape_only(lambda x: ext.embed_vectors(x), self.clip, (1, outs[ext.clip_source][1]))
        clip_stride = levels[ext.clip_source].stride
        levels_dense = LevelSpec(dense[1], clip_stride, f"{ext.clip_source} → CLIP head per location")
        cfg = getattr(self.clip.visual, "preprocess_cfg", {}) or {}
        mean = tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        std = tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        warn = []
        cfg_size = tuple(getattr(self.clip.visual, "image_size", (h, w)))
        if cfg_size != (h, w):
            warn.append(f"open_clip config of {self.name} says image_size {cfg_size} but its timm trunk is built "
                        f"for {(h, w)}; using the trunk's size")
        block_ch = outs["block0"][1] if block else 0
        return BackboneSpec(
            name=self.name, family=family, native_size=(h, w), embed_dim=dense[1],
            levels={**levels, "clip_dense": levels_dense},
            num_blocks=ext.num_blocks, block_channels=block_ch,
            block_stride=levels["res4"].stride if block else 0.0,
            size_divisibility=int(levels["res5"].stride),
            mean=mean, std=std, warnings=tuple(warn),
        )

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, images: torch.Tensor, block_indices: Sequence[int] | None = None,
                window_stride: int | tuple[int, int] | None = None) -> dict[str, torch.Tensor]:
        """``block_indices`` / ``window_stride``: this call's, instead of ``options``' (which stay untouched, so
        one model can serve calls with different strides, e.g. training and evaluation)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"{self.name}: expected images of shape (B, 3, H, W), got {tuple(images.shape)}")
        opts, ext = self.options, self.extractor
        blocks = tuple(opts.block_indices if block_indices is None else block_indices)
        sliding = opts.mode == "sliding"
        h, w = images.shape[-2:]
        ph, pw = self.spec.padded_size(h, w, sliding=sliding)
        x = F.pad(images, (0, pw - w, 0, ph - h))
        skip = opts.reference_skip_pos_embed

        def window_fn(crops):
            return ext.forward_window(crops, blocks, skip_pos_embed=skip)

        with torch.set_grad_enabled(torch.is_grad_enabled() and not opts.frozen):
            if not sliding or (ph, pw) == tuple(self.spec.native_size):
                feats = window_fn(x)
            else:
                win = tuple(self.spec.native_size)
                stride = window_stride or opts.window_stride or win
                stride = (stride, stride) if isinstance(stride, int) else tuple(stride)  # options may be set later
                align = ext.token_stride if opts.window_placement == "aligned" else 1
                feats = sliding_window_forward(window_fn, x, win, stride, align, opts.window_batch_size)
            if "res5" not in feats:
                r4 = feats["res4"]
                feats["res5"] = F.max_pool2d(r4, 2, 2) if opts.res5 == "maxpool" else r4[..., ::2, ::2]
            dense = ext.embed_map(feats[ext.clip_source])
            if opts.normalize_dense:
                dense = F.normalize(dense, dim=1)
        out = {k: feats[k] for k in PYRAMID_LEVELS if k in feats}
        out["clip_dense"] = dense
        out.update({k: v for k, v in feats.items() if k.startswith("block")})
        return out

    def embed_pooled(self, res_map: torch.Tensor) -> torch.Tensor:
        """(B, C, h, w) map of ``clip_source`` → (B, D) image embedding (global average, CLIP head)."""
        return self.extractor.embed_pooled(res_map)

    def embed_vectors(self, v: torch.Tensor) -> torch.Tensor:
        """(N, C) pooled ``clip_source`` features (e.g. mask-pooled) → (N, D) CLIP embeddings."""
        return self.extractor.embed_vectors(v)

    def extra_repr(self) -> str:
        lv = ", ".join(f"{k}:{v.channels}@{v.stride:g}" for k, v in self.spec.levels.items())
        return f"name={self.name}, weights={self.weights}, mode={self.options.mode}, levels=[{lv}]"


def _stride(size: int, out: int) -> float:
    s = size / out
    return int(s) if s == int(s) else s


def _shape_only(fn, module: nn.Module, shape):
    """Run ``fn`` on a shape-only tensor; returns output shape(s). Meta tensors for meta models, else fake."""
    meta = any(p.is_meta for p in module.parameters())
    if meta:
        with torch.no_grad():
            out = fn(torch.empty(shape, device="meta"))
    else:
        from torch._subclasses.fake_tensor import FakeTensorMode

        with torch.no_grad(), FakeTensorMode(allow_non_fake_inputs=True):
            out = fn(torch.empty(shape))
    if isinstance(out, dict):
        return {k: tuple(v.shape) for k, v in out.items()}
    return tuple(out.shape)
