import warnings

import pytest
import torch

CORPUS = [
    "What colour is the circle? Answer the question using a single word or phrase.",
    "What shape is the red object? How many red circles are there? Is there a blue square in the image?",
    "red green blue yellow circle square triangle left right Yes No one two three",
    "Describe the image concisely. a red circle and two blue squares on sky and grass",
    "Which shapes exist in this world? circles, squares and triangles",
]


@pytest.fixture(scope="session")
def tok():
    from llava_lmm.data.tokenizer import corpus_from_llava_json, train_tiny_tokenizer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train_tiny_tokenizer(corpus_from_llava_json([]), vocab_size=400, extra_texts=CORPUS * 5)


@pytest.fixture(scope="session")
def model_dir(tok, tmp_path_factory):
    """A random tiny LLaVA (ViTamin-Tiny at 64 px: 16 image tokens, 32-d Llama) saved as a model dir."""
    from transformers import LlavaForConditionalGeneration

    from llava_lmm.data.image import make_image_processor
    from llava_lmm.modeling.builder import make_llava_config, tiny_text_config, vision_config_for

    torch.manual_seed(0)
    cfg = make_llava_config(vision_config_for("ViTamin-Tiny", 64), tiny_text_config(len(tok), 32, 1, 2),
                            tok.convert_tokens_to_ids("<image>"))
    out = tmp_path_factory.mktemp("tiny_llava")
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    make_image_processor(64).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def processor_dir(model_dir, tmp_path_factory):
    """A copy of ``model_dir`` (written the old way: tokenizer + CLIP processor) with the ``LlavaProcessor`` added by
    ``python -m llava_lmm.processor``."""
    import shutil

    from llava_lmm.processor import main

    d = tmp_path_factory.mktemp("with_processor") / "model"
    shutil.copytree(model_dir, d)
    assert main([str(d)]) == 0
    return d


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("images")
    for i, c in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        Image.new("RGB", (40 + 10 * i, 30), c).save(d / f"{i}.png")
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    return d
