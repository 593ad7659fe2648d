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


def _offline(monkeypatch, tmp_path):
    """No internet, as on a cluster node: HF_HUB_OFFLINE=1, an empty Hub cache; any download fails the test."""
    import huggingface_hub
    import open_clip
    import open_clip.pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    for module in (huggingface_hub, open_clip.pretrained):
        monkeypatch.setattr(module, "hf_hub_download", lambda *a, **k: pytest.fail("network"))
    monkeypatch.setattr(open_clip, "create_model", lambda *a, pretrained=None, **k: pytest.fail("model built")
                        if pretrained else None)
    return tmp_path / "hf" / "hub"


def test_an_uncached_tag_offline_fails_at_once_naming_the_local_file_options(tmp_path, monkeypatch):
    from backbone.weights import check_tag_available, create_clip_model

    cache = _offline(monkeypatch, tmp_path)
    with pytest.raises(WeightsError) as e:
        create_clip_model("ViTamin-L-336", "datacomp1b")
    assert str(e.value) == (
        f"open_clip weights ViTamin-L-336/datacomp1b: not in the Hugging Face cache ({cache}) and HF_HUB_OFFLINE is "
        "set (no downloads): give a local copy with model.pretrained=/path/to/open_clip_model.safetensors in F-ViT / "
        "FC-CLIP configs, --vision_tower_weights FILE for LLaVA, or fetch it where there is internet "
        "(huggingface-cli download jienengchen/ViTamin-L-336px pytorch_model.bin) and copy the cache (HF_HOME) here")
    # cached (open_clip takes the .safetensors twin of the .bin first): the check passes, nothing is fetched
    snap = cache / "models--jienengchen--ViTamin-L-336px" / "snapshots" / "abc123"
    snap.mkdir(parents=True)
    (snap / "pytorch_model.safetensors").write_bytes(b"weights")
    (cache / "models--jienengchen--ViTamin-L-336px" / "refs").mkdir()
    (cache / "models--jienengchen--ViTamin-L-336px" / "refs" / "main").write_text("abc123")
    check_tag_available("ViTamin-L-336", "datacomp1b")
    with pytest.raises(WeightsError, match="'laion' is neither an existing weights file nor an open_clip pretrained"):
        check_tag_available("ViTamin-L-336", "laion")
    monkeypatch.delenv("HF_HUB_OFFLINE")  # online: the download is tried (and may fail with its own one line)
    check_tag_available("ViTamin-L2-384", "datacomp1b")
