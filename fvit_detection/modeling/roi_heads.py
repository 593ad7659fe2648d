"""F-ViT RoI heads: conv-fc box head classifying by cosine with text embeddings, class-agnostic boxes and masks."""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection import _utils as det_utils
from torchvision.ops import box_iou, roi_align

from .boxes import clip_boxes
from .fusion import fuse_scores, masked_class_loss
from .nms import multiclass_nms
from .roi_align import MultiLevelRoIAlign


def conv_norm_relu(cin: int, cout: int, norm: str) -> list[nn.Module]:
    """3×3 conv (bias only without a norm, as mmcv's ConvModule) → BatchNorm / GroupNorm / nothing → ReLU."""
    layers = [nn.Conv2d(cin, cout, 3, padding=1, bias=norm == "none")]
    if norm == "bn":
        layers.append(nn.BatchNorm2d(cout))
    elif norm == "gn":
        layers.append(nn.GroupNorm(min(32, cout), cout))
    return layers + [nn.ReLU(inplace=True)]


class RoIVocabulary(NamedTuple):
    """The classes one detection scores: (C+1, D) unit text embeddings, background last, and (C+1,) novel flags
    (background False). Immutable, so one can serve several calls at once."""

    embeddings: torch.Tensor
    novel: torch.Tensor

    def to(self, device) -> "RoIVocabulary":
        return RoIVocabulary(self.embeddings.to(device), self.novel.to(device))


