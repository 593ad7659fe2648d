"""The folder's ``LlavaProcessor``: ``AutoProcessor`` + ``apply_chat_template`` + ``generate`` reproduce ``eval answer``
(prompt ids, pixels, greedy answers); the chat template is ``v1``; old folders load and get a processor added."""
import json
import shutil
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from llava_lmm.data.conversation import get_template, inference_prompt
from llava_lmm.data.image import make_image_processor, process_images
from llava_lmm.processor import IMAGE_TEXTS, chat_template, image_text_for, llava_image_processor

warnings.filterwarnings("ignore", message="No pretrained configuration")
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def _random_image(w, h, seed=0):
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


@pytest.mark.parametrize("size", [64, 336])
def test_llava_image_processor_is_expand2square_plus_clip_pixel_for_pixel(size):
    clip = make_image_processor(size)
    pad, square = llava_image_processor(clip, pad=True), llava_image_processor(clip, pad=False)
    sizes = [(40, 30), (31, 57), (640, 480), (333, 500), (size, size), (size + 1, size), (1, 100), (size, size + 1)]
    for k, (w, h) in enumerate(sizes):
        im = _random_image(w, h, k)
        assert torch.equal(pad(images=[im], return_tensors="pt")["pixel_values"], process_images([im], clip, "pad"))
        assert torch.equal(square(images=[im], return_tensors="pt")["pixel_values"],
                           process_images([im], clip, "square"))
    # the padded band is LLaVA's mean colour int(255·mean) = (122, 116, 104), not black: a wide image's top row
    wide = pad(images=[_random_image(40, 20)], return_tensors="pt")["pixel_values"][0, :, 0, 0]
    expected = [(int(255 * m) / 255 - m) / s for m, s in zip(CLIP_MEAN, CLIP_STD)]  # ≈ (-0.0049, -0.0048, -0.0065)
    torch.testing.assert_close(wide, torch.tensor(expected), atol=1e-6, rtol=0)
    # and the two stage rules differ on a non-square image (stage 1 crops, stage 2 pads)
    im = _random_image(50, 30)
    assert not torch.equal(pad(images=[im], return_tensors="pt")["pixel_values"],
                           square(images=[im], return_tensors="pt")["pixel_values"])


def _conv(template, turns):
    conv = get_template(template)
    for k, t in enumerate(turns):
        conv.append_message(conv.roles[k % 2], t)
    return conv.get_prompt()


@pytest.mark.parametrize("template", ["v1", "llava_v1"])
def test_chat_template_renders_the_conversation_template(template):
    from jinja2 import Environment

    def render(messages, gen=True, image_text=IMAGE_TEXTS[0]):
        return Environment().from_string(chat_template(template, image_text)).render(
            messages=messages, add_generation_prompt=gen)

    image_q = [{"type": "image"}, {"type": "text", "text": "What colour is the circle?"}]
    # one question with an image, as a list of parts (AutoProcessor, lmms-eval chat) or a string (lmms-eval simple)
    expected = _conv(template, ["<image>\nWhat colour is the circle?", None])
    assert render([{"role": "user", "content": image_q}]) == expected
    assert render([{"role": "user", "content": "<image>\nWhat colour is the circle?"}]) == expected
    assert expected.endswith(" USER: <image>\nWhat colour is the circle? ASSISTANT:")
    # the text part before the image in the list: the image still goes first (LLaVA's preprocess_multimodal)
    assert render([{"role": "user", "content": image_q[::-1]}]) == expected
    # several rounds: "</s>" after each answer, no space before the next USER
    msgs = [{"role": "user", "content": image_q}, {"role": "assistant", "content": "Red."},
            {"role": "user", "content": "And the square?"}]
    assert render(msgs) == _conv(template, ["<image>\nWhat colour is the circle?", "Red.", "And the square?", None])
    assert "ASSISTANT: Red.</s>USER: And the square? ASSISTANT:" in render(msgs)
    # a full training conversation (no generation prompt) as preprocess renders it
    done = msgs + [{"role": "assistant", "content": "Blue."}]
    assert render(done, gen=False) == _conv(template, ["<image>\nWhat colour is the circle?", "Red.",
                                                       "And the square?", "Blue."])
    # a system message replaces the system prompt
    assert render([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]) == \
        "Be brief. USER: Hi ASSISTANT:"
    # the non-legacy image slot: "<image> \n" in both content forms
    assert render([{"role": "user", "content": image_q}], image_text=IMAGE_TEXTS[1]) == \
        render([{"role": "user", "content": "<image>\nWhat colour is the circle?"}], image_text=IMAGE_TEXTS[1]) == \
        expected.replace("<image>\n", "<image> \n")
    with pytest.raises(ValueError, match="no chat form"):
        chat_template("plain")


