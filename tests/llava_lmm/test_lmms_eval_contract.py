"""lmms-eval's stock ``llava_hf`` on our folder, call for call, without installing lmms-eval (CI cannot afford it;
``llava_lmm/scripts/check_lmms_eval.sh`` runs the real one).

The calls, as read in lmms-eval 0.7.3 (the PyPI wheel ``lmms_eval-0.7.3-py3-none-any.whl``):

- Plugins: importing ``lmms_eval.models`` builds the registry (``lmms_eval/models/__init__.py:224-238``,
  ``_initialize_model_registry``), which loads every entry point of the group ``lmms_eval.models``
  (``lmms_eval/models/registry_v2.py:139-158``: ``payload = ep.load()`` at line 155) and takes a callable's result
  as an iterable of ``ModelManifest`` (``registry_v2.py:241-253``); an exception there is only logged
  (``__init__.py:230-233``).
- ``--model llava_hf`` resolves to the chat class (``registry_v2.py:82-104`` prefer ``chat_class_path``;
  ``lmms_eval.models.chat.llava_hf.LlavaHf``, a subclass of the simple one that keeps its ``__init__``):
  ``simple/llava_hf.py:93`` ``AutoConfig.from_pretrained(pretrained)``; ``:95-96`` the class by ``model_type``
  (``llava`` → ``LlavaForConditionalGeneration``); ``:97`` ``from_pretrained(pretrained, revision="main",
  torch_dtype="auto", device_map="", trust_remote_code=False, attn_implementation=None)``; ``:100``
  ``AutoProcessor.from_pretrained(pretrained, revision="main", trust_remote_code=False)``; ``:102`` the tokenizer
  padded on the left; ``:160`` eos = ``tokenizer.eos_token_id``.
- Chat ``generate_until`` (``chat/llava_hf.py:48-101``): the task's messages (``api/task.py:1780-1783``
  ``_build_user_turn``: each image as ``{"type": "image", "url": <PIL image>}``, then ``{"type": "text", "text":
  doc_to_text}``; ``protocol.py`` ``ChatMessages.model_dump``), ``processor.apply_chat_template(messages,
  tokenize=False, add_generation_prompt=True)`` (:62), ``processor(images=visuals, videos=None, text=text,
  return_tensors="pt").to(device, model.dtype)`` (:68), ``model.generate(**inputs, do_sample=False,
  temperature=None, top_p=None, num_beams=1, max_new_tokens=…, use_cache=True, pad_token_id=eos,
  eos_token_id=eos)`` (:88-98), the output cut at the input length and ``tokenizer.batch_decode(…,
  skip_special_tokens=True)[0]`` (:100-101, not stripped). A generate exception gives "" (:107), so this test calls
  generate directly.
- Simple ``generate_until`` (``--force_simple``, ``simple/llava_hf.py:318-378``): ``"<image>\\n" + context`` when the
  context has no ``<image>`` (:318-321), string content, ``tokenizer.apply_chat_template`` (:329-334, the
  tokenizer's own template), ``processor(images=visuals, text=text)`` (:348), the same generate (:363-373),
  ``batch_decode(cont[:, input_len:])`` (:374-378).
"""
import sys
import tomllib
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

warnings.filterwarnings("ignore", message="No pretrained configuration")
ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["What colour is the circle?", "How many red circles are there?", "Is there a blue square in the image?",
             "What shape is the red object?"]


