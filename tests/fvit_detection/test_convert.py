"""Reference F-ViT (mmdetection) checkpoints ⇄ ours: key names, exact round trips, and the same outputs.

The reference modules below are stand-ins built with mmdet / mmcv's attribute names and forward code (mmdet 2.28:
``FPN``, ``RPNHead`` / the OV-LVIS ``CustomRPNHead``, ``FViTBBoxHead`` ⊂ ``ConvFCBBoxHead``, ``FCNMaskHead``; mmcv
``ConvModule`` = conv → ``bn`` → ReLU, conv bias off when a norm follows; ``CLIPViTamin.interpolate1/2``), so that a
converted state dict must load into them with ``strict`` key checking and reproduce our outputs.
"""
import copy
import math
import warnings
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers

from backbone import build_backbone
from fvit_detection.convert import main, ours_to_reference, reference_to_ours
from fvit_detection.modeling.detector import FViT, FViTModelConfig
from shared.engine import load_checkpoint, save_checkpoint

BH, MH = "roi_head.bbox_head.", "roi_head.mask_head."
FPN_C, ROI_C, NUM_CLASSES = 32, 16, 5


# --- stand-ins for the reference modules (mmdet / mmcv names) -------------------------------------------------------
class ConvModule(nn.Module):
    def __init__(self, cin, cout, k, norm=True, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2, bias=not norm)
        if norm:
            self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.conv(x)
        if hasattr(self, "bn"):
            x = self.bn(x)
        return F.relu(x) if self.act else x


