"""RPN on torchvision's components, with F-ViT's L1 box loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.rpn import RegionProposalNetwork, RPNHead
from torchvision.ops import remove_small_boxes

from .boxes import clip_boxes
from .nms import multiclass_nms, top_k
from .roi_heads import conv_norm_relu

RPN_NORMS = ("none", "bn", "gn")


class L1RegionProposalNetwork(RegionProposalNetwork):
    """torchvision's RPN with the box loss F-ViT uses: plain L1 (torchvision hard-codes smooth-L1, β = 1/9).

    Proposal filtering is torchvision's (top-k per level, clip, drop small and low-scoring boxes, NMS per level,
    top-n) with every order made exact, so that an exported graph keeps the same proposals (``nms.py``): top-k and
    NMS break ties by index, NMS is exact per level, and boxes are ranked by objectness logits — their sigmoid,
    torchvision's ranking key, is exactly 1.0 for many boxes on real photos. Image sizes may be (h, w) tensors.
    """

    def _get_top_n_idx(self, objectness, num_anchors_per_level):
        r, offset = [], 0
        for ob in objectness.split(num_anchors_per_level, 1):
            r.append(top_k(ob, self.pre_nms_top_n()) + offset)
            offset += ob.shape[1]
        return torch.cat(r, dim=1)

    def filter_proposals(self, proposals, objectness, image_shapes, num_anchors_per_level):
        """proposals (B, A, 4), objectness (B·A, 1) logits → per image (boxes (n, 4), objectness (n,) in [0, 1])."""
        num_images, device = proposals.shape[0], proposals.device
        objectness = objectness.detach().reshape(num_images, -1)
        levels = torch.cat([torch.full((n,), i, dtype=torch.int64, device=device)
                            for i, n in enumerate(num_anchors_per_level)])
        top_n_idx = self._get_top_n_idx(objectness, num_anchors_per_level)
        batch_idx = torch.arange(num_images, device=device)[:, None]
        objectness, proposals = objectness[batch_idx, top_n_idx], proposals[batch_idx, top_n_idx]
        level_ids = torch.arange(len(num_anchors_per_level), device=device)[:, None]
        final_boxes, final_scores = [], []
        for boxes, logits, lvl, size in zip(proposals, objectness, levels[top_n_idx], image_shapes):
            boxes = clip_boxes(boxes, size)
            keep = remove_small_boxes(boxes, self.min_size)
            boxes, logits, lvl = boxes[keep], logits[keep], lvl[keep]
            keep = torch.where(torch.sigmoid(logits) >= self.score_thresh)[0]  # >=: torchvision's
            boxes, logits, lvl = boxes[keep], logits[keep], lvl[keep]
            _, keep = multiclass_nms(boxes, logits.expand(len(level_ids), -1), lvl[None] == level_ids,
                                     self.nms_thresh)
            keep = keep[: self.post_nms_top_n()]
            final_boxes.append(boxes[keep])
            final_scores.append(torch.sigmoid(logits[keep]))
        return final_boxes, final_scores

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