def test_the_entry_point_is_what_makes_transformers_build_the_tower(processor_dir, monkeypatch):
    """With the tower unregistered (as in a process that has not imported ``llava_lmm``) transformers cannot read the
    folder's config; loading and calling the pyproject's ``lmms_eval.models`` entry point as lmms-eval does
    (``EntryPoint.load()``, then the callable) registers it, and the payload is an empty list of manifests."""
    from importlib.metadata import EntryPoint

    from transformers import AutoConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    eps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["lmms_eval.models"]
    assert eps == {"vitamin_llava": "llava_lmm.lmms_eval_plugin:manifests"}
    # a registry without the tower, restored after the test
    monkeypatch.setattr(CONFIG_MAPPING, "_extra_content",
                        {k: v for k, v in CONFIG_MAPPING._extra_content.items() if k != "vitamin_vision"})
    monkeypatch.setattr(MODEL_MAPPING, "_extra_content",
                        {k: v for k, v in MODEL_MAPPING._extra_content.items() if k.model_type != "vitamin_vision"})
    with pytest.raises(ValueError, match="vitamin_vision"):
        AutoConfig.from_pretrained(processor_dir)
    payload = EntryPoint("vitamin_llava", eps["vitamin_llava"], "lmms_eval.models").load()
    assert list(payload()) == []
    cfg = AutoConfig.from_pretrained(processor_dir)
    assert cfg.model_type == "llava" and cfg.vision_config.model_type == "vitamin_vision"
    from transformers import AutoModel

    assert type(AutoModel.from_config(cfg.vision_config)).__name__ == "ViTaminVisionModel"


def _llava_hf_load(pretrained, device="cpu", device_map="cpu"):
    """``simple/llava_hf.py:93-102`` (the chat class inherits it) with ``--model_args
    pretrained=DIR,device=cpu,device_map=cpu`` (one process: ``device_map`` is passed as given, :88-89)."""
    from transformers import AutoConfig, AutoProcessor, LlavaForConditionalGeneration, \
        LlavaNextForConditionalGeneration

    model_map = {"llava": LlavaForConditionalGeneration, "llava_next": LlavaNextForConditionalGeneration}
    config = AutoConfig.from_pretrained(pretrained)
    model_type = model_map[getattr(config, "model_type", "llava")]
    model = model_type.from_pretrained(pretrained, revision="main", torch_dtype="auto", device_map=device_map,
                                       trust_remote_code=False, attn_implementation=None)
    model.to(torch.device(device))  # :135
    processor = AutoProcessor.from_pretrained(pretrained, revision="main", trust_remote_code=False)
    processor.tokenizer.padding_side = "left"
    return model, processor


def _generate(model, processor, inputs, max_new_tokens):
    """``chat/llava_hf.py:88-101`` with the task's ``generation_kwargs`` (greedy)."""
    eos = processor.tokenizer.eos_token_id
    cont = model.generate(**inputs, do_sample=False, temperature=None, top_p=None, num_beams=1,
                          max_new_tokens=max_new_tokens, use_cache=True, pad_token_id=eos, eos_token_id=eos)
    trimmed = [out[len(inp):] for inp, out in zip(inputs.input_ids, cont)]
    return processor.tokenizer.batch_decode(trimmed, skip_special_tokens=True)[0]


def test_llava_hf_default_device_map_fails_on_transformers_5(processor_dir):
    """lmms-eval's default ``device_map=""`` (``simple/llava_hf.py:73``) is refused by transformers 5 for every model
    in a single process: hence ``device_map=cpu`` (or ``auto`` / ``cuda:0``) in the documented command."""
    with pytest.raises(ValueError, match="device_map as a string"):
        _llava_hf_load(str(processor_dir), device_map="")


