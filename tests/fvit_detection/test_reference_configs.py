"""The reference-eval configs select the reference's window placement, pos-embed handling and RPN head."""
import warnings
from pathlib import Path

import pytest
import torch

import backbone.sliding as sliding
from backbone import BackboneOptions, build_backbone
from fvit_detection.builder import backbone_options, build_model
from fvit_detection.config import FViTConfig
from shared.engine import load_config

CONFIGS = Path(__file__).parents[2] / "fvit_detection/configs"
REFERENCE = {"lvis": CONFIGS / "reference_ov_lvis_vitamin_l_336_eval.yaml",
             "coco": CONFIGS / "reference_ov_coco_vitamin_l_336_eval.yaml"}


@pytest.fixture(scope="module")
def vitamin_l_meta():
    """ViTamin-L-336 as a shape-only (meta) model: its real window size and token stride, no weights."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone("ViTamin-L-336", device="meta")


def _origins_at_896(bb, cfg: FViTConfig, monkeypatch) -> list[list[int]]:
    """Window origins (per axis) of the backbone with the config's options on an 896² input."""
    assert cfg.model.backbone == bb.name and tuple(bb.spec.native_size) == (336, 336)
    calls, origins = [], sliding.window_origins

    def recording(*args, **kwargs):
        calls.append(origins(*args, **kwargs))
        return calls[-1]

    with monkeypatch.context() as m:
        m.setattr(bb, "options", BackboneOptions.from_kwargs(**backbone_options(cfg.model)))
        m.setattr(sliding, "window_origins", recording)
        bb(torch.empty(1, 3, 896, 896, device="meta"))
    return calls


@pytest.mark.parametrize("split", ["lvis", "coco"])
def test_reference_configs_place_windows_as_the_reference(split, vitamin_l_meta, monkeypatch):
    cfg = load_config(FViTConfig, REFERENCE[split])
    m = cfg.model
    assert (m.window_placement, m.window_stride, m.reference_skip_pos_embed) == ("reference", 168, False)
    assert m.rpn_norm == ("bn" if split == "lvis" else "none")  # CustomRPNHead + MMSyncBN on LVIS, RPNHead on COCO
    assert (m.with_mask, m.detections_per_img, m.nms_thresh) == ((True, 300, 0.5) if split == "lvis"
                                                                 else (False, 100, 0.4))
    # the reference: y1 = i·168, y2 = min(y1 + 336, H), y1 = y2 − 336 → 0, 168, 336, 504, 560 on both axes
    assert _origins_at_896(vitamin_l_meta, cfg, monkeypatch) == [[0, 168, 336, 504, 560]] * 2
    if split == "lvis":  # our default placement (aligned to the 16-px tokens) gives other origins: the check can fail
        aligned = load_config(FViTConfig, REFERENCE[split], ["model.window_placement=aligned"])
        assert _origins_at_896(vitamin_l_meta, aligned, monkeypatch) == [[0, 160, 336, 496, 560]] * 2


def test_pos_embed_and_rpn_norm_options_reach_the_model():
    """model.reference_skip_pos_embed reaches the backbone (its output changes); model.rpn_norm=bn gives
    conv (no bias) → BatchNorm → ReLU per RPN conv."""
    base = ["model.backbone=ViTamin-Tiny", "model.pretrained=null", "model.fpn_channels=16",
            "model.roi_conv_channels=16", "model.c4_block=null", "model.rpn_norm=bn"]
    models = {}
    for skip in (False, True):
        torch.manual_seed(0)
        cfg = load_config(FViTConfig, REFERENCE["lvis"], [*base, f"model.reference_skip_pos_embed={skip}"])
        models[skip] = build_model(cfg).eval()
        assert models[skip].backbone.options.reference_skip_pos_embed is skip
    models[True].load_state_dict(models[False].state_dict())
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        a, b = models[False].backbone(x)["res4"], models[True].backbone(x)["res4"]
    assert a.shape == b.shape and not torch.allclose(a, b)
    conv = models[False].rpn.head.conv
    assert len(conv) == 2
    for layer in conv:
        assert [type(m).__name__ for m in layer] == ["Conv2d", "BatchNorm2d", "ReLU"] and layer[0].bias is None
    with pytest.raises(ValueError, match="model.rpn_norm='sync'"):
        build_model(load_config(FViTConfig, REFERENCE["lvis"], [*base, "model.rpn_norm=sync"]))
