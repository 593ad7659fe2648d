"""Feature values: equivalence with the towers' own forwards, sliding windows, interpolation, freezing."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from backbone import BackboneOptions, ClipBackbone, build_backbone
from backbone.sliding import sliding_window_forward, window_origins

ATOL = 1e-5


def test_native_size_equals_trunk_and_encode_image(tiny_backbone):
    bb = tiny_backbone
    x = torch.randn(2, 3, 128, 128)
    out = bb(x)
    trunk = bb.clip.visual.trunk
    tokens = trunk.forward_features(x)  # (B, N, C)
    assert torch.allclose(out["res4"].flatten(2).transpose(1, 2), tokens, atol=ATOL)
    assert torch.allclose(bb.embed_pooled(out["res4"]), bb.clip.encode_image(x), atol=ATOL)
    # dense map = the pooled head applied per token, then L2-normalised
    head = bb.clip.visual.head(trunk.fc_norm(tokens))
    assert torch.allclose(out["clip_dense"].flatten(2).transpose(1, 2), F.normalize(head, dim=-1), atol=ATOL)
    assert torch.allclose(out["clip_dense"].norm(dim=1), torch.ones(2, 8, 8), atol=ATOL)
    # res5 = 2×2 max-pool of res4 (F-ViT); a middle block matches timm's own intermediates
    assert torch.allclose(out["res5"], F.max_pool2d(out["res4"], 2), atol=0)
    inter = trunk.forward_intermediates(x, indices=[1], intermediates_only=True)[0]
    assert torch.allclose(bb(x, block_indices=[1])["block1"], inter, atol=ATOL)


def test_position_embedding_is_applied_and_reference_skip_differs():
    torch.manual_seed(0)
    bb = build_backbone("ViTamin-Tiny")
    with torch.no_grad():
        bb.clip.visual.trunk.pos_embed.normal_(std=0.5)  # make sure it matters
    x = torch.randn(1, 3, 128, 128)
    applied = bb(x)["res4"]
    skip = ClipBackbone(bb.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(reference_skip_pos_embed=True))(x)["res4"]
    assert not torch.allclose(applied, skip, atol=1e-3)
    trunk = bb.clip.visual.trunk
    with torch.no_grad():  # the reference's forward: same blocks, no pos_embed
        t = trunk.patch_embed(x)
        for blk in trunk.blocks:
            t = blk(trunk.norm_pre(t)) if blk is trunk.blocks[0] else blk(t)
    assert torch.allclose(skip.flatten(2).transpose(1, 2), trunk.norm(t), atol=ATOL)


def test_sliding_and_interpolate_equal_plain_at_native_size(tiny_backbone):
    x = torch.randn(2, 3, 128, 128)
    plain = tiny_backbone(x)
    interp = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(mode="interpolate"))(x)
    # sliding with a stride < window on a native-size input is still exactly one window
    slide = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(window_stride=32))(x)
    for k in plain:
        assert torch.allclose(plain[k], interp[k], atol=ATOL), k
        assert torch.allclose(plain[k], slide[k], atol=ATOL), k


def test_window_origins_hand_cases():
    assert window_origins(896, 336, 168) == [0, 168, 336, 504, 560]  # F-ViT reference placement
    assert window_origins(896, 336, 168, align=16) == [0, 160, 336, 496, 560]
    assert window_origins(1344, 336, 112) == [112 * i for i in range(10)]  # FC-CLIP test: 10 per axis
    assert window_origins(1344, 336, 336) == [0, 336, 672, 1008]
    assert window_origins(336, 336, 168) == [0]
    with pytest.raises(ValueError, match="smaller than the window"):
        window_origins(300, 336, 168)


def test_batched_sliding_equals_one_window_at_a_time(tiny_backbone):
    ext = tiny_backbone.extractor
    x = torch.randn(2, 3, 200, 290)
    bb = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin",
                      BackboneOptions(window_stride=(48, 80), window_batch_size=5, block_indices=(2,)))
    out = bb(x)
    # reference: pad as the spec says, then a plain double loop, one window of one image at a time
    ph, pw = bb.spec.padded_size(200, 290, sliding=True)
    assert (ph, pw) == (224, 320)
    xp = F.pad(x, (0, pw - 290, 0, ph - 200))
    ys, xs = window_origins(ph, 128, 48, 16), window_origins(pw, 128, 80, 16)
    assert ys == [0, 48, 96] and xs == [0, 80, 160, 192]
    for key, stride in (("res2", 4), ("res3", 8), ("res4", 16), ("block2", 16)):
        acc = torch.zeros(2, out[key].shape[1], ph // stride, pw // stride)
        cnt = torch.zeros(ph // stride, pw // stride)
        for b in range(2):
            for y in ys:
                for x0 in xs:
                    with torch.no_grad():
                        f = ext.forward_window(xp[b:b + 1, :, y:y + 128, x0:x0 + 128], [2])[key][0]
                    acc[b, :, y // stride:y // stride + f.shape[1], x0 // stride:x0 // stride + f.shape[2]] += f
                    if b == 0:
                        cnt[y // stride:y // stride + f.shape[1], x0 // stride:x0 // stride + f.shape[2]] += 1
        assert torch.allclose(out[key], acc / cnt, atol=ATOL), key
    # the dense CLIP map is computed from the averaged res4, not averaged itself
    assert torch.allclose(out["clip_dense"], F.normalize(ext.embed_map(out["res4"]), dim=1), atol=ATOL)


def test_a_calls_window_stride_equals_the_options_and_leaves_them(tiny_backbone):
    """``forward(..., window_stride=s)`` is the backbone built with ``window_stride=s``, for that call only."""
    x = torch.randn(1, 3, 200, 290)
    opts = dict(window_batch_size=4)
    built = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(window_stride=48, **opts))
    other = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(window_stride=80, **opts))
    want, plain = built(x), other(x)
    got = other(x, window_stride=48)
    assert not torch.allclose(want["res4"], plain["res4"], atol=1e-3)  # the stride matters here
    for k in want:
        assert torch.equal(got[k], want[k]), k
    assert other.options.window_stride == (80, 80) and torch.equal(other(x)["res4"], plain["res4"])


def test_sliding_merge_counts_on_a_constant_function():
    # fn returns ones at stride 2: the average of overlapping windows must be exactly one everywhere
    def fn(crops):
        return {"m": torch.ones(crops.shape[0], 1, crops.shape[2] // 2, crops.shape[3] // 2) * crops[:, :1, ::2, ::2]}

    img = torch.arange(2 * 3 * 12 * 20, dtype=torch.float32).view(2, 3, 12, 20)
    out = sliding_window_forward(fn, img, (8, 8), (4, 6), align=2, window_batch_size=3)
    assert torch.allclose(out["m"], img[:, :1, ::2, ::2])  # windows of a position-wise fn agree exactly


def test_reference_placement_is_half_token_off(tiny_backbone):
    x = torch.randn(1, 3, 256, 256)
    opts = dict(window_stride=72)
    aligned = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(**opts))(x)
    ref = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin",
                       BackboneOptions(window_placement="reference", **opts))(x)
    assert aligned["res4"].shape == ref["res4"].shape
    assert not torch.allclose(aligned["res4"], ref["res4"], atol=1e-3)


def test_interpolate_mode_resizes_position_embedding(tiny_backbone):
    bb = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(mode="interpolate"))
    x = torch.randn(1, 3, 192, 256)
    out = bb(x)
    assert out["res4"].shape == (1, 64, 12, 16)
    trunk = tiny_backbone.clip.visual.trunk
    trunk.dynamic_img_size = True  # timm's own resampling path as the reference
    try:
        with torch.no_grad():
            feats = trunk.patch_embed.backbone(x)
            t = trunk._pos_embed(feats.permute(0, 2, 3, 1))
            t = trunk.norm(trunk.blocks(trunk.norm_pre(t)))
    finally:
        trunk.dynamic_img_size = False
    assert torch.allclose(out["res4"].flatten(2).transpose(1, 2), t, atol=ATOL)


def test_padding_to_size_divisibility(tiny_backbone):
    bb = ClipBackbone(tiny_backbone.clip, "ViTamin-Tiny", "vitamin", BackboneOptions(mode="interpolate"))
    x = torch.randn(1, 3, 100, 130)
    out = bb(x)
    assert out["res4"].shape[-2:] == (8, 10) and out["res5"].shape[-2:] == (4, 5)  # padded to 128 × 160
    padded = F.pad(x, (0, 160 - 130, 0, 128 - 100))  # zeros at the bottom/right of the normalised input
    assert torch.allclose(bb(padded)["res4"], out["res4"], atol=ATOL)


def test_frozen_by_default_and_fine_tune_option():
    torch.manual_seed(0)
    bb = build_backbone("ViTamin-Tiny")
    parent = torch.nn.Sequential(bb, torch.nn.Identity())
    parent.train()
    assert bb.training and not bb.clip.training and not bb.clip.visual.trunk.blocks[0].training
    assert not any(p.requires_grad for p in bb.parameters())
    out = bb(torch.randn(1, 3, 128, 128))
    assert not out["res4"].requires_grad
    bb.set_frozen(False)
    parent.train()
    assert bb.clip.training
    out = bb(torch.randn(1, 3, 128, 128))
    out["clip_dense"].sum().backward()
    assert bb.clip.visual.trunk.blocks[0].attn.qkv.weight.grad is not None


@pytest.mark.parametrize("name,size", [("ViT-B-16", 224), ("convnext_base", 96)])
def test_baseline_families_match_their_towers(name, size):
    import open_clip

    family = "vit" if name.startswith("ViT") else "convnext"
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clip = open_clip.create_model(name)
    bb = ClipBackbone(clip, name, family, BackboneOptions(mode="interpolate"))
    x = torch.randn(1, 3, size, size)
    out = bb(x)
    vis = clip.visual
    with torch.no_grad():
        if family == "vit":
            tokens = vis.transformer(vis._embeds(x))
            assert torch.allclose(out["res4"].flatten(2).transpose(1, 2), tokens[:, 1:], atol=1e-4)
            dense = vis.ln_post(tokens[:, 1:]) @ vis.proj
            assert torch.allclose(out["clip_dense"].flatten(2).transpose(1, 2), F.normalize(dense, dim=-1), atol=1e-4)
        else:
            assert torch.allclose(out["res5"], vis.trunk.forward_features(x), atol=1e-4)
            assert torch.allclose(bb.embed_pooled(out["res5"]), clip.encode_image(x), atol=1e-4)
