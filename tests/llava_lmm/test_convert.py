"""``python -m llava_lmm.convert``: an original LLaVA checkpoint folder (reference keys, no ``<image>`` token, no
tower) → our folder with the same LM, projector and tower weights, the ``<image>`` token and a ``LlavaProcessor``."""
import json
import warnings

import pytest
import torch

warnings.filterwarnings("ignore", message="No pretrained configuration")
VOCAB = 322  # the tiny world tokenizer's vocabulary without <image>


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """A tiny LLaVA-1.5 checkpoint as the reference writes one: ``LlavaLlamaForCausalLM`` keys in
    ``pytorch_model.bin``, its Llama config plus the ``mm_*`` fields, a tokenizer without ``<image>``."""
    from safetensors.torch import save_file
    from tokenizers import Tokenizer
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from backbone.weights import create_clip_model
    from llava_lmm.data.tokenizer import corpus_from_llava_json, train_tiny_tokenizer
    from llava_lmm.modeling.builder import tiny_text_config

    from tests.llava_lmm.conftest import CORPUS

    d = tmp_path_factory.mktemp("reference")
    ref = d / "llava-v1.5-tiny-vitamin"
    ref.mkdir()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = train_tiny_tokenizer(corpus_from_llava_json([]), vocab_size=400, extra_texts=CORPUS * 5)
    spec = json.loads(full.backend_tokenizer.to_str())  # the same vocabulary without <image>: what Vicuna ships
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] != "<image>"]
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer.from_str(json.dumps(spec)), bos_token="<s>",
                                  eos_token="</s>", unk_token="<unk>", legacy=True, clean_up_tokenization_spaces=False)
    assert "<image>" not in tok.get_vocab() and len(tok) == VOCAB
    torch.manual_seed(0)
    lm = LlamaForCausalLM(tiny_text_config(VOCAB, 32, 1, 2))
    sd = dict(lm.state_dict())
    tower_width = 64  # ViTamin-Tiny's trunk width
    sd.update({"model.mm_projector.0.weight": torch.randn(32, tower_width),
               "model.mm_projector.0.bias": torch.randn(32),
               "model.mm_projector.2.weight": torch.randn(32, 32), "model.mm_projector.2.bias": torch.randn(32)})
    torch.save(sd, ref / "pytorch_model.bin")
    cfg = lm.config.to_dict()
    cfg.update({"architectures": ["LlavaLlamaForCausalLM"], "model_type": "llava_llama",
                "mm_vision_tower": "jienengchen/ViTamin-Tiny-128px", "mm_hidden_size": tower_width,
                "mm_projector_type": "mlp2x_gelu", "mm_vision_select_layer": -2, "mm_vision_select_feature": "patch",
                "mm_use_im_start_end": False, "mm_use_im_patch_token": False, "mm_patch_merge_type": "flat",
                "image_aspect_ratio": "pad", "tokenizer_model_max_length": 2048, "use_mm_proj": True})
    (ref / "config.json").write_text(json.dumps(cfg))
    tok.save_pretrained(ref)
    clip, _ = create_clip_model("ViTamin-Tiny", None)
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(d / "clip.safetensors"))
    return ref, d / "clip.safetensors", sd, lm, clip


def test_converted_reference_checkpoint_is_the_same_model_with_a_processor(reference, tmp_path):
    from transformers import AutoProcessor

    from llava_lmm.convert import main
    from llava_lmm.pretrained import load_model

    ref, clip_file, ref_sd, lm, clip = reference
    out = tmp_path / "converted"
    assert main(["--reference", str(ref), "--out", str(out), "--vision-tower-weights", str(clip_file),
                 ]) == 0
    model, tok, _, meta = load_model(out)
    assert meta == {"template": "v1", "image_aspect_ratio": "pad", "image_reading": "reference"}
    p = dict(model.named_parameters())
    vocab = p["model.language_model.embed_tokens.weight"].shape[0]
    assert len(tok) == VOCAB + 1 and tok.convert_tokens_to_ids("<image>") == VOCAB and vocab == 384  # 64-multiple
    assert model.config.image_token_id == VOCAB and tok.pad_token == "<unk>"
    assert torch.equal(p["model.language_model.embed_tokens.weight"][:VOCAB], ref_sd["model.embed_tokens.weight"])
    torch.testing.assert_close(p["lm_head.weight"][VOCAB:], ref_sd["lm_head.weight"].mean(0).expand(384 - VOCAB, -1))
    assert torch.equal(p["model.multi_modal_projector.linear_1.weight"], ref_sd["model.mm_projector.0.weight"])
    assert torch.equal(p["model.multi_modal_projector.linear_2.bias"], ref_sd["model.mm_projector.2.bias"])
    for k, v in model.model.vision_tower.trunk.state_dict().items():
        assert torch.equal(v, clip.visual.trunk.state_dict()[k]), k
    # the LM computes what the reference's LM computes (text only: the logits over its 400 tokens)
    ids = torch.tensor([tok("USER: What colour is the circle? ASSISTANT:")["input_ids"]])
    with torch.no_grad():
        torch.testing.assert_close(model(input_ids=ids).logits[..., :VOCAB], lm(input_ids=ids).logits)
    proc = AutoProcessor.from_pretrained(out)
    assert proc.image_processor.do_pad is True and proc.patch_size == 16
    assert "ASSISTANT:" in proc.chat_template
    card = (out / "README.md").read_text()
    assert "# LLaVA-1.5 × ViTamin-Tiny" in card and f"converted from: `{ref}`" in card


def test_conversion_errors_are_one_line_before_writing(reference, tmp_path, capsys):
    from llava_lmm.convert import main

    ref, clip_file, *_ = reference
    bad = tmp_path / "bad"
    bad.mkdir()
    cfg = json.loads((ref / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps(dict(cfg, mm_projector_type="linear")))
    out = tmp_path / "out"
    assert main(["--reference", str(bad), "--out", str(out), "--vision-tower-weights", str(clip_file)]) == 2
    assert "mm_projector_type 'linear' is not supported" in capsys.readouterr().err
    (bad / "config.json").write_text(json.dumps(dict(cfg, mm_vision_tower="openai/clip-vit-large-patch14-336")))
    assert main(["--reference", str(bad), "--out", str(out), "--vision-tower-weights", str(clip_file)]) == 2
    assert "names no ViTamin tower" in capsys.readouterr().err
    assert not out.exists()