class RefBackbone(nn.Module):  # CLIPViTamin's trainable part (+ one tensor standing for the frozen CLIP)
    def __init__(self, c2, c3):
        super().__init__()
        self.interpolate1 = nn.Sequential(nn.Conv2d(c2, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.GELU(),
                                          nn.Conv2d(c2, c2, 3, padding=1))
        self.interpolate2 = nn.Sequential(nn.Conv2d(c3, c3, 3, padding=1))
        self.visual = nn.Module()
        self.visual.register_buffer("pos_embed", torch.zeros(1, 3))


class RefFPN(nn.Module):  # mmdet FPN, norm_cfg=SyncBN, num_outs=5, no extra convs
    def __init__(self, in_channels, out):
        super().__init__()
        self.lateral_convs = nn.ModuleList(ConvModule(c, out, 1, act=False) for c in in_channels)
        self.fpn_convs = nn.ModuleList(ConvModule(out, out, 3, act=False) for _ in in_channels)

    def forward(self, inputs):
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        for i in range(len(laterals) - 1, 0, -1):
            laterals[i - 1] = laterals[i - 1] + F.interpolate(laterals[i], size=laterals[i - 1].shape[2:],
                                                              mode="nearest")
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        return outs + [F.max_pool2d(outs[-1], 1, stride=2)]


class RefRPNHead(nn.Module):  # RPNHead(num_convs=2) / CustomRPNHead(norm_cfg=MMSyncBN)
    def __init__(self, c, anchors, norm):
        super().__init__()
        self.rpn_conv = nn.Sequential(*(ConvModule(c, c, 3, norm=norm) for _ in range(2)))
        self.rpn_cls = nn.Conv2d(c, anchors, 1)
        self.rpn_reg = nn.Conv2d(c, anchors * 4, 1)

    def forward_single(self, x):
        x = F.relu(self.rpn_conv(x))
        return self.rpn_cls(x), self.rpn_reg(x)


class RefBBoxHead(nn.Module):  # FViTBBoxHead: 4 shared convs, 2 shared fcs, 1 cls fc, 1 reg fc, agnostic fc_reg
    def __init__(self, cin, conv_c, fc, embed, num_classes):
        super().__init__()
        self.shared_convs = nn.ModuleList(ConvModule(cin if i == 0 else conv_c, conv_c, 3) for i in range(4))
        self.shared_fcs = nn.ModuleList([nn.Linear(conv_c * 49, fc), nn.Linear(fc, fc)])
        self.cls_fcs = nn.ModuleList([nn.Linear(fc, fc)])
        self.reg_fcs = nn.ModuleList([nn.Linear(fc, fc)])
        self.fc_cls = nn.Linear(fc, num_classes + 1)
        self.fc_reg = nn.Linear(fc, 4)
        self.detect_temperature = nn.Parameter(torch.tensor(50.0))
        self.register_buffer("all_embeddings", F.normalize(torch.randn(embed, num_classes + 1), dim=0))

    def forward(self, x):
        for conv in self.shared_convs:
            x = conv(x)
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = F.relu(fc(x))
        x_cls, x_reg = x, x
        for fc in self.cls_fcs:
            x_cls = F.relu(fc(x_cls))
        for fc in self.reg_fcs:
            x_reg = F.relu(fc(x_reg))
        return x_cls / x_cls.norm(dim=-1, keepdim=True) @ self.all_embeddings * self.detect_temperature, \
            self.fc_reg(x_reg)


class RefMaskHead(nn.Module):  # FCNMaskHead: 4 convs, deconv ×2, 1×1 logits (class-agnostic)
    def __init__(self, cin, c):
        super().__init__()
        self.convs = nn.ModuleList(ConvModule(cin if i == 0 else c, c, 3) for i in range(4))
        self.upsample = nn.ConvTranspose2d(c, c, 2, stride=2)
        self.conv_logits = nn.Conv2d(c, 1, 1)

    def forward(self, x):
        for conv in self.convs:
            x = conv(x)
        return self.conv_logits(F.relu(self.upsample(x)))


class RefFViT(nn.Module):
    def __init__(self, model: FViT, rpn_norm: bool):
        super().__init__()
        c = model.adapters.out_channels
        embed = model.roi_heads.text_embeddings.shape[1]
        self.backbone = RefBackbone(c[0], c[1])
        self.neck = RefFPN(c, FPN_C)
        self.rpn_head = RefRPNHead(FPN_C, 3, rpn_norm)
        self.roi_head = nn.Module()
        self.roi_head.bbox_head = RefBBoxHead(FPN_C, ROI_C, embed, embed, NUM_CLASSES)
        self.roi_head.mask_head = RefMaskHead(FPN_C, ROI_C)


# --- helpers ----------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def backbone():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone("ViTamin-Tiny")


def _model(backbone, **kw):
    cfg = FViTModelConfig(backbone="ViTamin-Tiny", fpn_channels=FPN_C, roi_conv_channels=ROI_C, **kw)
    model = FViT(cfg, backbone)
    torch.manual_seed(1)
    model.roi_heads.set_vocabulary(torch.randn(NUM_CLASSES + 1, model.roi_heads.text_embeddings.shape[1]),
                                   torch.tensor([False, True, False, False, True]))
    return model


@pytest.fixture(scope="module")
def model(backbone):
    m = _model(backbone)
    _randomise(m, seed=0)
    return m.eval()


def _randomise(module, seed, skip="backbone."):
    """Non-trivial weights and BatchNorm statistics (a fresh init would hide swapped or identity-looking layers)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict().items():
            if name.startswith(skip) or not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(0.5 + torch.rand(t.shape, generator=g))
            elif name.endswith("temperature"):
                t.fill_(30.0)
            elif t.dim() >= 2:  # activations of order 1 through the stacked layers
                t.copy_(torch.randn(t.shape, generator=g) / math.sqrt(t[0].numel()))
            else:  # biases, norm weights, running means
                t.copy_(0.2 * torch.randn(t.shape, generator=g) + (1.0 if name.endswith("weight") else 0.0))


def _trained_parts(model):
    return {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}


def _mmdet_anchors(stride, h, w, scale=8.0, ratios=(0.5, 1.0, 2.0)):
    """mmdet 2.28 AnchorGenerator (center_offset 0, scale-major, no rounding) + grid_priors ordering."""
    hr = torch.sqrt(torch.tensor(ratios))
    ws, hs = stride * scale / hr, stride * scale * hr
    base = torch.stack([-0.5 * ws, -0.5 * hs, 0.5 * ws, 0.5 * hs], dim=-1)
    sx, sy = torch.arange(w) * float(stride), torch.arange(h) * float(stride)
    xx, yy = sx.repeat(h), sy.view(-1, 1).repeat(1, w).view(-1)
    return (base[None] + torch.stack([xx, yy, xx, yy], dim=-1)[:, None]).view(-1, 4)


def _mmdet_delta2bbox(rois, deltas):
    """mmdet 2.28 DeltaXYWHBBoxCoder.decode with means 0, stds 1 (no max_shape)."""
    max_ratio = abs(math.log(16 / 1000))
    pxy, pwh = (rois[:, :2] + rois[:, 2:]) * 0.5, rois[:, 2:] - rois[:, :2]
    gxy = pxy + pwh * deltas[:, :2]
    gwh = pwh * deltas[:, 2:].clamp(-max_ratio, max_ratio).exp()
    return torch.cat([gxy - gwh * 0.5, gxy + gwh * 0.5], dim=-1)


def _close(a, b, tol):
    """Equal up to float32 rounding relative to the tensor's scale (folding a BatchNorm reorders the arithmetic)."""
    torch.testing.assert_close(a, b, atol=tol * max(b.abs().max().item(), 1.0), rtol=tol)


def _assert_same_outputs(model: FViT, ref: RefFViT, atol: float):
    """Adapters+FPN, RPN (raw maps, flattened scores, decoded boxes), RoI box logits/deltas and mask logits."""
    model.eval(), ref.eval()
    torch.manual_seed(3)
    c = model.adapters.out_channels
    feats = {"res2": torch.randn(1, c[0], 32, 32), "res3": torch.randn(1, c[1], 16, 16),
             model.adapters.c4_key: torch.randn(1, c[2], 8, 8), "res5": torch.randn(1, c[3], 4, 4)}
    with torch.no_grad():
        ours = list(model.fpn(OrderedDict(model.adapters(feats))).values())
        theirs = ref.neck([ref.backbone.interpolate1(feats["res2"]), ref.backbone.interpolate2(feats["res3"]),
                           feats[model.adapters.c4_key], feats["res5"]])
        assert len(ours) == len(theirs) == 5
        for a, b in zip(ours, theirs):
            _close(a, b, atol)

        # RPN: the raw maps have the same layout, so flattening each library's way gives the same per-anchor values
        obj, reg = model.rpn.head(ours)
        ref_maps = [ref.rpn_head.forward_single(x) for x in ours]
        for o, r, (ro, rr) in zip(obj, reg, ref_maps):
            _close(o, ro, atol)
            _close(r, rr, atol)
        objectness, deltas = concat_box_prediction_layers(obj, reg)  # torchvision: (Σ HWA, 1), (Σ HWA, 4)
        ref_scores = torch.cat([ro.permute(0, 2, 3, 1).reshape(-1) for ro, _ in ref_maps])  # mmdet _get_bboxes
        ref_deltas = torch.cat([rr.permute(0, 2, 3, 1).reshape(-1, 4) for _, rr in ref_maps])
        _close(objectness.flatten(), ref_scores, atol)  # both libraries score anchors with sigmoid(logit)
        strides = [4, 8, 16, 32, 64]
        anchors = torch.cat([_mmdet_anchors(s, x.shape[2], x.shape[3]) for s, x in zip(strides, ours)])
        # the decoders agree except for log-size deltas below −log(1000/16), which only mmdet clamps from below
        # (random weights produce many; a trained RPN hardly any — documented in convert.py)
        inside = (ref_deltas[:, 2:] >= -math.log(1000 / 16)).all(dim=1)
        assert inside.float().mean() > 0.9
        _close(model.rpn.box_coder.decode_single(deltas, anchors)[inside],
               _mmdet_delta2bbox(anchors, ref_deltas)[inside], atol)

        # RoI heads on the same pooled features
        boxes = [torch.tensor([[2.0, 3.0, 60.0, 50.0], [10.0, 10.0, 120.0, 126.0], [0.0, 0.0, 20.0, 30.0]])]
        logits, box_deltas = model.roi_heads._box_forward(ours[:4], boxes)
        ref_logits, ref_box_deltas = ref.roi_head.bbox_head(model.roi_heads.box_pool(ours[:4], boxes))
        _close(logits, ref_logits, atol)
        _close(box_deltas, ref_box_deltas, atol)
        pooled = model.roi_heads.mask_pool(ours[:4], boxes)
        _close(model.roi_heads.mask_head(pooled), ref.roi_head.mask_head(pooled), atol)


# --- tests ------------------------------------------------------------------------------------------------------------
def test_reference_names_and_round_trip(model):
    ours = _trained_parts(model)
    ref, report = ours_to_reference(ours, rpn_layout="plain")
    rh, r = model.roi_heads, model.rpn.head
    expected = {  # reference names (mmdet attribute names, fact sheet §1.5–1.8) → our tensors
        "backbone.interpolate1.0.weight": model.adapters.adapt2[0].weight,
        "backbone.interpolate1.1.running_var": model.adapters.adapt2[1].running_var,
        "backbone.interpolate1.3.bias": model.adapters.adapt2[3].bias,
        "backbone.interpolate2.0.weight": model.adapters.adapt3.weight,
        "neck.lateral_convs.2.conv.weight": model.fpn.inner_blocks[2][0].weight,
        "neck.lateral_convs.0.bn.running_mean": model.fpn.inner_blocks[0][1].running_mean,
        "neck.fpn_convs.3.conv.weight": model.fpn.layer_blocks[3][0].weight,
        "neck.fpn_convs.1.bn.bias": model.fpn.layer_blocks[1][1].bias,
        "rpn_head.rpn_conv.0.conv.weight": r.conv[0][0].weight,
        "rpn_head.rpn_conv.1.conv.bias": r.conv[1][0].bias,
        "rpn_head.rpn_cls.weight": r.cls_logits.weight,
        "rpn_head.rpn_reg.bias": r.bbox_pred.bias,
        BH + "shared_convs.0.conv.weight": rh.box_convs[0].weight,
        BH + "shared_convs.3.conv.weight": rh.box_convs[9].weight,
        BH + "shared_convs.2.bn.weight": rh.box_convs[7].weight,
        BH + "shared_convs.3.bn.num_batches_tracked": rh.box_convs[10].num_batches_tracked,
        BH + "shared_fcs.0.weight": rh.box_fcs[1].weight,
        BH + "shared_fcs.1.bias": rh.box_fcs[3].bias,
        BH + "cls_fcs.0.weight": rh.cls_fc[0].weight,
        BH + "reg_fcs.0.bias": rh.reg_fc[0].bias,
        BH + "fc_reg.weight": rh.reg_fc[2].weight,
        BH + "detect_temperature": rh.temperature,
        MH + "convs.0.conv.weight": rh.mask_head[0].weight,
        MH + "convs.3.bn.running_var": rh.mask_head[10].running_var,
        MH + "upsample.weight": rh.mask_head[12].weight,
        MH + "conv_logits.bias": rh.mask_head[14].bias,
    }
    for key, tensor in expected.items():
        assert torch.equal(ref[key], tensor), key
    assert len(ref) == len(ours)  # pure renaming in the plain layout
    assert set(report.left_at_init) >= {BH + "all_embeddings", BH + "fc_cls.{weight,bias}"}
    clip = {"backbone.visual.trunk.pos_embed": torch.zeros(1), "backbone.visual.trunk.blocks.30.norm1.weight":
            torch.zeros(1)}  # a 31-block ViTamin-L trunk: the reference taps C4 after blocks[:15]
    extra = {BH + "fc_cls.weight": torch.zeros(6, 64), BH + "fc_cls.bias": torch.zeros(6),
             BH + "all_embeddings": torch.zeros(64, 6)}
    back, report = reference_to_ours({**ref, **clip, **extra})
    assert report.clip_tensors == 2 and set(report.dropped) == set(extra) and not report.changed
    assert report.config == ["model.with_mask=true", "model.rpn_convs=2", "model.rpn_norm=none",
                             f"model.fpn_channels={FPN_C}",
                             f"model.roi_conv_channels={ROI_C}", "model.c4_block=14"]
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)


