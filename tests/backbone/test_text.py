"""Text classifiers: prompts, normalisation, synonym reduction, on-disk cache."""
import pytest
import torch
import torch.nn.functional as F

from backbone.templates import FCCLIP_TEMPLATES, FVIT_TEMPLATES, get_template_set
from backbone.text import build_text_classifier, encode_prompts, split_synonyms


def test_template_sets_and_fvit_name_rules():
    assert len(FVIT_TEMPLATES) == 63 and len(FCCLIP_TEMPLATES) == 14
    fvit = get_template_set("fvit")
    p = fvit.prompts("apple")
    assert p[0] == "There is an apple in the scene."
    assert p[2] == "This is a photo of an apple in the scene."  # "a…" prompts get "This is "
    assert fvit.prompts("Traffic_light/signal.")[1] == "There is the traffic light or signal in the scene."
    assert fvit.prompts("egg")[-2] == "This is a painting of the egg."
    fc = get_template_set("fcclip").prompts("sky")
    assert fc[1] == "This is a photo of a sky" and fc[0] == "a photo of a sky."
    assert split_synonyms("red circle, red disc,") == ["red circle", "red disc"]
    with pytest.raises(ValueError):
        get_template_set(["no placeholder"])
    with pytest.raises(KeyError):
        get_template_set("imagenet80")


def test_mean_and_max_reduction_against_per_prompt_embeddings(tiny_backbone):
    names = ["red circle,red disc", "sky"]
    tmpl = ["a photo of a {}.", "a {} in the scene"]
    mean = build_text_classifier(tiny_backbone, names, templates=tmpl, reduce="mean", background=True)
    mx = build_text_classifier(tiny_backbone, names, templates=tmpl, reduce="max")
    # reference: encode every prompt, normalise, average per synonym, normalise
    def syn(s):
        e = encode_prompts(tiny_backbone.clip, tiny_backbone.tokenizer, [t.format(s) for t in tmpl])
        return F.normalize(e.mean(0), dim=0)
    s_circle, s_disc, s_sky = syn("red circle"), syn("red disc"), syn("sky")
    assert mean.embeddings.shape == (2, 64) and mean.weight.shape == (3, 64)
    assert torch.allclose(mean.embeddings.norm(dim=-1), torch.ones(2), atol=1e-6)
    assert torch.allclose(mean.embeddings[0], F.normalize(s_circle + s_disc, dim=0), atol=1e-5)
    assert torch.allclose(mean.weight[-1], syn("background"), atol=1e-5)
    assert mx.embeddings.shape == (3, 64) and mx.class_index.tolist() == [0, 0, 1]
    f = torch.randn(5, 64)
    fn = F.normalize(f, dim=-1)
    expected = torch.stack([torch.maximum(fn @ s_circle, fn @ s_disc), fn @ s_sky], dim=-1) * 10
    assert torch.allclose(mx.logits(f, scale=10), expected, atol=1e-5)
    assert mean.logits(f).shape == (5, 3)  # + background column
    with pytest.raises(ValueError, match="max-over-synonyms"):
        mx.weight


def test_cache_hit_miss_and_invalidation(tiny_backbone, tmp_path, monkeypatch):
    import backbone.text as text

    calls = []
    real = text.encode_prompts
    monkeypatch.setattr(text, "encode_prompts", lambda *a, **k: calls.append(1) or real(*a, **k))
    names = ["red circle", "sky"]
    a = build_text_classifier(tiny_backbone, names, templates="fcclip", cache_dir=tmp_path)
    assert len(calls) == 1 and len(list(tmp_path.glob("*.safetensors"))) == 1
    b = build_text_classifier(tiny_backbone, names, templates="fcclip", cache_dir=tmp_path)
    assert len(calls) == 1 and torch.equal(a.embeddings, b.embeddings)  # hit
    build_text_classifier(tiny_backbone, names + ["grass"], templates="fcclip", cache_dir=tmp_path)
    build_text_classifier(tiny_backbone, names, templates="fvit", cache_dir=tmp_path)
    assert len(calls) == 3  # other names / other templates: miss
    # changing the text tower's weights invalidates; the image tower does not matter
    with torch.no_grad():
        tiny_backbone.clip.visual.head.proj.weight.add_(1.0)
    build_text_classifier(tiny_backbone, names, templates="fcclip", cache_dir=tmp_path)
    assert len(calls) == 3
    saved = tiny_backbone.clip.text.ln_final.bias.detach().clone()
    try:
        with torch.no_grad():
            tiny_backbone.clip.text.ln_final.bias.add_(0.5)
        c = build_text_classifier(tiny_backbone, names, templates="fcclip", cache_dir=tmp_path)
        assert len(calls) == 4 and not torch.allclose(c.embeddings, a.embeddings)
    finally:
        with torch.no_grad():
            tiny_backbone.clip.text.ln_final.bias.copy_(saved)
            tiny_backbone.clip.visual.head.proj.weight.sub_(1.0)
    # a damaged cache entry is recomputed, not trusted
    for f in tmp_path.glob("*.safetensors"):
        f.write_bytes(b"garbage")
    d = build_text_classifier(tiny_backbone, names, templates="fcclip", cache_dir=tmp_path)
    assert len(calls) == 5 and torch.allclose(d.embeddings, a.embeddings, atol=1e-6)


def test_bad_arguments(tiny_backbone):
    with pytest.raises(ValueError, match="reduce"):
        build_text_classifier(tiny_backbone, ["a"], reduce="sum")
    with pytest.raises(ValueError, match="empty"):
        build_text_classifier(tiny_backbone, [])
    with pytest.raises(ValueError, match="empty class name"):
        build_text_classifier(tiny_backbone, ["sky", " , "])
    with pytest.raises(ValueError, match="tokenizer"):
        build_text_classifier(tiny_backbone.clip, ["sky"])