def test_image_slot_text_follows_the_tokenizer(tok):
    """Legacy tokenizers (the synthetic world's: ``▁`` before every segment) keep the reference's literal
    ``<image>\\n``; a non-legacy Llama tokenizer (Vicuna v1.5's kind) tokenises the text after ``<image>`` without
    ``▁``, so the reference's ``▁`` ``\\n`` is written ``<image> \\n``; the plain ``<image>\\n`` would lose it."""
    from llava_lmm.data.tokenizer import corpus_from_llava_json, train_llama_style_tokenizer
    from llava_lmm.pretrained import encode_prompt
    from llava_lmm.processor import _processor_style_ids

    from tests.llava_lmm.conftest import CORPUS

    assert image_text_for(tok) == "<image>\n"
    vicuna_like = train_llama_style_tokenizer(corpus_from_llava_json([]) + CORPUS * 5, legacy=False)
    assert image_text_for(vicuna_like) == "<image> \n"
    prompt = inference_prompt("What colour is the circle?")
    ours = encode_prompt(vicuna_like, prompt, 4, vicuna_like.convert_tokens_to_ids("<image>"))
    assert _processor_style_ids(vicuna_like, prompt.replace("<image>\n", "<image> \n"), 4) == ours
    wrong = _processor_style_ids(vicuna_like, prompt, 4)
    assert wrong != ours and len(wrong) == len(ours) - 1  # the "▁" before "\n" is missing


def test_autoprocessor_reproduces_eval_answer(processor_dir, images, tmp_path):
    """Stock transformers on the folder: the prompt ids, the pixels and the greedy answers of ``eval answer``."""
    from transformers import AutoProcessor, LlavaForConditionalGeneration

    from llava_lmm.eval import iter_answers
    from llava_lmm.pretrained import encode_prompt, load_model, num_image_tokens

    d = processor_dir  # the conftest folder with the processor added by `python -m llava_lmm.processor`
    proc = AutoProcessor.from_pretrained(d)
    assert type(proc).__name__ == "LlavaProcessor" and type(proc.image_processor).__name__ == "LlavaImageProcessor"
    assert (proc.patch_size, proc.vision_feature_select_strategy, proc.num_additional_image_tokens) == (16, "full", 0)
    assert proc.image_processor.do_pad is True  # the folder's image_aspect_ratio (pad)
    hf = LlavaForConditionalGeneration.from_pretrained(d).eval()
    model, tok, clip, meta = load_model(d)
    questions = [{"question_id": i, "image": f"{i % 3}.png", "text": q} for i, q in enumerate(
        ["What colour is the circle?", "How many red circles are there?", "What shape is the red object?",
         "Is there a blue square in the image?"])]
    ours = list(iter_answers(model, tok, clip, questions, images, batch_size=1, max_new_tokens=6))
    n_img = num_image_tokens(model)
    assert n_img == 16
    for q, a in zip(questions, ours):
        image = Image.open(images / q["image"]).convert("RGB")
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q["text"]}]}]
        text = proc.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        assert text == inference_prompt(q["text"])
        inputs = proc(images=[image], text=text, return_tensors="pt")
        want = encode_prompt(tok, inference_prompt(q["text"]), n_img, model.config.image_token_id)
        assert inputs["input_ids"][0].tolist() == want
        assert torch.equal(inputs["pixel_values"], process_images([image], clip, "pad"))
        out = hf.generate(**inputs, max_new_tokens=6, do_sample=False, num_beams=1)
        got = proc.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)[0].strip()
        assert got == a["text"], (q, got, a["text"])
    assert len({a["text"] for a in ours}) > 1  # the answers depend on the inputs (not one constant string)


def test_old_folders_load_and_a_tampered_processor_is_refused(model_dir, processor_dir, tmp_path, capsys):
    from llava_lmm.pretrained import load_model
    from llava_lmm.processor import main

    assert not (model_dir / "processor_config.json").exists()  # the conftest folder: written the old way
    assert load_model(model_dir)[3]["image_aspect_ratio"] == "pad"
    assert load_model(processor_dir)[3]["image_aspect_ratio"] == "pad"
    bad = tmp_path / "bad"
    shutil.copytree(processor_dir, bad)
    cfg = json.loads((bad / "processor_config.json").read_text())
    cfg["image_processor"]["do_pad"] = False
    (bad / "processor_config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match=r"processor_config.json pads images as 'square'.*image_aspect_ratio is 'pad'"):
        load_model(bad)
    assert main([str(bad)]) == 0  # the command the message names repairs it
    assert load_model(bad)[3]["image_aspect_ratio"] == "pad"
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no model (config.json)" in capsys.readouterr().err


def test_llava_folder_from_a_hub_id_offline(processor_dir, offline_hub):
    """``load_model("org/name")`` (eval, chat, the app) and ``AutoProcessor`` read the Hub cache's snapshot."""
    from transformers import AutoProcessor

    from llava_lmm.pretrained import load_model

    offline_hub("acme/llava-vitamin-tiny", processor_dir)
    model, tok, _, meta = load_model("acme/llava-vitamin-tiny")
    assert meta["image_aspect_ratio"] == "pad" and model.config.image_token_id == tok.convert_tokens_to_ids("<image>")
    assert type(AutoProcessor.from_pretrained("acme/llava-vitamin-tiny")).__name__ == "LlavaProcessor"
    with pytest.raises(FileNotFoundError, match="'acme/other' is not in the local Hub cache"):
        load_model("acme/other")
