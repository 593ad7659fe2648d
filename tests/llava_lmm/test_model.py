"""Test 2 + 3: tower token counts / hidden size from the model; what trains in each stage; round trip."""
import warnings

import pytest
import torch

import llava_lmm  # noqa: F401
from llava_lmm.data.image import expand2square, make_image_processor, process_images
from llava_lmm.modeling.builder import (apply_lora, convert_reference_state_dict,
                                        load_projector, load_tower_weights, make_llava_config,
                                        projector_state_to_reference, set_trainable, tiny_text_config,
                                        vision_config_for)
from llava_lmm.modeling.vision_tower import ViTaminVisionConfig, ViTaminVisionModel

warnings.filterwarnings("ignore", message="No pretrained configuration")


def tiny_llava(image_size=None, vocab=120, image_id=119):
    from transformers import LlavaForConditionalGeneration

    torch.manual_seed(0)
    cfg = make_llava_config(vision_config_for("ViTamin-Tiny", image_size), tiny_text_config(vocab, 32, 1, 2), image_id)
    return LlavaForConditionalGeneration(cfg)


@pytest.mark.parametrize("size,tokens", [(224, 196), (336, 441), (384, 576)])
def test_image_tokens_match_tower(size, tokens):
    model = tiny_llava(size)
    tower = model.model.vision_tower
    assert tower.num_image_tokens == tokens == model.config.vision_config.num_image_tokens
    assert model.config.image_seq_length == tokens
    x = torch.randn(1, 3, size, size)
    feats = model.get_image_features(pixel_values=x)
    feats = feats.pooler_output if hasattr(feats, "pooler_output") else feats
    feats = feats[0] if isinstance(feats, (list, tuple)) else feats
    assert tuple(feats.reshape(-1, feats.shape[-1]).shape) == (tokens, 32)
    # one forward with exactly `tokens` placeholders works (HF checks features == placeholders)
    ids = torch.tensor([[1] + [119] * tokens + [5, 6]])
    assert model(input_ids=ids, pixel_values=x).logits.shape == (1, tokens + 3, 120)


def test_real_sizes_from_model():
    l336 = vision_config_for("ViTamin-L-336")
    assert (l336.hidden_size, l336.num_image_tokens, l336.num_hidden_layers) == (1024, 441, 31)
    assert vision_config_for("ViTamin-L-384").num_image_tokens == 576
    assert vision_config_for("ViTamin-L-224" if False else "vitamin_large_224").num_image_tokens == 196
    xl = vision_config_for("ViTamin-XL-384")
    assert (xl.hidden_size, xl.image_size, xl.num_image_tokens) == (1152, 384, 576)  # trunk wins over open_clip's 256
    # the L-336 trunk really emits 441 x 1024 (meta device: shapes only)
    with torch.device("meta"):
        tower = ViTaminVisionModel(l336)
        out = tower(torch.empty(1, 3, 336, 336), output_hidden_states=-2)
    assert len(out.hidden_states) == 32 and tuple(out.hidden_states[-2].shape) == (1, 441, 1024)


def test_hidden_states_match_timm_intermediates():
    tower = ViTaminVisionModel(ViTaminVisionConfig.from_timm("vitamin_tiny_128")).eval()
    x = torch.randn(2, 3, 128, 128)
    hs = tower(x, output_hidden_states=0).hidden_states  # 0 must still mean "all" (transformers 5 passes the layer)
    ref = tower.trunk.forward_intermediates(x, indices=[2], norm=False, output_fmt="NLC", intermediates_only=True)
    torch.testing.assert_close(hs[-2], ref[0])


def test_processor_pad_and_counts():
    from PIL import Image

    proc = make_image_processor(128)
    img = Image.new("RGB", (100, 40), (255, 0, 0))
    sq = expand2square(img, (122, 116, 104))
    assert sq.size == (100, 100) and sq.getpixel((0, 0)) == (122, 116, 104) and sq.getpixel((50, 50)) == (255, 0, 0)
    px = process_images([img], proc, "pad")
    assert px.shape == (1, 3, 128, 128)
    assert px[0, :, 0, 0].abs().max() < 0.02  # the mean colour normalises to ~0
    assert process_images([img], proc, "square").shape == (1, 3, 128, 128)


