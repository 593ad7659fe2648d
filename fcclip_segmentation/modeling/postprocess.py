"""Panoptic, semantic and instance inference from per-query class probabilities and mask logits
(Mask2Former / FC-CLIP semantics), for one image."""
from __future__ import annotations

import torch
from torchvision.ops import masks_to_boxes


def panoptic_inference(probs: torch.Tensor, mask_logits: torch.Tensor, is_thing: torch.Tensor,
                       object_mask_threshold: float = 0.0, overlap_threshold: float = 0.8):
    """probs (Q, K+1) void last, mask_logits (Q, H, W), is_thing (K,) → (segment ids (H, W) int32, segments).

    FC-CLIP's ``panoptic_inference``: keep queries whose best class is not void and scores above
    ``object_mask_threshold``; each pixel goes to the kept query with the highest score·sigmoid(mask). A query is
    kept when (pixels it owns) / (pixels with sigmoid ≥ 0.5) ≥ ``overlap_threshold`` — the owned count includes
    owned pixels below 0.5, so the ratio can exceed 1 — and it paints the pixels it owns that are also ≥ 0.5 (none:
    dropped). Stuff classes merge into one segment per class. Ids start at 1, 0 = void.
    """
    k = probs.shape[-1] - 1
    scores, labels = probs.max(-1)
    keep = (labels != k) & (scores > object_mask_threshold)
    h, w = mask_logits.shape[-2:]
    panoptic = torch.zeros((h, w), dtype=torch.int32, device=mask_logits.device)
    segments: list[dict] = []
    if not keep.any():
        return panoptic, segments
    scores, labels, masks = scores[keep], labels[keep], mask_logits[keep].sigmoid()
    owner = (scores[:, None, None] * masks).argmax(0)
    stuff_ids: dict[int, int] = {}
    for q in range(len(scores)):
        cls = int(labels[q])
        owned, above = owner == q, masks[q] >= 0.5
        own = owned & above
        area, original = int(owned.sum()), int(above.sum())
        if area == 0 or original == 0 or not own.any() or area / original < overlap_threshold:
            continue
        thing = bool(is_thing[cls])
        if not thing and cls in stuff_ids:
            panoptic[own] = stuff_ids[cls]
            continue
        seg_id = len(segments) + 1
        panoptic[own] = seg_id
        segments.append({"id": seg_id, "category": cls, "isthing": thing, "score": float(scores[q])})
        if not thing:
            stuff_ids[cls] = seg_id
    return panoptic, segments


def semantic_inference(probs: torch.Tensor, mask_logits: torch.Tensor) -> torch.Tensor:
    """(K, H, W) per-pixel class scores Σ_q p(q, c)·sigmoid(mask_q) (void dropped)."""
    return torch.einsum("qc,qhw->chw", probs[:, :-1], mask_logits.sigmoid())


def semantic_labels(probs: torch.Tensor, mask_logits: torch.Tensor, chunk: int = 64) -> torch.Tensor:
    """(H, W) argmax over classes of ``semantic_inference`` without holding all K score maps: A-847 at 512×683 would
    need 1.2 GB of fp32 scores per image; chunks of ``chunk`` classes keep it at K/chunk of that. Ties go to the
    lower class, as in a single argmax."""
    masks = mask_logits.sigmoid()
    k = probs.shape[1] - 1
    best = labels = None
    for c0 in range(0, k, chunk):
        value, index = torch.einsum("qc,qhw->chw", probs[:, c0:min(c0 + chunk, k)], masks).max(0)
        if best is None:
            best, labels = value, index
        else:
            better = value > best
            best, labels = torch.where(better, value, best), torch.where(better, index + c0, labels)
    return labels


def instance_inference(probs: torch.Tensor, mask_logits: torch.Tensor, is_thing: torch.Tensor, topk: int = 100,
                       things_only: bool = True) -> dict:
    """Top-k (query, class) pairs over Q·K; score = class probability × mean sigmoid inside the binary mask.

    Returns {scores (N,), labels (N,), masks (N, H, W) bool, boxes (N, 4) xyxy} — boxes from the masks (the
    reference returns zero boxes, so its bbox AP is meaningless).
    """
    k = probs.shape[1] - 1
    flat = probs[:, :k].flatten()
    top = flat.topk(min(topk, flat.numel()))
    query, labels = top.indices // k, top.indices % k
    if things_only:
        sel = is_thing.to(labels.device)[labels]
        query, labels, cls_scores = query[sel], labels[sel], top.values[sel]
    else:
        cls_scores = top.values
    logits = mask_logits[query]
    masks = logits > 0
    mask_scores = (logits.sigmoid() * masks).flatten(1).sum(1) / (masks.flatten(1).sum(1) + 1e-6)
    boxes = torch.zeros((len(query), 4), device=mask_logits.device)
    nonempty = masks.flatten(1).any(1)
    if nonempty.any():
        boxes[nonempty] = masks_to_boxes(masks[nonempty]).float()
        boxes[nonempty, 2:] += 1  # pixel-edge convention: a 1-pixel mask is a 1×1 box
    return {"scores": cls_scores * mask_scores, "labels": labels, "masks": masks, "boxes": boxes}
