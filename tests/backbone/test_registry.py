"""Every registry entry builds (shape-only) with the pyramid the paper models have."""
import warnings

import pytest
import torch

from backbone import REGISTRY, build_backbone

# Hand-checked against the fact sheets (fvit.md §1.2, fcclip.md §1.2, llava.md §2.2-2.3).
EXPECTED = {
    "ViTamin-L-336": dict(native=(336, 336), embed=768, channels=(160, 160, 320, 1024, 1024), blocks=31),
    "ViTamin-XL-384": dict(native=(384, 384), embed=1152, channels=(192, 192, 384, 1152, 1152), blocks=32),
    "ViTamin-S": dict(native=(224, 224), embed=384, channels=(64, 64, 128, 384, 384), blocks=14),
    "ViTamin-B": dict(native=(224, 224), embed=512, channels=(128, 128, 256, 768, 768), blocks=14),
    "convnext_large_d_320": dict(native=(320, 320), embed=768, channels=(192, 192, 384, 768, 1536), blocks=0),
}
STRIDES = {"vitamin": (2, 4, 8, 16, 32), "convnext": (4, 4, 8, 16, 32)}


def _build_meta(name, **opts):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone(name, device="meta", **opts)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_pyramid_spec_and_shapes(name):
    bb = _build_meta(name, window_stride=112 if name != "convnext_large_d_320" else 160)
    spec = bb.spec
    levels = spec.levels
    if spec.family in STRIDES:
        assert tuple(levels[k].stride for k in ("stem", "res2", "res3", "res4", "res5")) == STRIDES[spec.family]
    else:  # plain ViT: strides follow the patch size
        patch = bb.clip.visual.patch_size[0]
        assert [levels[k].stride for k in ("res2", "res3", "res4", "res5")] == [patch / 4, patch / 2, patch, 2 * patch]
        assert "stem" not in levels
    if name in EXPECTED:
        e = EXPECTED[name]
        assert spec.native_size == e["native"] and spec.embed_dim == e["embed"] and spec.num_blocks == e["blocks"]
        assert tuple(levels[k].channels for k in ("stem", "res2", "res3", "res4", "res5")) == e["channels"]
    # a non-square input larger than the window, through the sliding path, on the meta device
    h, w = spec.native_size[0] + 40, 2 * spec.native_size[1] - 8
    out = bb(torch.empty(1, 3, h, w, device="meta"), block_indices=[-1] if spec.num_blocks else [])
    ph, pw = spec.padded_size(h, w, sliding=True)
    assert ph % spec.size_divisibility == 0 and pw % spec.size_divisibility == 0 and ph >= h and pw >= w
    for key, lv in levels.items():
        assert tuple(out[key].shape) == (1, lv.channels, round(ph / lv.stride), round(pw / lv.stride)), key
    if spec.num_blocks:
        assert out[f"block{spec.num_blocks - 1}"].shape[1] == spec.block_channels


def test_xl384_config_disagreement_is_reported():
    with pytest.warns(UserWarning, match="image_size"):
        bb = build_backbone("ViTamin-XL-384", device="meta")
    assert bb.spec.native_size == (384, 384)


def test_unknown_name_and_option_errors():
    with pytest.raises(KeyError, match="unknown backbone"):
        build_backbone("ViTamin-Q")
    with pytest.raises(TypeError, match="unknown backbone option"):
        build_backbone("ViTamin-Tiny", window_strid=3)
    with pytest.raises(ValueError, match="res5"):
        build_backbone("ViTamin-Tiny", res5="avg")
    with pytest.raises(ValueError, match="out of range"):
        build_backbone("ViTamin-Tiny", device="meta")(torch.empty(1, 3, 128, 128, device="meta"), block_indices=[9])
