"""Reference FC-CLIP checkpoints ⇄ ours: key names of the fact sheet, the q|k|v split, exact round trips."""
import pytest
import torch
from torch import nn
from transformers.models.mask2former.modeling_mask2former import Mask2FormerAttention

from fcclip_helpers import tiny_model
from fcclip_segmentation.convert import main, ours_to_reference, reference_to_ours
from fcclip_segmentation.modeling.fcclip import FCCLIP
from shared.engine import load_checkpoint, save_checkpoint

PRED = "sem_seg_head.predictor."


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _trained_parts(model):
    return {k: v for k, v in model.state_dict().items() if not k.startswith("backbone.")}


def test_reference_names_and_round_trip(model):
    ours = _trained_parts(model)
    ref = ours_to_reference(ours)
    t = model.transformer.decoder.layers[1].self_attn
    packed = ref[PRED + "transformer_self_attention_layers.1.self_attn.in_proj_weight"]
    assert torch.equal(packed, torch.cat([t.q_proj.weight, t.k_proj.weight, t.v_proj.weight]))
    expected = {  # reference names (fact sheet §1.11) → our tensors
        "sem_seg_head.pixel_decoder.transformer.level_embed": model.pixel_decoder.level_embed,
        "sem_seg_head.pixel_decoder.adapter_1.norm.weight": model.pixel_decoder.adapter_1[1].weight,
        "sem_seg_head.pixel_decoder.transformer.encoder.layers.1.norm2.bias":
            model.pixel_decoder.encoder.layers[1].final_layer_norm.bias,
        "sem_seg_head.pixel_decoder.input_proj.2.0.weight": model.pixel_decoder.input_projections[2][0].weight,
        "sem_seg_head.pixel_decoder.mask_features.weight": model.pixel_decoder.mask_projection.weight,
        PRED + "query_feat.weight": model.transformer.queries_features.weight,
        PRED + "transformer_cross_attention_layers.0.multihead_attn.in_proj_bias":
            model.transformer.decoder.layers[0].cross_attn.in_proj_bias,
        PRED + "transformer_ffn_layers.1.norm.weight": model.transformer.decoder.layers[1].final_layer_norm.weight,
        PRED + "mask_embed.layers.2.bias": model.transformer.decoder.mask_predictor.mask_embedder.get_submodule("2.0").bias,
        PRED + "class_embed.layers.1.weight": model.class_embed[2].weight,
        PRED + "_mask_pooling_proj.0.weight": model.mask_pool_proj[0].weight,
        PRED + "logit_scale": model.logit_scale,
        "global_pos_embed.res3": model.position.maps["res3"],
        "void_embedding.weight": model.void_embedding.weight,
    }
    for key, tensor in expected.items():
        assert torch.equal(ref[key], tensor), key
    assert len(ref) == len(ours) - 2 * (6 - 2)  # per layer q, k, v weights + biases become one packed pair
    back, clip = reference_to_ours({**ref, "backbone.clip_model.visual.trunk.pos_embed": torch.zeros(1)})
    assert clip == 1 and back.keys() == ours.keys() and all(torch.equal(back[k], ours[k]) for k in ours)
    fresh = FCCLIP(model.cfg, model.backbone, 7)
    fresh.load_state_dict(back, strict=False)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values()))


def test_packed_self_attention_equals_the_split_one():
    """nn.MultiheadAttention with a packed q|k|v in_proj (the reference) == transformers' attention with the
    split weights, position embedding added to queries and keys only."""
    torch.manual_seed(0)
    d, heads, q, b = 16, 4, 6, 2
    ref = nn.MultiheadAttention(d, heads)
    split = reference_to_ours({PRED + "transformer_self_attention_layers.0.self_attn.in_proj_weight": ref.in_proj_weight,
                               PRED + "transformer_self_attention_layers.0.self_attn.in_proj_bias": ref.in_proj_bias,
                               PRED + "transformer_self_attention_layers.0.self_attn.out_proj.weight":
                                   ref.out_proj.weight,
                               PRED + "transformer_self_attention_layers.0.self_attn.out_proj.bias": ref.out_proj.bias})[0]
    hf = Mask2FormerAttention(d, heads)
    hf.load_state_dict({k.split("self_attn.")[1]: v for k, v in split.items()})
    x, pos = torch.randn(q, b, d), torch.randn(q, b, d)
    expected = ref(x + pos, x + pos, x)[0]
    got = hf(hidden_states=x, position_embeddings=pos)[0]
    assert torch.allclose(got.transpose(0, 1) if got.shape[0] == b else got, expected, atol=1e-6)


def test_cli_both_directions_and_bad_input(model, tmp_path, capsys):
    ref = ours_to_reference(_trained_parts(model))
    save_checkpoint(tmp_path / "ref.pth", {"model": ref, "iteration": 294999})
    assert main(["--reference", str(tmp_path / "ref.pth"), "--out", str(tmp_path / "ours.pt")]) == 0
    ours = load_checkpoint(tmp_path / "ours.pt")["model"]
    model.load_checkpoint_state_dict({**ours, **{k: v for k, v in model.state_dict().items()
                                                 if k.startswith("backbone.")}}, "ours.pt")
    assert main(["--to-reference", str(tmp_path / "ours.pt"), "--out", str(tmp_path / "back.pth")]) == 0
    back = load_checkpoint(tmp_path / "back.pth")["model"]
    assert back.keys() == ref.keys() and all(torch.equal(back[k], ref[k]) for k in ref)
    save_checkpoint(tmp_path / "odd.pth", {"model": {**ref, "sem_seg_head.predictor.extra.weight": torch.zeros(1)}})
    assert main(["--reference", str(tmp_path / "odd.pth"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "1 keys are not FC-CLIP reference keys, e.g. ['sem_seg_head.predictor.extra.weight']" in \
        capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()
