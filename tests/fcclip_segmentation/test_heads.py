"""Ensemble, seen/unseen assignment, mask pooling and post-processing on hand-built tensors."""
import math

import pytest
import torch

from fcclip_segmentation.modeling.ensemble import geometric_ensemble, seen_classes
from fcclip_segmentation.modeling.pooling import mask_pool
from fcclip_segmentation.modeling.postprocess import (instance_inference, panoptic_inference, semantic_inference,
                                                      semantic_labels)


def test_seen_by_synonym_overlap():
    train = ["person,man", "sky", "grass,lawn"]
    assert seen_classes(["man,boy", "Sky", "lawn", "tree"], train).tolist() == [True, False, True, False]


def test_geometric_ensemble_hand_computed():
    logits_in = torch.tensor([[math.log(0.6), math.log(0.2), math.log(0.2)]])  # 2 classes + void
    logits_out = torch.tensor([[math.log(0.1), math.log(0.9)]])
    seen = torch.tensor([True, False])
    p = geometric_ensemble(logits_in, logits_out, seen, alpha=0.4, beta=0.8)[0]
    p_in = [0.75, 0.25]  # softmax over the 2 real classes of (0.6, 0.2)
    s = [p_in[0] ** 0.6 * 0.1 ** 0.4, p_in[1] ** 0.2 * 0.9 ** 0.8]
    norm = [v / sum(s) for v in s]
    assert p.tolist() == pytest.approx([norm[0] * 0.8, norm[1] * 0.8, 0.2], rel=1e-5)
    with pytest.raises(ValueError):
        geometric_ensemble(logits_in, logits_out[:, :1], seen, 0.4, 0.8)


def test_mask_pool_hand_built_map():
    feats = torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4)
    logits = torch.full((1, 2, 4, 4), -1.0)
    logits[0, 0, :2, :2] = 1.0  # pixels 0, 1, 4, 5
    logits[0, 1, 3, 3] = 2.0  # pixel 15
    out = mask_pool(feats, logits)
    assert out[0, :, 0].tolist() == pytest.approx([2.5, 15.0])
    assert mask_pool(feats, torch.full((1, 1, 4, 4), -1.0)).item() == 0.0  # empty mask → 0, not nan


def test_panoptic_inference_overlap_and_stuff_merge():
    # 3 classes (0 thing, 1 stuff, 2 thing) + void; 4 queries on a 4×4 image
    probs = torch.tensor([[0.9, 0.05, 0.03, 0.02],   # q0: thing 0
                          [0.05, 0.8, 0.1, 0.05],    # q1: stuff 1
                          [0.05, 0.7, 0.2, 0.05],    # q2: stuff 1 again → merged into q1's segment
                          [0.1, 0.1, 0.1, 0.7]])     # q3: void → dropped
    m = torch.full((4, 4, 4), -5.0)
    m[0, :2, :2] = 5
    m[1, 2:, :] = 5
    m[2, :2, 2:] = 5
    m[3] = 5
    pan, segs = panoptic_inference(probs, m, torch.tensor([True, False, True]))
    assert [(s["category"], s["isthing"]) for s in segs] == [(0, True), (1, False)]
    assert (pan == 1).sum() == 4 and (pan == 2).sum() == 12 and (pan == 0).sum() == 0
    # a query mostly hidden behind a more confident one is dropped (overlap < 0.8)
    probs2 = torch.tensor([[0.9, 0.05, 0.03, 0.02], [0.05, 0.05, 0.6, 0.3]])
    m2 = torch.full((2, 4, 4), -5.0)
    m2[0, :, :2] = 5
    m2[1, :, :3] = 5  # 12 px, 8 of them owned by q0 → 4/12 < 0.8
    pan2, segs2 = panoptic_inference(probs2, m2, torch.tensor([True, False, True]))
    assert len(segs2) == 1 and (pan2 == 1).sum() == 8


def test_panoptic_overlap_counts_owned_pixels_below_half_as_the_reference():
    """FC-CLIP divides all the pixels a query owns (also those with sigmoid < 0.5) by its sigmoid ≥ 0.5 area and
    paints only the owned ≥ 0.5 ones. Here q0 loses 2 of its 5 confident pixels to q1 but owns 3 weak ones: the
    reference keeps it (6 / 5 ≥ 0.8); dividing the painted count instead (3 / 5) would drop it."""
    def logit(p):
        return math.log(p / (1 - p))

    probs = torch.tensor([[0.9, 0.05, 0.05], [0.05, 0.9, 0.05]])  # q0 thing 0, q1 thing 1, both scored 0.9
    m = torch.full((2, 1, 10), logit(0.01))
    m[0, 0, :5], m[0, 0, 5:8] = logit(0.9), logit(0.4)  # q0: ≥ 0.5 on pixels 0-4, 0.4 on 5-7
    m[1, 0, 3:5], m[1, 0, 8:] = logit(0.95), logit(0.95)  # q1 wins pixels 3, 4 (0.855 > 0.81) and 8, 9
    pan, segs = panoptic_inference(probs, m, torch.tensor([True, True]))
    assert [(s["id"], s["category"]) for s in segs] == [(1, 0), (2, 1)]
    assert pan[0].tolist() == [1, 1, 1, 2, 2, 0, 0, 0, 2, 2]  # q0's owned weak pixels 5-7 stay void
    # a ratio equal to the threshold is kept (q1: 4 / 4 at 1.0); above it q1 goes and its pixels stay void
    pan, segs = panoptic_inference(probs, m, torch.tensor([True, True]), overlap_threshold=1.0)
    assert len(segs) == 2
    pan, segs = panoptic_inference(probs, m, torch.tensor([True, True]), overlap_threshold=1.1)
    assert [(s["id"], s["category"]) for s in segs] == [(1, 0)]
    assert pan[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]


def test_chunked_semantic_labels_equal_the_full_argmax():
    torch.manual_seed(0)
    probs = torch.randn(7, 151).softmax(-1)  # 150 classes + void
    masks = torch.randn(7, 9, 11) * 3
    full = semantic_inference(probs, masks).argmax(0)
    for chunk in (1, 13, 64, 150, 500):
        assert torch.equal(semantic_labels(probs, masks, chunk), full), chunk


def test_semantic_and_instance_inference():
    probs = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.6, 0.3]])
    m = torch.full((2, 3, 3), -10.0)
    m[0, :2, :2] = 10
    m[1, 2, :] = 10
    sem = semantic_inference(probs, m)
    assert sem.shape == (2, 3, 3) and sem.argmax(0)[0, 0] == 0 and sem.argmax(0)[2, 1] == 1
    assert torch.equal(semantic_labels(probs, m, chunk=1), sem.argmax(0))
    # top-3 of the 2×2 (query, class) scores are (q0,c0) .7, (q1,c1) .6, (q0,c1) .2: only one is a thing
    assert instance_inference(probs, m, torch.tensor([True, False]), topk=3)["labels"].tolist() == [0]
    inst = instance_inference(probs, m, torch.tensor([True, False]), topk=4)
    assert inst["labels"].tolist() == [0, 0]
    assert inst["boxes"].tolist() == [[0, 0, 2, 2], [0, 2, 3, 3]]
    assert inst["scores"][0] == pytest.approx(0.7, rel=1e-4)
