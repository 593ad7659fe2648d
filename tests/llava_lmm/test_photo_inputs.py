"""Every LLaVA entry point reads a photo through the one reader: an EXIF-rotated JPEG gives the pixels of its upright
version, a 16-bit PNG those of its 8-bit version — the training dataset, ``eval answer``'s questions (files and
base64), chat and the web app's chat — unless the model was trained with ``--image_reading reference`` (LLaVA's
``Image.open(path).convert('RGB')``: stored orientation), which chat and eval then follow."""
import base64
import json
import shutil
import warnings

import pytest
import torch

from photo_variants import PAIRS, write_variants
from real_files import real_photo

warnings.filterwarnings("ignore", message="No pretrained configuration")


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    return write_variants(real_photo("cheetah.jpg"), tmp_path_factory.mktemp("photos"))


@pytest.mark.parametrize("reading", ["photo", "reference"])
def test_dataset_and_eval_questions(tok, variants, tmp_path, reading):
    from llava_lmm.data.dataset import LazySupervisedDataset
    from llava_lmm.data.image import make_image_processor, process_images
    from llava_lmm.eval import _load_question_image

    names = [n for pair in PAIRS for n in pair]
    records = [{"id": n, "image": n, "conversations": [{"from": "human", "value": "<image>\nWhat is it?"},
                                                       {"from": "gpt", "value": "a cheetah"}]} for n in names]
    (tmp_path / "data.json").write_text(json.dumps(records))
    proc = make_image_processor(64)
    ds = LazySupervisedDataset(tmp_path / "data.json", tok, proc, variants["upright.png"].parent, "v1", "pad",
                               num_image_tokens=4, image_reading=reading)
    pixels = {n: ds[i]["pixel_values"] for i, n in enumerate(names)}
    folder = variants["upright.png"].parent
    for variant, plain in PAIRS:
        questions = [{"question_id": 1, "image": variant},
                     {"question_id": 2, "image_b64": base64.b64encode(variants[variant].read_bytes()).decode()}]
        for q in questions:  # eval answer's question images, through the same reader
            got = process_images([_load_question_image(q, folder, reading)], proc, "pad")[0]
            torch.testing.assert_close(got, pixels[variant], rtol=0, atol=0)
        same = torch.equal(pixels[variant], pixels[plain])
        assert same if reading == "photo" else not same  # reference: stored orientation, 16-bit clipped


def test_chat_and_app_follow_the_models_reading(model_dir, variants, tmp_path, monkeypatch, capsys):
    """chat and the app's chat hand the model the same pixels for a variant and its plain photo; a model trained with
    ``image_reading: reference`` gets the stored orientation (other pixels) from both."""
    import llava_lmm.chat
    import llava_lmm.pretrained
    from llava_lmm.chat import main as chat_main
    from llava_lmm.eval import load_model
    from llava_lmm.app import chat as app_chat

    seen = []

    def fake_reply(model, tok, pixels, conv, *args, **kwargs):
        seen.append(pixels.clone())
        yield "ok"

    monkeypatch.setattr(llava_lmm.chat, "stream_reply", fake_reply)
    monkeypatch.setattr(llava_lmm.pretrained, "stream_reply", fake_reply)  # the app's turn (stream_answer)
    reference = tmp_path / "reference_model"
    shutil.copytree(model_dir, reference)
    (reference / "llava_lmm.json").write_text(json.dumps({"template": "v1", "image_aspect_ratio": "pad",
                                                          "image_reading": "reference"}))
    for folder in (model_dir, reference):
        llava = load_model(folder)
        for variant, plain in PAIRS:
            seen.clear()
            for name in (variant, plain):
                assert chat_main(["--model", str(folder), "--image", str(variants[name]), "--once", "Q?",
                                  "--device", "cpu"]) == 0
                assert list(app_chat(llava, str(variants[name]), "Q?"))[-1] == "ok"
            cli_variant, app_variant, cli_plain, app_plain = seen
            assert torch.equal(cli_variant, app_variant) and torch.equal(cli_plain, app_plain)
            assert torch.equal(cli_variant, cli_plain) == (folder == model_dir)
    capsys.readouterr()