@pytest.mark.parametrize("layout", ["plain", "syncbn"])
def test_exported_checkpoint_loads_into_the_reference_modules_and_computes_the_same(model, layout):
    ref_sd, report = ours_to_reference(_trained_parts(model), rpn_layout=layout)
    ref = RefFViT(model, rpn_norm=layout == "syncbn")
    missing, unexpected = ref.load_state_dict(ref_sd, strict=False)
    assert unexpected == []
    assert sorted(missing) == sorted(["backbone.visual.pos_embed", BH + "fc_cls.weight", BH + "fc_cls.bias",
                                      BH + "all_embeddings"])  # exactly the report's "left at init" list
    assert bool(report.changed) == (layout == "syncbn")
    ref.roi_head.bbox_head.all_embeddings.copy_(model.roi_heads.text_embeddings.t())  # its class_embed file
    _assert_same_outputs(model, ref, atol=1e-5)
    # the identity BatchNorm of the syncbn layout folds back to exactly our tensors
    back, _ = reference_to_ours(ref_sd, rpn_layout="plain")
    ours = _trained_parts(model)
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)


def test_reference_lvis_checkpoint_with_rpn_syncbn_folds_into_a_plain_rpn(backbone):
    """A reference state dict with the OV-LVIS CustomRPNHead (conv + MMSyncBN), asked for the plain layout
    (model.rpn_norm=none): the BN is folded into our conv, same outputs at inference."""
    target = _model(backbone).eval()
    ref = RefFViT(target, rpn_norm=True)
    _randomise(ref, seed=5, skip="backbone.visual.")
    ref_sd = ref.state_dict()
    ours, report = reference_to_ours(ref_sd, rpn_layout="plain")
    assert report.clip_tensors == 1 and len(report.changed) == 2 and "folded" in report.changed[0]
    assert set(report.dropped) == {BH + "fc_cls.weight", BH + "fc_cls.bias", BH + "all_embeddings"}
    target.load_checkpoint_state_dict({**ours, **{k: v for k, v in target.state_dict().items()
                                                  if k.startswith("backbone.")}}, "converted")
    ref.roi_head.bbox_head.all_embeddings.copy_(target.roi_heads.text_embeddings.t())
    _assert_same_outputs(target, ref, atol=1e-5)


