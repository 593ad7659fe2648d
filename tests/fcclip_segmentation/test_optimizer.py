"""Optimizer parameter groups as FC-CLIP's build_optimizer with detectron2's defaults, on a tiny built model."""
import re

import pytest
import torch

from fcclip_helpers import tiny_model
from fcclip_segmentation.config import OptimizerConfig
from fcclip_segmentation.train import param_groups

LR, WD = 1e-4, 0.05
# written out from the module types of the reference (GroupNorm / LayerNorm / nn.Embedding), not from our code
NO_DECAY = [r"pixel_decoder\.input_projections\.\d\.1\.(weight|bias)",  # GroupNorm
            r"pixel_decoder\.(adapter_1|layer_1)\.1\.(weight|bias)",  # GroupNorm
            r"pixel_decoder\.encoder\.layers\.\d\.(self_attn_layer_norm|final_layer_norm)\.(weight|bias)",
            r"transformer\.decoder\.layers\.\d\.(self_attn_layer_norm|cross_attn_layer_norm|final_layer_norm)\."
            r"(weight|bias)",
            r"transformer\.decoder\.layernorm\.(weight|bias)", r"mask_pool_proj\.0\.(weight|bias)",
            r"transformer\.(queries_features|queries_embedder|level_embed)\.weight",  # nn.Embedding
            r"void_embedding\.weight"]  # nn.Embedding: not decayed by the reference


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _settings(groups):
    """name → (lr, weight decay), checking each trainable parameter appears exactly once."""
    out = {}
    for g in groups:
        assert len(g["params"]) == len(g["param_names"])
        for name in g["param_names"]:
            assert name not in out, name
            out[name] = (g["lr"], g["weight_decay"])
    return out


def test_heads_norms_and_embeddings_get_no_weight_decay(model):
    groups = param_groups(model, OptimizerConfig(), LR, WD)
    got = _settings(groups)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(got) == trainable and not any(n.startswith("backbone.") for n in got)  # frozen CLIP: no group
    no_decay = {n for n in trainable if any(re.fullmatch(p, n) for p in NO_DECAY)}
    # 3 input projections, adapter + layer, 2 encoder × 2 norms, 2 decoder layers × 3 norms (weight + bias each),
    # the decoder norm, the pooling LayerNorm, 3 embeddings, void
    assert len(no_decay) == 2 * 3 + 2 * 2 + 2 * 2 * 2 + 2 * 2 * 3 + 2 + 2 + 3 + 1
    assert {n for n, (_, wd) in got.items() if wd == 0.0} == no_decay
    assert {n for n, (_, wd) in got.items() if wd == WD} == trainable - no_decay
    # decayed as in the reference: the learned temperature, the pixel decoder's level embedding (a plain
    # nn.Parameter there, an nn.Embedding only in the decoder) and the position-compensation maps
    for name in ("logit_scale", "pixel_decoder.level_embed", "position.maps.res2", "class_embed.0.weight"):
        assert got[name] == (LR, WD), name
    assert {g["lr"] for g in groups} == {LR} and len(groups) == 2
    opt = torch.optim.AdamW(groups, lr=LR)  # the groups are accepted as they are
    assert [g["weight_decay"] for g in opt.param_groups] == [g["weight_decay"] for g in groups]


def test_backbone_multiplier_and_its_norms_and_embeddings_when_trainable(model):
    model.backbone.set_frozen(False)
    try:
        got = _settings(param_groups(model, OptimizerConfig(), LR, WD))
    finally:
        model.backbone.set_frozen(True)
    back = {n: v for n, v in got.items() if n.startswith("backbone.")}
    assert back and {lr for lr, _ in back.values()} == {LR * 0.1}
    assert back["backbone.clip.visual.trunk.blocks.0.norm1.weight"][1] == 0.0  # LayerNorm
    assert back["backbone.clip.text.token_embedding.weight"][1] == 0.0  # nn.Embedding
    assert back["backbone.clip.visual.trunk.blocks.0.attn.qkv.weight"][1] == WD
    assert back["backbone.clip.visual.trunk.pos_embed"][1] == WD  # a plain parameter
    assert got["logit_scale"] == (LR, WD)


def test_extra_no_weight_decay_names_and_unknown_name(model):
    got = _settings(param_groups(model, OptimizerConfig(no_weight_decay=["logit_scale"]), LR, WD))
    assert got["logit_scale"] == (LR, 0.0) and got["class_embed.0.weight"] == (LR, WD)
    with pytest.raises(ValueError, match=r"optimizer.no_weight_decay: \['logit_scal'\] are not trainable"):
        param_groups(model, OptimizerConfig(no_weight_decay=["logit_scal"]), LR, WD)