def _snapshot(model):
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def _step(model, lr=1e-2):
    ids = torch.tensor([[1] + [119] * 64 + [5, 6, 7, 2]])
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    model.train()
    loss = model(input_ids=ids, pixel_values=torch.randn(1, 3, 128, 128), labels=ids).loss
    loss.backward()
    opt.step()


def test_stage1_changes_only_projector():
    model = tiny_llava()
    set_trainable(model, "stage1")
    before = _snapshot(model)
    _step(model)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and all(n.startswith("model.multi_modal_projector.") for n in changed)
    assert len(changed) == 4
    assert model.model.vision_tower.training is False and not model.model.vision_tower.trunk.training


def test_lora_changes_only_adapters_and_projector():
    model = apply_lora(tiny_llava(), r=4, alpha=8, dropout=0.0)
    before = _snapshot(model)
    _step(model)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed
    assert all("lora_" in n or "modules_to_save" in n and "multi_modal_projector" in n for n in changed), changed
    assert any("lora_B" in n for n in changed) and any("multi_modal_projector" in n for n in changed)
    assert not any("vision_tower" in n for n in changed)
    tower = model.get_base_model().model.vision_tower
    assert not tower.training and not any(p.requires_grad for p in tower.parameters())
    targets = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert targets == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_full_stage_keeps_tower_frozen_in_eval():
    model = tiny_llava()
    set_trainable(model, "full")
    before = _snapshot(model)
    _step(model)
    tower_names = [n for n in before if "vision_tower" in n]
    assert all(torch.equal(before[n], dict(model.named_parameters())[n]) for n in tower_names)
    assert not model.model.vision_tower.training


def test_save_load_roundtrip_identical_logits(tmp_path):
    from transformers import LlavaForConditionalGeneration

    model = tiny_llava().eval()
    ids = torch.tensor([[1] + [119] * 64 + [5, 6]])
    x = torch.randn(1, 3, 128, 128)
    ref = model(input_ids=ids, pixel_values=x).logits
    model.save_pretrained(tmp_path)
    re = LlavaForConditionalGeneration.from_pretrained(tmp_path).eval()
    assert type(re.model.vision_tower) is ViTaminVisionModel
    assert torch.equal(re(input_ids=ids, pixel_values=x).logits, ref)


def test_projector_file_and_reference_conversion(tmp_path):
    from backbone.weights import WeightsError

    a, b = tiny_llava(), tiny_llava()
    torch.nn.init.normal_(a.model.multi_modal_projector.linear_1.weight)
    sd = projector_state_to_reference(a.model.multi_modal_projector.state_dict())
    assert sorted(sd) == ["model.mm_projector.0.bias", "model.mm_projector.0.weight", "model.mm_projector.2.bias",
                          "model.mm_projector.2.weight"]
    torch.save(sd, tmp_path / "mm_projector.bin")
    load_projector(b, tmp_path / "mm_projector.bin")
    assert torch.equal(b.model.multi_modal_projector.linear_1.weight, a.model.multi_modal_projector.linear_1.weight)
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.bin")
    with pytest.raises(WeightsError, match="bad.bin"):
        load_projector(b, tmp_path / "bad.bin")
    conv = convert_reference_state_dict({"model.mm_projector.0.weight": 1, "model.layers.0.mlp.up_proj.weight": 2,
                                         "model.embed_tokens.weight": 3, "lm_head.weight": 4})
    assert conv == {"model.multi_modal_projector.linear_1.weight": 1,
                    "model.language_model.layers.0.mlp.up_proj.weight": 2,
                    "model.language_model.embed_tokens.weight": 3, "lm_head.weight": 4}


def test_tower_weights_from_open_clip_file(tmp_path):
    from safetensors.torch import save_file

    from backbone.weights import WeightsError, create_clip_model

    clip, _ = create_clip_model("ViTamin-Tiny", None)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(tmp_path / "clip.safetensors"))
    model = tiny_llava()
    load_tower_weights(model.model.vision_tower, str(tmp_path / "clip.safetensors"))
    for k, v in model.model.vision_tower.trunk.state_dict().items():
        assert torch.equal(v, clip.visual.trunk.state_dict()[k])
    save_file({"trunk.blocks.0.norm1.weight": torch.zeros(3)}, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(WeightsError, match="wrong.safetensors"):
        load_tower_weights(model.model.vision_tower, str(tmp_path / "wrong.safetensors"))
    with pytest.raises(WeightsError, match="not found"):
        load_tower_weights(model.model.vision_tower, str(tmp_path / "missing.safetensors"))
