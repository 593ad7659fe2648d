"""Weights: round trips through files the test writes, clear errors for bad files."""
import pytest
import torch
from safetensors.torch import save_file

from backbone import WeightsError, build_backbone


def _same_params(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def source():
    torch.manual_seed(123)
    return build_backbone("ViTamin-Tiny")


def test_full_clip_round_trip_pt_and_safetensors(source, tmp_path):
    pt = tmp_path / "clip.pt"
    torch.save({"state_dict": {"module." + k: v for k, v in source.clip.state_dict().items()}}, pt)
    st = tmp_path / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in source.clip.state_dict().items()}, str(st))
    for f in (pt, st):
        bb = build_backbone("ViTamin-Tiny", pretrained=str(f))
        assert _same_params(bb.clip, source.clip) and "(full)" in bb.weights
        x = torch.randn(1, 3, 128, 128)
        assert torch.allclose(bb(x)["clip_dense"], source(x)["clip_dense"])


def test_visual_only_file(source, tmp_path):
    f = tmp_path / "visual.bin"
    torch.save(source.clip.visual.state_dict(), f)
    bb = build_backbone("ViTamin-Tiny", pretrained=str(f))
    assert _same_params(bb.clip.visual, source.clip.visual) and "(visual)" in bb.weights
    # reference-layout checkpoints (FC-CLIP's backbone.clip_model.*) load after prefix stripping
    g = tmp_path / "fcclip_like.pth"
    torch.save({"model": {"backbone.clip_model." + k: v for k, v in source.clip.state_dict().items()}}, g)
    assert _same_params(build_backbone("ViTamin-Tiny", pretrained=str(g)).clip, source.clip)


def test_wrong_architecture_names_file_and_keys(tmp_path):
    other = build_backbone("ViTamin-S", device="meta")  # shapes only: never written
    sd = {k: torch.zeros(v.shape) for k, v in other.clip.visual.state_dict().items() if "blocks.0." in k or "stem" in k}
    f = tmp_path / "vitamin_s_visual.safetensors"
    save_file(sd, str(f))
    with pytest.raises(WeightsError) as e:
        build_backbone("ViTamin-Tiny", pretrained=str(f))
    msg = str(e.value)
    assert str(f) in msg and "shape mismatches" in msg and "trunk.patch_embed.backbone.stem" in msg and "missing keys" in msg


def test_missing_unreadable_and_unsafe_files(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        build_backbone("ViTamin-Tiny", pretrained=str(tmp_path / "nope.pt"))
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x00" * 10)
    with pytest.raises(WeightsError, match="broken.safetensors"):
        build_backbone("ViTamin-Tiny", pretrained=str(bad))
    # a pickle holding an arbitrary object is refused (weights_only=True), not executed
    evil = tmp_path / "evil.pt"
    torch.save({"state_dict": {"x": torch.zeros(1)}, "obj": _Payload()}, evil)
    with pytest.raises(WeightsError, match="evil.pt"):
        build_backbone("ViTamin-Tiny", pretrained=str(evil))


class _Payload:
    pass


def test_unknown_pretrained_tag_lists_tags():
    with pytest.raises(WeightsError, match="datacomp1b"):
        build_backbone("ViTamin-S", pretrained="laion9000")
