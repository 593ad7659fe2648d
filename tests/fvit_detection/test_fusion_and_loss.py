"""Score fusion, loss masking and the background column on hand-built tensors."""
import math

import pytest
import torch

from fvit_detection.modeling.fusion import fuse_scores, masked_class_loss


def test_fusion_exponents_per_split():
    # 2 classes + background; class 1 novel
    p_det = torch.tensor([[0.5, 0.2, 0.3]])
    p_vlm = torch.tensor([[0.1, 0.6, 0.3]])
    novel = torch.tensor([False, True, False])
    s = fuse_scores(p_det, p_vlm, novel, alpha=0.1, beta=0.4)
    expected = [0.5 ** 0.9 * 0.1 ** 0.1, 0.2 ** 0.6 * 0.6 ** 0.4, 0.3 ** 0.9 * 0.3 ** 0.1]
    assert s[0].tolist() == pytest.approx(expected, rel=1e-6)
    # no renormalisation afterwards
    assert s.sum().item() != pytest.approx(1.0, abs=1e-3)
    with pytest.raises(ValueError):
        fuse_scores(p_det, p_vlm[:, :2], novel, 0.1, 0.4)


def test_masked_loss_hand_computed():
    # classes: 0 base, 1 novel, 2 background (weight 0.9)
    logits = torch.tensor([[2.0, 5.0, 0.0], [0.0, 1.0, 1.0]])
    labels = torch.tensor([0, 2])
    weight = torch.tensor([1.0, 0.0, 0.9])
    before = logits.clone()
    loss = masked_class_loss(logits, labels, weight)
    # novel column removed from the softmax: CE over {0, 2}
    ce0 = -math.log(math.exp(2) / (math.exp(2) + math.exp(0)))
    ce1 = -math.log(math.exp(1) / (math.exp(0) + math.exp(1)))
    assert loss.item() == pytest.approx((1.0 * ce0 + 0.9 * ce1) / 2, rel=1e-6)
    assert torch.equal(logits, before)  # caller's logits untouched (the reference modifies them in place)
    # a novel label contributes 0 (not nan), still counted in the denominator
    loss2 = masked_class_loss(logits, torch.tensor([1, 2]), weight)
    assert loss2.item() == pytest.approx(0.9 * ce1 / 2, rel=1e-6)
    assert masked_class_loss(logits[:0], labels[:0], weight).item() == 0


def test_vocabulary_background_column_and_class_weight():
    from fvit_detection.modeling.roi_heads import FViTRoIHead

    head = FViTRoIHead(8, [4, 8, 16, 32], embed_dim=4, bg_weight=0.6)
    emb = torch.eye(4)[:3]  # 2 classes + background
    head.set_vocabulary(emb * 3, torch.tensor([False, True]))
    assert torch.allclose(head.text_embeddings, emb)  # re-normalised
    assert head.novel.tolist() == [False, True, False] and head.num_classes == 2
    assert head.class_weight().tolist() == pytest.approx([1.0, 0.0, 0.6])
    # VLM branch: a box over a region whose CLIP vector equals class 0's embedding scores class 0 highest
    dense = torch.zeros(1, 4, 4, 4)
    dense[0, 0] = 1.0
    p = head.vlm_probabilities(dense, [torch.tensor([[0.0, 0.0, 64.0, 64.0]])], clip_stride=16)
    e = math.exp(head.vlm_temperature)
    assert p[0].tolist() == pytest.approx([e / (e + 2), 1 / (e + 2), 1 / (e + 2)], rel=1e-5)
    with pytest.raises(ValueError, match="vocabulary"):
        head.set_vocabulary(torch.eye(4)[:2], torch.tensor([False, True]))


def test_roi_level_mapping_matches_mmdet_boundaries():
    from fvit_detection.modeling.roi_align import MultiLevelRoIAlign

    pool = MultiLevelRoIAlign([4, 8, 16, 32], 7)
    sides = torch.tensor([20.0, 111.0, 112.0, 223.0, 224.0, 447.0, 448.0, 2000.0])
    boxes = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], dim=1)
    assert pool.levels([boxes]).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    # aligned RoIAlign of a constant map is that constant on every level
    feats = [torch.full((1, 2, 512 // s, 512 // s), float(s)) for s in (4, 8, 16, 32)]
    out = pool(feats, [torch.tensor([[0.0, 0.0, 40.0, 40.0], [0.0, 0.0, 300.0, 300.0]])])
    assert out.shape == (2, 2, 7, 7) and out[0].unique().tolist() == [4.0] and out[1].unique().tolist() == [16.0]


def test_vit_baseline_detector_wires_from_the_spec():
    import warnings

    from backbone import build_backbone
    from fvit_detection.modeling.detector import FViT, FViTModelConfig

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone("ViT-L-14-336", device="meta")
    model = FViT(FViTModelConfig(backbone="ViT-L-14-336", c4_block=11), bb)
    assert model.adapters.out_channels == [1024, 1024, 1024, 1024]
    assert model.adapters.strides == [3.5, 7, 14, 28]
    assert [s[0] for s in model.rpn.anchor_generator.sizes] == [28.0, 56.0, 112.0, 224.0, 448.0]