class FViTRoIHead(nn.Module):
    """Box head (4 convs + 2 fcs), cosine classifier × learned temperature, class-agnostic regression, optional
    class-agnostic mask head; at test time the VLM branch and score fusion.

    The vocabulary (text embeddings with background last, base/novel split) is set with ``set_vocabulary`` and can
    change at eval time without retraining; ``_detect(..., vocabulary=)`` scores one call with another one
    (``prepare_vocabulary``) and leaves the head's own untouched.
    """

    def __init__(self, in_channels: int, strides: list[float], embed_dim: int, *, num_convs: int = 4,
                 conv_channels: int = 256, fc_dim: int | None = None, norm: str = "bn", cls_relu: bool = True,
                 init_temperature: float = 50.0, fg_iou: float = 0.5, bg_iou: float = 0.5,
                 low_quality_matches: bool = True, batch_per_image: int = 512, pos_fraction: float = 0.25,
                 box_weights: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0), with_mask: bool = False,
                 bg_weight: float = 0.9, alpha: float = 0.1, beta: float = 0.4, vlm_temperature: float = 50.0,
                 score_thresh: float = 1e-4, nms_thresh: float = 0.5, detections_per_img: int = 300):
        super().__init__()
        fc_dim = fc_dim or embed_dim
        self.box_pool = MultiLevelRoIAlign(strides, 7)
        convs = []
        for i in range(num_convs):
            convs += conv_norm_relu(in_channels if i == 0 else conv_channels, conv_channels, norm)
        self.box_convs = nn.Sequential(*convs)
        self.box_fcs = nn.Sequential(nn.Flatten(), nn.Linear(conv_channels * 49, fc_dim), nn.ReLU(inplace=True),
                                     nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True))
        # the reference ends the classification branch with a ReLU (kept for checkpoint compatibility)
        self.cls_fc = nn.Sequential(nn.Linear(fc_dim, embed_dim), *( [nn.ReLU()] if cls_relu else []))
        self.reg_fc = nn.Sequential(nn.Linear(fc_dim, fc_dim), nn.ReLU(inplace=True), nn.Linear(fc_dim, 4))
        self.temperature = nn.Parameter(torch.tensor(float(init_temperature)))
        self.with_mask = with_mask
        if with_mask:
            self.mask_pool = MultiLevelRoIAlign(strides, 14)
            m = []
            for i in range(4):
                m += conv_norm_relu(in_channels if i == 0 else conv_channels, conv_channels, norm)
            self.mask_head = nn.Sequential(*m, nn.ConvTranspose2d(conv_channels, conv_channels, 2, 2),
                                           nn.ReLU(inplace=True), nn.Conv2d(conv_channels, 1, 1))
        self.matcher = det_utils.Matcher(fg_iou, bg_iou, allow_low_quality_matches=low_quality_matches)
        self.sampler = det_utils.BalancedPositiveNegativeSampler(batch_per_image, pos_fraction)
        self.box_coder = det_utils.BoxCoder(box_weights)
        self.bg_weight, self.alpha, self.beta, self.vlm_temperature = bg_weight, alpha, beta, vlm_temperature
        self.score_thresh, self.nms_thresh, self.detections_per_img = score_thresh, nms_thresh, detections_per_img
        self.register_buffer("text_embeddings", torch.zeros(1, embed_dim), persistent=False)
        self.register_buffer("novel", torch.zeros(1, dtype=torch.bool), persistent=False)

    # --- vocabulary ------------------------------------------------------------------------------
    def prepare_vocabulary(self, embeddings: torch.Tensor, novel: torch.Tensor) -> RoIVocabulary:
        """embeddings: (C+1, D) unit rows, background last; novel: (C,) bool (excluded from training) → the
        vocabulary in the head's form, on its device."""
        if embeddings.shape[0] != novel.shape[0] + 1 or embeddings.shape[1] != self.text_embeddings.shape[1]:
            raise ValueError(f"vocabulary: embeddings {tuple(embeddings.shape)} must be (C+1, "
                             f"{self.text_embeddings.shape[1]}) for {novel.shape[0]} classes")
        device = self.temperature.device
        return RoIVocabulary(F.normalize(embeddings.float(), dim=-1).to(device),
                             torch.cat([novel.bool(), novel.new_zeros(1, dtype=torch.bool)]).to(device))

    def set_vocabulary(self, embeddings: torch.Tensor, novel: torch.Tensor) -> None:
        """The head's own vocabulary (training, eval, export): ``prepare_vocabulary``'s arguments."""
        self.text_embeddings, self.novel = self.prepare_vocabulary(embeddings, novel)

    @property
    def vocabulary(self) -> RoIVocabulary:
        return RoIVocabulary(self.text_embeddings, self.novel)

    @property
    def num_classes(self) -> int:
        return self.text_embeddings.shape[0] - 1

    def class_weight(self) -> torch.Tensor:
        """(C+1,): 1 for base, 0 for novel, ``bg_weight`` for background."""
        w = (~self.novel).float()
        w[-1] = self.bg_weight
        return w

    # --- box branch ------------------------------------------------------------------------------
    def _box_forward(self, feats: list[torch.Tensor], boxes: list[torch.Tensor],
                     text_embeddings: torch.Tensor | None = None):
        """(logits (N, C+1) against ``text_embeddings`` (default: the head's own), box deltas (N, 4))."""
        x = self.box_fcs(self.box_convs(self.box_pool(feats, boxes)))
        emb = F.normalize(self.cls_fc(x), dim=-1)
        text = self.text_embeddings if text_embeddings is None else text_embeddings
        logits = self.temperature * emb @ text.t().to(emb.dtype)
        return logits, self.reg_fc(x)

    def _sample(self, proposals, targets):
        """Add gt boxes as proposals, match, sample; returns per-image (boxes, labels, matched gt idx)."""
        out = []
        for props, tgt in zip(proposals, targets):
            gt = tgt["boxes"]
            props = torch.cat([props, gt])
            if gt.numel() == 0:
                idx = torch.full((props.shape[0],), -1, dtype=torch.long, device=props.device)
            else:
                idx = self.matcher(box_iou(gt, props))
            fg = idx >= 0
            labels = torch.full_like(idx, self.num_classes)
            labels[fg] = tgt["labels"][idx[fg]]
            pos, neg = self.sampler([fg.long()])
            keep = torch.where(pos[0] | neg[0])[0]
            out.append((props[keep], labels[keep], idx[keep]))
        return out

    def forward(self, feats: list[torch.Tensor], proposals: list[torch.Tensor], image_sizes: list[tuple[int, int]],
                targets: list[dict] | None = None, clip_dense: torch.Tensor | None = None, clip_stride: float = 16.0):
        """Training: dict of losses. Eval: per image {boxes (K,4), scores (K,), labels (K,) [, masks (K,1,H,W)]}."""
        if self.training:
            return self._losses(feats, proposals, targets)
        return self._detect(feats, proposals, image_sizes, clip_dense, clip_stride)

    def _losses(self, feats, proposals, targets):
        sampled = self._sample(proposals, targets)
        boxes = [s[0] for s in sampled]
        labels = torch.cat([s[1] for s in sampled])
        logits, deltas = self._box_forward(feats, boxes)
        losses = {"loss_cls": masked_class_loss(logits, labels, self.class_weight())}
        fg = labels < self.num_classes
        matched = torch.cat([t["boxes"][s[2].clamp(min=0)] if t["boxes"].numel() else b
                             for s, t, b in zip(sampled, targets, boxes)])
        box_targets = self.box_coder.encode_single(matched, torch.cat(boxes))
        losses["loss_box"] = F.l1_loss(deltas[fg], box_targets[fg], reduction="sum") / max(labels.numel(), 1)
        with torch.no_grad():
            valid = labels[fg] if fg.any() else labels[:0]
            losses["acc_fg"] = (logits[fg].argmax(-1) == valid).float().mean() if fg.any() else logits.new_zeros(())
        if self.with_mask:
            losses["loss_mask"] = self._mask_loss(feats, sampled, targets)
        return losses

    def _mask_loss(self, feats, sampled, targets):
        pos_boxes, mask_targets = [], []
        for (boxes, labels, idx), tgt in zip(sampled, targets):
            fg = labels < self.num_classes
            pos_boxes.append(boxes[fg])
            if fg.any():
                gt_masks = tgt["masks"][idx[fg]][:, None].float()
                rois = torch.cat([torch.arange(fg.sum(), device=boxes.device)[:, None].float(), boxes[fg]], dim=1)
                mask_targets.append(roi_align(gt_masks, rois, 28, 1.0, 0, aligned=True)[:, 0] >= 0.5)
        if not mask_targets:
            return sum(p.sum() for p in self.mask_head.parameters()) * 0
        logits = self.mask_head(self.mask_pool(feats, pos_boxes))[:, 0]
        return F.binary_cross_entropy_with_logits(logits, torch.cat(mask_targets).float())

    @torch.no_grad()
    def vlm_probabilities(self, clip_dense: torch.Tensor, proposals: list[torch.Tensor], clip_stride: float,
                          text_embeddings: torch.Tensor | None = None):
        """1×1 aligned RoIAlign of every proposal on the dense CLIP map → softmax(τ_vlm · cos) over C+1
        (``text_embeddings``: default the head's own)."""
        rois = torch.cat([torch.cat([torch.full_like(b[:, :1], i), b], dim=1) for i, b in enumerate(proposals)])
        v = roi_align(clip_dense.float(), rois.float(), 1, 1.0 / clip_stride, 0, aligned=True).flatten(1)
        v = F.normalize(v, dim=-1)
        text = self.text_embeddings if text_embeddings is None else text_embeddings
        return (self.vlm_temperature * v @ text.t()).softmax(-1)

    @torch.no_grad()
    def _detect(self, feats, proposals, image_sizes, clip_dense, clip_stride,
                vocabulary: RoIVocabulary | None = None):
        """Per image {boxes, scores, labels[, mask_probs]}: boxes in input pixels, ``mask_probs`` the mask head's
        (K, 1, M, M) probabilities (``postprocess.paste_masks`` pastes them at the original size, as the reference).
        Image sizes may be (h, w) tensors. ``vocabulary``: this call's classes (default: the head's own). Candidates
        are the (box, class) pairs scoring above ``score_thresh``; per-class NMS keeps the top ``detections_per_img``
        by score (ties in candidate order: ``nms.py``)."""
        text, novel = self.vocabulary if vocabulary is None else vocabulary
        logits, deltas = self._box_forward(feats, proposals, text)
        scores = logits.float().softmax(-1)
        if clip_dense is not None:
            scores = fuse_scores(scores, self.vlm_probabilities(clip_dense, proposals, clip_stride, text), novel,
                                 self.alpha, self.beta)
        boxes = self.box_coder.decode_single(deltas.float(), torch.cat(proposals).float())
        results = []
        for sc, bx, size in zip(_per_image(scores, proposals), _per_image(boxes, proposals), image_sizes):
            bx = clip_boxes(bx, size)
            sc = sc[:, :-1].t()  # (C, n): background row out
            cls, idx = multiclass_nms(bx, sc, sc > self.score_thresh, self.nms_thresh)
            cls, idx = cls[: self.detections_per_img], idx[: self.detections_per_img]
            results.append({"boxes": bx[idx], "scores": sc[cls, idx], "labels": cls})
        if self.with_mask:
            masks = self.mask_head(self.mask_pool(feats, [r["boxes"] for r in results])).sigmoid()
            for r, m in zip(results, _per_image(masks, [r["boxes"] for r in results])):
                r["mask_probs"] = m
        return results


def _per_image(x: torch.Tensor, parts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Rows of ``x`` split by the lengths of ``parts``; one image keeps ``x`` whole (no length in a traced graph)."""
    return [x] if len(parts) == 1 else list(x.split([len(p) for p in parts]))
