"""Ranking and per-class NMS that select the same boxes, in the same order, in PyTorch and in an exported graph.

Equal scores are common on real photos (dead ReLUs in a trained head, uniform regions and the padding give
identical values; a saturated sigmoid is exactly 1.0) and the tie order decides which boxes survive NMS and a
top-k cut. PyTorch leaves it unspecified
(``topk``, ``sort``, torchvision's NMS) and onnxruntime's NonMaxSuppression pops equal scores from a heap in an
arbitrary order, so both paths here break ties by index — the lower index first — explicitly:

- ``sort_descending`` / ``top_k``: a stable sort in PyTorch; ONNX ``TopK`` when traced (the operator orders
  equal values by index).
- ``multiclass_nms``: greedy NMS run on its own in every class (exact IoU on the boxes themselves, not
  torchvision's class-offset trick for small inputs, whose shifted coordinates round differently), fed with
  rank scores (distinct integers, so no two boxes tie); traced, it is one multi-class ONNX NonMaxSuppression.
"""
from __future__ import annotations

import sys

import torch
import torchvision
from torch import Tensor
from torchvision.ops import nms


def sort_descending(x: Tensor) -> Tensor:
    """Indices sorting the last axis of ``x`` by decreasing value, equal values in increasing index order."""
    if torchvision._is_tracing():
        return x.topk(x.shape[-1], dim=-1).indices  # ONNX TopK: equal values by increasing index
    return x.sort(dim=-1, descending=True, stable=True).indices


def top_k(x: Tensor, k: int) -> Tensor:
    """Indices of the ``min(k, n)`` largest values along the last axis of ``x`` (..., n), largest first, equal
    values in increasing index order."""
    if torchvision._is_tracing():
        from torchvision.models.detection._utils import _topk_min

        return x.topk(_topk_min(x, k, -1), dim=-1).indices
    return sort_descending(x)[..., :k]


def rank_scores(scores: Tensor, valid: Tensor) -> Tensor:
    """(C, N) scores + (C, N) bool → (C, N) float32: per row, n − rank for the valid entries (rank 0 = highest
    score, ties by index), 0 elsewhere. Distinct positive integers per row, exact in float32 below 2**24."""
    n = scores.shape[-1]
    order = sort_descending(torch.where(valid, scores, torch.full_like(scores, float("-inf"))))
    positions = torch.arange(n, device=scores.device).expand_as(order)
    rank = torch.empty_like(order).scatter(-1, order, positions)
    return torch.where(valid, (n - rank).float(), torch.zeros_like(scores, dtype=torch.float32))


class _MultiClassNMS(torch.autograd.Function):
    """(N, 4) xyxy boxes, (C, N) rank scores (0 = not a candidate) → (K, 2) int64 (class, box) kept; exported as
    one ONNX NonMaxSuppression over C classes."""

    @staticmethod
    def forward(ctx, boxes: Tensor, ranks: Tensor, iou_threshold: float) -> Tensor:
        kept = []
        for c in torch.where((ranks > 0).any(-1))[0].tolist():
            idx = torch.where(ranks[c] > 0)[0]
            keep = idx[nms(boxes[idx], ranks[c, idx], iou_threshold)]
            kept.append(torch.stack([torch.full_like(keep, c), keep], dim=1))
        return torch.cat(kept) if kept else torch.zeros((0, 2), dtype=torch.int64, device=boxes.device)

    @staticmethod
    def symbolic(g, boxes, ranks, iou_threshold):
        def const(value, dtype):
            return g.op("Constant", value_t=torch.tensor(value, dtype=dtype))

        selected = g.op("NonMaxSuppression",
                        g.op("Unsqueeze", boxes, const([0], torch.int64)),           # (1, N, 4)
                        g.op("Unsqueeze", ranks, const([0], torch.int64)),           # (1, C, N)
                        const([sys.maxsize], torch.int64), const([iou_threshold], torch.float32),
                        const([0.0], torch.float32))  # keeps rank > 0: the candidates
        return g.op("Slice", selected, const([1], torch.int64), const([3], torch.int64),
                    const([1], torch.int64))  # (K, 3) (batch, class, box) → (K, 2)


def multiclass_nms(boxes: Tensor, scores: Tensor, valid: Tensor, iou_threshold: float) -> tuple[Tensor, Tensor]:
    """Greedy NMS within every class, on shared boxes.

    boxes (N, 4) xyxy; scores (C, N) per class; valid (C, N) the candidates. A candidate is suppressed by a kept
    candidate of its class with IoU > ``iou_threshold``, visited by decreasing score, ties by box index. Returns
    (class (K,), box index (K,)) of the kept ones by decreasing score, ties by (box index, class) — the order of
    torchvision's ``batched_nms`` over the candidates listed box by box, class by class, with its ties broken.
    """
    num_classes = scores.shape[0]
    kept = _MultiClassNMS.apply(boxes.float(), rank_scores(scores, valid), float(iou_threshold))
    cls, box = kept[:, 0], kept[:, 1]
    by_key = sort_descending(-(box * num_classes + cls))  # candidate order: box, then class (keys are distinct)
    cls, box = cls[by_key], box[by_key]
    by_score = sort_descending(scores[cls, box])
    return cls[by_score], box[by_score]