def test_llava_hf_calls_give_eval_answer_and_the_same_score(processor_dir, images):
    from llava_lmm.data.conversation import inference_prompt
    from llava_lmm.data.image import process_images
    from llava_lmm.eval import iter_answers, load_model
    from llava_lmm.metrics import exact_match_score
    from llava_lmm.pretrained import encode_prompt, num_image_tokens

    model, processor = _llava_hf_load(str(processor_dir))
    ours_model, tok, clip, meta = load_model(processor_dir)
    questions = [{"question_id": i, "image": f"{i % 3}.png", "text": q} for i, q in enumerate(QUESTIONS)]
    ours = list(iter_answers(ours_model, tok, clip, questions, images, meta["template"], meta["image_aspect_ratio"],
                             batch_size=1, max_new_tokens=6))
    n_img, img_id = num_image_tokens(ours_model), ours_model.config.image_token_id
    chat = []
    for q in questions:
        visual = Image.open(images / q["image"]).convert("RGB")  # a task's doc_to_visual
        want_ids = encode_prompt(tok, inference_prompt(q["text"]), n_img, img_id)
        # chat class (the default for --model llava_hf)
        messages = [{"role": "user", "content": [{"type": "image", "url": visual},
                                                 {"type": "text", "text": q["text"]}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = processor(images=[visual], videos=None, text=text, return_tensors="pt").to(model.device, model.dtype)
        assert inputs["input_ids"][0].tolist() == want_ids
        assert torch.equal(inputs["pixel_values"], process_images([visual], clip, "pad"))
        chat.append(_generate(model, processor, inputs, 6))
        # simple class (--force_simple): string content, the tokenizer's template; the same model inputs, hence
        # the same greedy answer
        context = q["text"]
        if "<image>" not in context:
            context = f"<image>\n{context}"
        text = processor.tokenizer.apply_chat_template([{"role": "user", "content": context}], tokenize=False,
                                                       add_generation_prompt=True)
        simple = processor(images=[visual], text=text, return_tensors="pt").to(model.device, model.dtype)
        assert simple.keys() == inputs.keys() and all(torch.equal(simple[k], inputs[k]) for k in inputs)
    assert chat == [a["text"] for a in ours]  # not even stripped: the same text
    # scored by our scorer on either side: an answer key that marks some of our answers right and some wrong, so
    # that equal scores need equal answers (the random tiny model's answers are not the world's)
    key = {a["question_id"]: (a["text"] if a["question_id"] % 2 == 0 else "no such answer") for a in ours}
    lmms = [{"question_id": q["question_id"], "text": t} for q, t in zip(questions, chat)]
    assert exact_match_score(lmms, key) == exact_match_score(ours, key) == {"accuracy": 0.5, "num": 4}


def test_the_task_reads_the_rows_the_check_script_writes(images):
    """The local task (``llava_lmm/lmms_eval_tasks/vitamin_world``): its YAML reads the file and generation settings
    ``lmms_eval_check.py`` uses, and its ``doc_to_visual`` / ``doc_to_text`` turn a row into our eval's inputs."""
    import importlib.util

    import yaml

    sys.path.insert(0, str(ROOT / "llava_lmm" / "scripts"))
    try:
        import lmms_eval_check as check
    finally:
        sys.path.pop(0)
    task_dir = ROOT / check.TASKS_DIR / "vitamin_world"
    cfg = yaml.safe_load((task_dir / f"{check.TASK}.yaml").read_text().replace("!function ", ""))  # tags: lmms-eval's
    assert cfg["task"] == check.TASK and cfg["dataset_path"] == "json" and cfg["output_type"] == "generate_until"
    assert cfg["dataset_kwargs"]["data_files"]["test"] == f"outputs/lmms_eval_check/{check.DATA_FILE}"
    assert cfg["generation_kwargs"] == {"max_new_tokens": check.MAX_NEW_TOKENS, "temperature": 0, "num_beams": 1,
                                        "do_sample": False}
    assert cfg["doc_to_target"] == "answer" and cfg["metric_list"][0]["metric"] == "exact_match"
    spec = importlib.util.spec_from_file_location("vitamin_world_utils", task_dir / "utils.py")
    utils = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(utils)
    row = {"question_id": 3, "image": str(images / "1.png"), "question": "What shape is it?", "answer": "circle"}
    (visual,) = utils.doc_to_visual(row)
    assert visual.mode == "RGB" and visual.tobytes() == Image.open(images / "1.png").convert("RGB").tobytes()
    assert utils.doc_to_text(row) == "What shape is it?"