def test_anchor_conventions_match_up_to_torchvision_rounding(model):
    """Same anchor order (location-major, ratios 0.5/1/2 with ratio = h/w) and centres; torchvision rounds the base
    anchors to integers (≤ 0.5 px), the one geometric difference left after conversion."""
    sizes = [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
    feats = [torch.zeros(1, 1, h, w) for h, w in sizes]
    ours = model.rpn.anchor_generator(ImageList(torch.zeros(1, 3, 64, 64), [(64, 64)]), feats)[0]
    theirs = torch.cat([_mmdet_anchors(s, h, w) for s, (h, w) in zip([4, 8, 16, 32, 64], sizes)])
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max() <= 0.5
    torch.testing.assert_close((ours[:, :2] + ours[:, 2:]) / 2, (theirs[:, :2] + theirs[:, 2:]) / 2)
    wh = theirs[:3, 2:] - theirs[:3, :2]
    assert (wh[:, 1] / wh[:, 0]).tolist() == pytest.approx([0.5, 1.0, 2.0])


def test_cli_both_directions_and_bad_input(model, tmp_path, capsys):
    full = model.state_dict()
    cfg = {"model": {"backbone": "ViTamin-Tiny", "norm": "bn", "cls_relu": True, "with_mask": True}}
    save_checkpoint(tmp_path / "ours.pt", {"model": full, "step": 7, "metadata": {"fvit_config": cfg}})
    assert main(["--to-reference", str(tmp_path / "ours.pt"), "--out", str(tmp_path / "ref.pth")]) == 0
    out = capsys.readouterr().out
    assert "rpn.head.conv.0.0 bias → rpn.head.conv.0.1: BatchNorm" in out  # auto: mask head → OV-LVIS layout
    assert "roi_head.bbox_head.all_embeddings" in out and "fc_cls" in out
    ref = load_checkpoint(tmp_path / "ref.pth")
    assert "rpn_head.rpn_conv.1.bn.running_var" in ref["state_dict"] and "meta" in ref
    assert main(["--reference", str(tmp_path / "ref.pth"), "--rpn-layout", "plain",
                 "--out", str(tmp_path / "back.pt")]) == 0
    out = capsys.readouterr().out
    assert "rpn.head.conv.1.1 (BatchNorm) folded into rpn.head.conv.1.0" in out
    assert "load with: model.with_mask=true model.rpn_convs=2 model.rpn_norm=none" in out
    back = load_checkpoint(tmp_path / "back.pt")["model"]
    ours = _trained_parts(model)
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    model.load_checkpoint_state_dict({**back, **{k: v for k, v in full.items() if k.startswith("backbone.")}},
                                     "back.pt")
    assert main(["--to-reference", str(tmp_path / "ours.pt"), "--rpn-layout", "plain",
                 "--out", str(tmp_path / "plain.pth")]) == 0
    assert "rpn_head.rpn_conv.0.conv.bias" in load_checkpoint(tmp_path / "plain.pth")["state_dict"]

    odd = {**ref["state_dict"], "roi_head.bbox_head.extra.weight": torch.zeros(1)}
    save_checkpoint(tmp_path / "odd.pth", {"state_dict": odd, "meta": {}})
    assert main(["--reference", str(tmp_path / "odd.pth"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "1 keys are not F-ViT reference keys, e.g. ['roi_head.bbox_head.extra.weight']" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
    save_checkpoint(tmp_path / "odd_ours.pt", {"model": {**full, "roi_heads.extra": torch.zeros(1)}})
    assert main(["--to-reference", str(tmp_path / "odd_ours.pt"), "--out", str(tmp_path / "y.pth")]) == 2
    assert "1 keys have no reference name, e.g. ['roi_heads.extra']" in capsys.readouterr().err
    assert not (tmp_path / "y.pth").exists()


def test_layouts_without_a_counterpart_are_refused(model, backbone):
    ref, _ = ours_to_reference(_trained_parts(model), rpn_layout="plain")
    cases = {
        "learn_bg=True": {**ref, BH + "bg_embedding": torch.zeros(64, 1)},
        "ViT / EVA backbones": {**ref, "backbone.interpolate1.0.weight": torch.zeros(16, 16, 2, 2)},
        "reg_class_agnostic=False": {**ref, BH + "fc_reg.weight": torch.zeros(4 * NUM_CLASSES, 64)},
        "class_agnostic=False": {**ref, MH + "conv_logits.weight": torch.zeros(NUM_CLASSES, ROI_C, 1, 1)},
        "use_sigmoid=False": {**ref, "rpn_head.rpn_cls.weight": torch.zeros(6, FPN_C, 1, 1)},
        "a layer count our model lacks": {**ref, MH + "convs.4.conv.weight": torch.zeros(ROI_C, ROI_C, 3, 3)},
        "without BatchNorm running statistics": {k: v for k, v in ref.items()
                                                 if k != "neck.fpn_convs.0.bn.running_var"},
    }
    for why, sd in cases.items():
        with pytest.raises(ValueError, match=why.replace("(", r"\(").replace(")", r"\)")):
            reference_to_ours(sd)

    gn = _model(backbone, norm="gn")
    with pytest.raises(ValueError, match="model.norm=gn"):
        ours_to_reference(_trained_parts(gn))
    rpn_gn = _model(backbone, rpn_norm="gn")
    with pytest.raises(ValueError, match="without BatchNorm running statistics"):
        ours_to_reference(_trained_parts(rpn_gn))
    with pytest.raises(ValueError, match="cannot be folded"):
        ours_to_reference(_trained_parts(rpn_gn), rpn_layout="plain")
    with pytest.raises(ValueError, match="model.rpn_norm='gn'"):
        ours_to_reference(_trained_parts(model), model_cfg={"rpn_norm": "gn"})
    narrow = _model(backbone, roi_fc_dim=32)
    with pytest.raises(ValueError, match="roi_fc_dim differs"):
        ours_to_reference(_trained_parts(narrow))
    with pytest.raises(ValueError, match="cls_relu=false"):
        ours_to_reference(_trained_parts(model), model_cfg={"cls_relu": False, "norm": "bn"})


# --- the OV-LVIS RPN head with BatchNorm (model.rpn_norm=bn) ---------------------------------------------------------
@pytest.fixture(scope="module")
def bn_model(backbone):
    m = _model(backbone, rpn_norm="bn")
    _randomise(m, seed=7)
    return m.eval()


def test_rpn_batchnorm_maps_name_for_name_and_trains_the_same(bn_model):
    """model.rpn_norm=bn ⇄ the OV-LVIS CustomRPNHead (conv → MMSyncBN → ReLU): no folding either way; the RPN
    maps are bitwise equal in eval mode and in train mode (batch statistics, and the running statistics after)."""
    ours = _trained_parts(bn_model)
    ref_sd, report = ours_to_reference(ours)  # auto: the model has RPN BatchNorms → syncbn, exact
    assert not report.changed and len(ref_sd) == len(ours)
    conv = bn_model.rpn.head.conv
    for i in range(2):
        assert "rpn_head.rpn_conv.{i}.conv.bias".format(i=i) not in ref_sd
        for entry in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked"):
            assert torch.equal(ref_sd[f"rpn_head.rpn_conv.{i}.bn.{entry}"], getattr(conv[i][1], entry))
        assert torch.equal(ref_sd[f"rpn_head.rpn_conv.{i}.conv.weight"], conv[i][0].weight)
    ref = RefFViT(bn_model, rpn_norm=True)
    missing, unexpected = ref.load_state_dict(ref_sd, strict=False)
    assert unexpected == [] and all(k.startswith(("backbone.visual.", BH + "fc_cls", BH + "all_emb")) for k in missing)
    ref.roi_head.bbox_head.all_embeddings.copy_(bn_model.roi_heads.text_embeddings.t())
    _assert_same_outputs(bn_model, ref, atol=1e-5)

    torch.manual_seed(4)
    levels = [torch.randn(2, FPN_C, s, s) for s in (16, 8, 4, 2, 1)]
    head = copy.deepcopy(bn_model.rpn.head)
    for train in (False, True):
        head.train(train), ref.rpn_head.train(train)
        with torch.no_grad():
            obj, reg = head(levels)
            theirs = [ref.rpn_head.forward_single(x) for x in levels]  # mmdet runs the head level by level
        for o, r, (ro, rr) in zip(obj, reg, theirs):
            assert torch.equal(o, ro) and torch.equal(r, rr)
    for i in range(2):  # five levels through each BN in train mode: same running statistics updates
        assert torch.equal(head.conv[i][1].running_mean, ref.rpn_head.rpn_conv[i].bn.running_mean)
        assert torch.equal(head.conv[i][1].running_var, ref.rpn_head.rpn_conv[i].bn.running_var)
        assert not torch.equal(head.conv[i][1].running_var, conv[i][1].running_var)

    back, report = reference_to_ours(ref_sd)  # auto: the file's SyncBN → our BatchNorm, exact
    assert not report.changed and "model.rpn_norm=bn" in report.config
    assert back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)


def test_rpn_batchnorm_model_exports_to_the_plain_layout_by_folding(bn_model, model):
    """--rpn-layout plain on a model.rpn_norm=bn model folds the BN (OV-COCO RPNHead), same outputs at inference;
    a plain file asked for syncbn gets the identity BN and loads into a model.rpn_norm=bn model."""
    ref_sd, report = ours_to_reference(_trained_parts(bn_model), rpn_layout="plain")
    assert len(report.changed) == 2 and "folded" in report.changed[0]
    assert "rpn_head.rpn_conv.0.conv.bias" in ref_sd and not any(".bn." in k for k in ref_sd if "rpn" in k)
    ref = RefFViT(bn_model, rpn_norm=False)
    ref.load_state_dict(ref_sd, strict=False)
    ref.roi_head.bbox_head.all_embeddings.copy_(bn_model.roi_heads.text_embeddings.t())
    _assert_same_outputs(bn_model, ref, atol=1e-5)

    plain_ref, _ = ours_to_reference(_trained_parts(model), rpn_layout="plain")
    ours, report = reference_to_ours(plain_ref, rpn_layout="syncbn")
    assert len(report.changed) == 2 and "model.rpn_norm=bn" in report.config
    target = copy.deepcopy(bn_model)
    target.load_checkpoint_state_dict({**ours, **{k: v for k, v in target.state_dict().items()
                                                  if k.startswith("backbone.")}}, "converted")
    x = [torch.randn(1, FPN_C, 8, 8)]
    with torch.no_grad():
        _close(target.rpn.head(x)[0][0], model.rpn.head(x)[0][0], 1e-5)
