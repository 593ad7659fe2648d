"""``python -m llava_lmm.chat``: the streamed reply is the batch evaluator's answer to the same question."""
import warnings

import pytest
import torch

from llava_lmm.chat import main as chat_main
from llava_lmm.eval import generate_answers, load_model

warnings.filterwarnings("ignore", message="No pretrained configuration")
QUESTION = "What colour is the circle?"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_once_equals_eval_answer(model_dir, images, capsys, dtype):
    model, tok, proc, meta = load_model(model_dir, getattr(torch, dtype))
    (expected,) = generate_answers(model, tok, proc, [{"question_id": 0, "image": "1.png", "text": QUESTION}], images,
                                   meta["template"], meta["image_aspect_ratio"], max_new_tokens=12)
    assert expected["text"]  # a random model still says something: the comparison below is not "" == ""
    capsys.readouterr()
    assert chat_main(["--model", str(model_dir), "--image", str(images / "1.png"), "--once", QUESTION,
                      "--temperature", "0", "--max-new-tokens", "12", "--device", "cpu", "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ASSISTANT: ") and out.endswith("\n")
    assert out[len("ASSISTANT: "):].strip() == expected["text"]


def test_other_image_other_reply(model_dir, images, capsys):
    """The image reaches the model: a red and a blue picture get different greedy replies from the random model."""
    replies = []
    for name in ("0.png", "2.png"):
        chat_main(["--model", str(model_dir), "--image", str(images / name), "--once", QUESTION, "--temperature", "0",
                   "--max-new-tokens", "12", "--device", "cpu"])
        replies.append(capsys.readouterr().out)
    assert replies[0] != replies[1]
