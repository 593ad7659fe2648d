"""LLaVA model folders and sources checked before anything loads: another kind of folder, a missing or unreadable
image, an empty folder, a device that is not here, a truncated weights file, a config that does not fit its
weights — one line each, exit 2; the paper configs without DeepSpeed and Hub ids offline say what to do at once;
saved folders keep the umask's mode."""
import json
import os
import shutil
import warnings

import pytest
import torch
from transformers import LlavaForConditionalGeneration

import llava_lmm.eval as ev
import llava_lmm.train as tr
from llava_lmm.chat import main as chat_main
from llava_lmm.pretrained import load_model
from real_files import REPO
from shared.pretrained import PretrainedError

warnings.filterwarnings("ignore", message="No pretrained configuration")


@pytest.fixture
def no_load(monkeypatch):
    """Loading a LLaVA model fails the test: the checks must come first."""
    def fail(*a, **k):
        raise AssertionError("loaded a model")

    monkeypatch.setattr(LlavaForConditionalGeneration, "from_pretrained", fail)


def _chat(model, image, *extra):
    return chat_main(["--model", str(model), "--image", str(image), "--once", "hi", "--device", "cpu", *extra])


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_chat_refuses_other_folders_images_and_devices_before_loading(model_dir, images, tmp_path, no_load,
                                                                      monkeypatch, capsys):
    fvit = tmp_path / "fvit"  # what FViT.save_pretrained writes (the folder that ran out of memory)
    fvit.mkdir()
    (fvit / "config.json").write_text(json.dumps({"kind": "fvit", "format_version": 1, "model": {}}))
    (fvit / "model.safetensors").write_bytes(b"x" * 64)
    assert _chat(fvit, images / "0.png") == 2
    assert _one_line(capsys) == (f"error: {fvit} is a 'fvit' pretrained folder (F-ViT / FC-CLIP: use its predict "
                                 f"command), not a LLaVA model (written by llava_lmm.train)")
    lm = tmp_path / "lm"
    lm.mkdir()
    (lm / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert _chat(lm, images / "0.png") == 2
    assert _one_line(capsys).startswith(f"error: {lm / 'config.json'}: model_type 'llama', expected 'llava'")
    stage1 = tmp_path / "stage1"  # what stage 1 writes: the projector and the config, no model weights
    stage1.mkdir()
    (stage1 / "config.json").write_text(json.dumps({"model_type": "llava"}))
    (stage1 / "mm_projector.bin").write_bytes(b"x")
    assert _chat(stage1, images / "0.png") == 2
    assert _one_line(capsys) == (f"error: {stage1} holds a stage-1 projector (mm_projector.bin) only: chat and eval "
                                 f"take the model folder of stage 2")
    (tmp_path / "empty").mkdir()
    assert _chat(tmp_path / "empty", images / "0.png") == 2
    assert _one_line(capsys) == (f"error: {tmp_path / 'empty'} is not a LLaVA model folder (no config.json; "
                                 f"llava_lmm.train writes one)")
    assert _chat(model_dir, images / "missing.png") == 2
    assert _one_line(capsys) == f"error: image not found: {images / 'missing.png'}"
    text = tmp_path / "notes.jpg"
    text.write_text("a text file named .jpg")
    assert _chat(model_dir, text) == 2
    assert _one_line(capsys) == (f"error: cannot read image {text}: not an image file Pillow can decode (wrong "
                                 f"extension, or damaged)")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _chat(model_dir, images / "0.png", "--device", "cuda") == 2
    assert _one_line(capsys).startswith("error: --device cuda: no CUDA GPU is visible to PyTorch here")
    q = tmp_path / "q.jsonl"  # eval answer reads the folder the same way
    q.write_text(json.dumps({"question_id": 1, "image": "0.png", "text": "What colour?"}) + "\n")
    assert ev.main(["answer", "--model", str(fvit), "--questions", str(q), "--image-folder", str(images),
                    "--out", str(tmp_path / "a.jsonl"), "--device", "cpu"]) == 2
    assert "is a 'fvit' pretrained folder" in _one_line(capsys)


def test_truncated_weights_and_a_config_that_does_not_fit_are_one_line(model_dir, images, tmp_path, capsys):
    cut = tmp_path / "cut"
    shutil.copytree(model_dir, cut)
    data = (cut / "model.safetensors").read_bytes()
    (cut / "model.safetensors").write_bytes(data[: len(data) // 2])  # a copy interrupted halfway
    assert _chat(cut, images / "0.png") == 2
    line = _one_line(capsys)
    assert line.startswith(f"error: cannot read {cut / 'model.safetensors'}: ") and "truncated or corrupt?" in line
    wide = tmp_path / "wide"
    shutil.copytree(model_dir, wide)
    cfg = json.loads((wide / "config.json").read_text())
    hidden = cfg["text_config"]["hidden_size"]
    cfg["text_config"]["hidden_size"] = 2 * hidden  # the LM's width no longer fits the stored tensors
    (wide / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PretrainedError) as e:
        load_model(wide)
    vocab, h = cfg["text_config"]["vocab_size"], hidden
    # the one Llama layer's 4 attention + 3 MLP + 2 norm tensors, embeddings, final norm, lm_head, 4 projector tensors
    assert cfg["text_config"]["num_hidden_layers"] == 1
    assert str(e.value) == (
        f"{wide}: config.json does not fit its weights (16 tensors), e.g. lm_head.weight: file ({vocab}, {h}) vs "
        f"config ({vocab}, {2 * h}); model.language_model.embed_tokens.weight: file ({vocab}, {h}) vs config "
        f"({vocab}, {2 * h}); model.language_model.layers.0.input_layernorm.weight: file ({h},) vs config ({2 * h},)")
    assert _chat(wide, images / "0.png") == 2
    assert "config.json does not fit its weights" in _one_line(capsys)


def test_paper_configs_without_deepspeed_say_what_to_install_before_any_work(tmp_path, monkeypatch, capsys):
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here")
    for name in ("build_tokenizer", "build_model", "check_llava_data"):
        monkeypatch.setattr(tr, name, lambda *a, **k: pytest.fail("work started"))
    monkeypatch.chdir(tmp_path)  # the config names llava_lmm/configs/zero3.json: found from any directory
    (tmp_path / "data.json").write_text("[]")
    with pytest.raises(SystemExit) as e:
        tr.main(["--config", str(REPO / "llava_lmm/configs/stage2_full_vitamin_l_336_vicuna7b.yaml"),
                 "--data_path", "data.json", "--output_dir", str(tmp_path / "run")])
    assert e.value.code == 2
    assert _one_line(capsys) == (
        f"error: --deepspeed {REPO / 'llava_lmm/configs/zero3.json'}: DeepSpeed is not installed. Install it (pip "
        "install deepspeed; it builds against the CUDA toolkit), or train with PyTorch's FSDP2, which needs no extra "
        "package: --config llava_lmm/configs/fsdp2_stage2_full_vitamin_l_336_vicuna7b.yaml (or in your config "
        "replace deepspeed: by fsdp: true and fsdp_config: llava_lmm/configs/fsdp2.json)")
    assert not (tmp_path / "run").exists()


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No internet, as on a cluster node: HF_HUB_OFFLINE=1, an empty Hub cache; any download fails the test."""
    import huggingface_hub
    import open_clip.pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    for module in (huggingface_hub, open_clip.pretrained):
        monkeypatch.setattr(module, "hf_hub_download", lambda *a, **k: pytest.fail("network"))
    return tmp_path / "hf" / "hub"


def test_hub_ids_offline_are_one_line_at_once(offline, tmp_path, monkeypatch, capsys):
    for name in ("build_tokenizer", "build_model", "check_llava_data"):
        monkeypatch.setattr(tr, name, lambda *a, **k: pytest.fail("work started"))
    (tmp_path / "data.json").write_text("[]")
    base = ["--config", str(REPO / "llava_lmm/configs/synthetic_tiny_stage1.yaml"), "--data_path",
            str(tmp_path / "data.json"), "--output_dir", str(tmp_path / "run")]
    with pytest.raises(SystemExit) as e:
        tr.main(base + ["--model_name_or_path", "lmsys/vicuna-7b-v1.5"])
    assert e.value.code == 2
    assert _one_line(capsys) == (
        f"error: --model_name_or_path lmsys/vicuna-7b-v1.5: not in the Hugging Face cache ({offline}) and "
        "HF_HUB_OFFLINE is set (no downloads): give a local copy with --model_name_or_path /path/to/folder (a folder "
        "with config.json, tokenizer and weights), or fetch it where there is internet (huggingface-cli download "
        "lmsys/vicuna-7b-v1.5) and copy the cache (HF_HOME) here")
    with pytest.raises(SystemExit):
        tr.main(base + ["--vision_tower", "ViTamin-L-336", "--vision_tower_weights", "datacomp1b"])
    line = _one_line(capsys)
    assert line.startswith("error: --vision_tower_weights: open_clip weights ViTamin-L-336/datacomp1b: not in the "
                           f"Hugging Face cache ({offline})") and "--vision_tower_weights FILE for LLaVA" in line
    assert not (tmp_path / "run").exists()


def test_a_hub_id_that_cannot_load_is_one_line_naming_the_option(monkeypatch):
    """Online but unreachable (or a misspelt id): transformers' OSError after its retries becomes one line."""
    import transformers

    from llava_lmm.config import DataArguments, ModelArguments

    def unreachable(*a, **k):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them in "
                      "the cached files.\nCheck your internet connection.")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", unreachable)
    with pytest.raises(PretrainedError) as e:
        tr.build_tokenizer(ModelArguments(model_name_or_path="lmsys/vicuna-7b-v1.5"), DataArguments(), 512)
    assert str(e.value) == (
        "--model_name_or_path lmsys/vicuna-7b-v1.5: cannot load it (We couldn't connect to 'https://huggingface.co' "
        "to load the files, and couldn't find them in the cached files.); give a local folder instead, or, offline, "
        "set HF_HUB_OFFLINE=1 to use the Hugging Face cache without retries")


def test_saved_model_folders_keep_the_umask_mode(model_dir, tmp_path):
    model, tok, proc, _ = load_model(model_dir)
    old = os.umask(0o022)
    try:
        tr.atomic_save_model_dir(model, tok, proc, tmp_path / "out")
    finally:
        os.umask(old)
    modes = {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()}
    assert modes["model.safetensors"] == 0o644 and set(modes.values()) == {0o644}, modes
