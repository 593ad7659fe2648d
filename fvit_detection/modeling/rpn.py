"""RPN on torchvision's components, with F-ViT's L1 box loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead

from .boxes import clip_boxes
from .roi_heads import conv_norm_relu

RPN_NORMS = ("none", "bn", "gn")
# torchvision clips once more to the sizes it is given; boxes clipped already need no second bound
_UNBOUNDED = (float("inf"), float("inf"))


class L1RegionProposalNetwork(RegionProposalNetwork):
    """torchvision's RPN with the box loss F-ViT uses: plain L1 (torchvision hard-codes smooth-L1, β = 1/9).

    Image sizes may be (h, w) tensors (an exported graph's input): proposals are clipped to them before torchvision's
    filtering, which first picks the top-k by objectness and then clips, so the kept boxes are the same.
    """

    def filter_proposals(self, proposals, objectness, image_shapes, num_anchors_per_level):
        proposals = torch.stack([clip_boxes(p, s) for p, s in zip(proposals, image_shapes)])
        return super().filter_proposals(proposals, objectness, [_UNBOUNDED] * len(image_shapes),
                                        num_anchors_per_level)

    def compute_loss(self, objectness, pred_bbox_deltas, labels, regression_targets):
        pos, neg = self.fg_bg_sampler(labels)
        pos = torch.where(torch.cat(pos, dim=0))[0]
        neg = torch.where(torch.cat(neg, dim=0))[0]
        sampled = torch.cat([pos, neg], dim=0)
        labels = torch.cat(labels, dim=0)
        regression_targets = torch.cat(regression_targets, dim=0)
        box_loss = F.l1_loss(pred_bbox_deltas[pos], regression_targets[pos], reduction="sum") / max(sampled.numel(), 1)
        obj_loss = F.binary_cross_entropy_with_logits(objectness.flatten()[sampled], labels[sampled])
        return obj_loss, box_loss


def build_rpn(channels: int, strides: list[float], anchor_scale: float = 8.0,
              ratios: tuple[float, ...] = (0.5, 1.0, 2.0), num_convs: int = 2, norm: str = "none",
              fg_iou: float = 0.7, bg_iou: float = 0.3, batch_per_image: int = 256, pos_fraction: float = 0.5,
              pre_nms: int = 2000, post_nms: int = 1000, nms: float = 0.7) -> L1RegionProposalNetwork:
    """Anchors of side ``anchor_scale · stride`` × ``ratios`` on every level (F-ViT: 8 × 4…64 = 32…512 px).

    norm: ``none`` — torchvision's head (conv + bias → ReLU, the OV-COCO ``RPNHead``); ``bn`` — conv without bias →
    BatchNorm → ReLU per conv, the OV-LVIS ``CustomRPNHead`` with MMSyncBN (SyncBN under DDP via ``train.sync_bn``);
    ``gn`` — GroupNorm instead (no reference counterpart). The norm is shared by the pyramid levels, each level
    normalised on its own in training, as mmdet runs the head level by level.
    """
    if norm not in RPN_NORMS:
        raise ValueError(f"model.rpn_norm={norm!r}: expected one of {', '.join(RPN_NORMS)}")
    anchors = AnchorGenerator(sizes=tuple((anchor_scale * s,) for s in strides),
                              aspect_ratios=(tuple(ratios),) * len(strides))
    head = RPNHead(channels, len(ratios), conv_depth=num_convs)
    if norm != "none":
        head.conv = nn.Sequential(*(nn.Sequential(*conv_norm_relu(channels, channels, norm))
                                    for _ in range(num_convs)))
        for layer in head.conv.modules():
            if isinstance(layer, nn.Conv2d):  # torchvision's (and mmdet's RPNHead) init: N(0, 0.01)
                nn.init.normal_(layer.weight, std=0.01)
    return L1RegionProposalNetwork(
        anchors, head, fg_iou_thresh=fg_iou, bg_iou_thresh=bg_iou, batch_size_per_image=batch_per_image,
        positive_fraction=pos_fraction, pre_nms_top_n=dict(training=pre_nms, testing=pre_nms),
        post_nms_top_n=dict(training=post_nms, testing=post_nms), nms_thresh=nms)
