"""The F-ViT detector: frozen sliding-window ViTamin → adapters → FPN → RPN → open-vocabulary RoI heads."""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from torch import nn
from torch.nn import functional as F
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from backbone import ClipBackbone
from backbone.options import Placement
from shared.engine import PartialCheckpoint
from shared.engine.config import input_path
from shared.transforms import whole_cells_multiple

from .adapters import PyramidAdapters
from .roi_heads import FViTRoIHead
from .rpn import build_rpn


@dataclass
class FViTModelConfig:
    """Detector hyper-parameters (defaults: the paper's OV-LVIS setting)."""

    backbone: str = "ViTamin-L-336"
    pretrained: str | None = input_path(None)  # an open_clip tag or a CLIP weights file
    window_stride: int = 168
    window_placement: Placement = "aligned"
    window_batch_size: int = 16
    reference_skip_pos_embed: bool = False  # the backbone option: skip the trunk pos_embed (reference reproduction)
    c4_block: int | None = None  # None: num_blocks // 2 − 1 (the reference splits the blocks in halves)
    fpn_channels: int = 256
    norm: Literal["bn", "gn"] = "bn"  # adapters, FPN and RoI convs: (Sync)BatchNorm or GroupNorm
    rpn_convs: int = 2
    rpn_norm: Literal["none", "bn", "gn"] = "none"  # none (torchvision / the OV-COCO RPNHead) or bn (the OV-LVIS CustomRPNHead's SyncBN)
    rpn_pre_nms: int = 2000
    rpn_post_nms: int = 1000
    roi_batch_per_image: int = 512
    low_quality_matches: bool = True
    with_mask: bool = True
    cls_relu: bool = True
    init_temperature: float = 50.0
    bg_weight: float = 0.9
    alpha: float = 0.1
    beta: float = 0.4
    vlm_temperature: float = 50.0
    score_thresh: float = 1e-4
    nms_thresh: float = 0.5
    detections_per_img: int = 300
    roi_conv_channels: int = 256
    roi_fc_dim: int | None = None  # None: the CLIP embedding dim (the reference's fc_out_channels = 768)


class FViT(PartialCheckpoint, nn.Module):
    """``forward(batch)``: losses in train mode, detections in eval mode.

    batch["images"]: (B, 3, S, S) normalised and padded; ["image_sizes"]: content (h, w) per image; ["targets"]: per image
    {boxes (n, 4) xyxy in input pixels, labels (n,) in [0, C), masks (n, S, S) when the mask head is on}.
    """

    def __init__(self, cfg: FViTModelConfig, backbone: ClipBackbone):
        super().__init__()
        spec = backbone.spec
        if not spec.num_blocks:
            raise ValueError(f"F-ViT taps a transformer block; {spec.name} has none")
        c4 = spec.num_blocks // 2 - 1 if cfg.c4_block is None else cfg.c4_block
        if not 0 <= c4 < spec.num_blocks:
            raise ValueError(f"model.c4_block={c4} out of range for {spec.name} ({spec.num_blocks} blocks)")
        backbone.options.block_indices = (c4,)
        backbone.options.res5 = "maxpool"
        self.backbone = backbone
        self.adapters = PyramidAdapters(spec, c4, cfg.norm)
        norm_layer = nn.BatchNorm2d if cfg.norm == "bn" else None
        self.fpn = FeaturePyramidNetwork(self.adapters.out_channels, cfg.fpn_channels,
                                         extra_blocks=LastLevelMaxPool(), norm_layer=norm_layer)
        strides = self.adapters.strides
        # the FPN's levels P2–P6 (P6: LastLevelMaxPool, stride 2 × P5), each with its anchors
        self.level_strides = strides + [2 * strides[-1]]
        self.canvas_multiple = whole_cells_multiple(self.level_strides)
        self.rpn = build_rpn(cfg.fpn_channels, self.level_strides, num_convs=cfg.rpn_convs,
                             norm=cfg.rpn_norm, pre_nms=cfg.rpn_pre_nms, post_nms=cfg.rpn_post_nms)
        self.roi_heads = FViTRoIHead(
            cfg.fpn_channels, strides, spec.embed_dim, conv_channels=cfg.roi_conv_channels, fc_dim=cfg.roi_fc_dim,
            norm=cfg.norm, cls_relu=cfg.cls_relu,
            init_temperature=cfg.init_temperature, low_quality_matches=cfg.low_quality_matches,
            batch_per_image=cfg.roi_batch_per_image, with_mask=cfg.with_mask, bg_weight=cfg.bg_weight,
            alpha=cfg.alpha, beta=cfg.beta, vlm_temperature=cfg.vlm_temperature, score_thresh=cfg.score_thresh,
            nms_thresh=cfg.nms_thresh, detections_per_img=cfg.detections_per_img)
        self.clip_stride = spec.levels["clip_dense"].stride

    def forward(self, batch: dict):
        """batch: ``collate`` output (images, image_sizes, targets)."""
        images, image_sizes, targets = batch["images"], batch["image_sizes"], batch.get("targets")
        if self.training and targets is None:
            raise ValueError("F-ViT needs targets in train mode")
        if not self.training:
            return self.detect(images, image_sizes)
        images = self._whole_cells(images)
        feats, pyramid = self._features(images)
        proposals, losses = self.rpn(ImageList(images, list(image_sizes)), pyramid, targets)
        return {"loss_rpn_cls": losses["loss_objectness"], "loss_rpn_box": losses["loss_rpn_box_reg"],
                **self.roi_heads(list(pyramid.values())[:4], proposals, image_sizes, targets)}

    def _whole_cells(self, images):
        """(B, 3, H, W) → zero-padded at the bottom and right (the normalised mean colour, as the backbone pads) to
        whole cells at every FPN level: torchvision places a level's anchors every canvas // cells pixels, so a
        canvas the backbone alone pads to an odd number of P5 cells (e.g. 800 → 13 P6 cells, anchors every 61 px)
        would shift the coarse levels' anchors. A no-op for the shipped sizes (multiples of 64)."""
        h, w = images.shape[-2:]
        ph, pw = self.backbone.spec.padded_size(h, w, sliding=self.backbone.options.mode == "sliding")
        m = self.canvas_multiple
        ph, pw = -(-ph // m) * m, -(-pw // m) * m
        return images if (ph, pw) == (h, w) else F.pad(images, (0, pw - w, 0, ph - h))

    def _features(self, images):
        feats = self.backbone(images)
        return feats, self.fpn(OrderedDict(self.adapters(feats)))

    def detect(self, images, image_sizes, vocabulary=None) -> list[dict]:
        """Eval-mode detections per image ({boxes, scores, labels[, mask_probs (K, 1, M, M)]}, boxes in input
        pixels; ``postprocess.rescale_to_original`` takes them to the picture); ``image_sizes``: content (h, w) per
        image, ints or (2,) tensors (an exported graph's input). ``vocabulary``: a ``RoIVocabulary`` for this call only (default: the head's own)."""
        images = self._whole_cells(images)
        feats, pyramid = self._features(images)
        proposals, _ = self.rpn(ImageList(images, list(image_sizes)), pyramid)
        return self.roi_heads._detect(list(pyramid.values())[:4], proposals, image_sizes, feats["clip_dense"],
                                      self.clip_stride, vocabulary=vocabulary)

    def checkpoint_skip_prefixes(self) -> tuple[str, ...]:
        # a frozen CLIP loaded from its own source is left out; a random-init one exists nowhere else
        return ("backbone.",) if self.backbone.restorable else ()
