"""The ``LlavaProcessor`` every LLaVA folder of ours carries, so that stock ``transformers`` code (lmms-eval's
``llava_hf``, ``AutoProcessor`` + ``apply_chat_template`` + ``generate``) feeds the model exactly what
``llava_lmm.eval`` feeds it.

- Image processor: ``LlavaImageProcessor`` with the folder's CLIP settings (size, crop, mean, std, bicubic) and
  ``do_pad`` = the run's ``image_aspect_ratio == "pad"``: pad to a square with the mean colour, then resize / crop /
  normalise, pixel for pixel our ``expand2square`` + CLIP processor (``tests/llava_lmm/test_processor.py``).
- Tokenizer: the folder's, with the chat template below (lmms-eval's simple ``llava_hf`` renders with the
  tokenizer's template, the chat one with the processor's: both carry it).
- ``patch_size`` and ``vision_feature_select_strategy`` from the model config (``full``: ViTamin has no CLS token)
  and ``num_additional_image_tokens = 0``: ``(R // patch) ** 2`` placeholders per image, the tower's token count.
- Chat template: the run's conversation template (``v1`` = Vicuna v1) as ``Conversation.get_prompt`` renders it.
  Messages: ``{"role", "content"}`` with content a string (``<image>`` where the image goes, as LLaVA's prompts)
  or a list of ``{"type": "image"}`` / ``{"type": "text", "text"}`` parts (images first, as LLaVA's
  ``preprocess_multimodal`` puts them); an optional leading ``system`` message replaces the system prompt.

Tokenisation: our prompts are tokenised as the reference's ``tokenizer_image_token`` does (the text before and after
``<image>`` separately); the processor tokenises one string with ``<image>`` as a special token. For a tokenizer that
prepends ``▁`` to every segment (legacy SentencePiece, the synthetic world's) the two agree on ``<image>\\n``; for a
non-legacy one (Vicuna v1.5 under ``transformers`` 5) the text after ``<image>`` gets no ``▁`` and the reference's
``▁`` ``\\n`` is the string ``<image> \\n``. ``image_text_for`` tries both on probe prompts and the template writes the
one that gives the reference's ids (an error if neither does).

    python -m llava_lmm.processor DIR [DIR ...]     # add the processor (and a model card) to older folders
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from .data.conversation import TEMPLATES, Conversation

IMAGE_TOKEN = "<image>"
IMAGE_TEXTS = ("<image>\n", "<image> \n")  # candidates for the image slot, the reference's literal text first
PROBE_QUESTIONS = ("What is in the image?", "How many red circles are there?", "Is there a blue square?",
                   "2 or 3?", "(a) or (b)", "  two leading spaces", "\nnewline first")


def chat_template(template: str = "v1", image_text: str = "<image>\n") -> str:
    """Jinja chat template rendering ``messages`` exactly as ``Conversation.get_prompt`` renders the same turns of
    the named conversation template (``add_generation_prompt``: the open assistant turn ``ASSISTANT:``)."""
    conv: Conversation = TEMPLATES[template]
    if conv.style != "two":
        raise ValueError(f"conversation template {template!r} has no chat form (style {conv.style!r}); "
                         f"the chat templates are {sorted(k for k, c in TEMPLATES.items() if c.style == 'two')}")
    if image_text not in IMAGE_TEXTS:
        raise ValueError(f"image_text must be one of {IMAGE_TEXTS}, got {image_text!r}")
    user, assistant = conv.roles

    def lit(s: str) -> str:
        return json.dumps(s)  # a Jinja string literal (json escapes are valid Jinja escapes)

    replace = "" if image_text == IMAGE_TEXTS[0] else f" | replace({lit(IMAGE_TEXTS[0])}, {lit(image_text)})"
    return (
        "{%- set ns = namespace(system=" + lit(conv.system) + ", text='') -%}"
        "{%- set turns = messages -%}"
        "{%- if messages and messages[0]['role'] == 'system' -%}"
        "{%- if messages[0]['content'] is string -%}{%- set ns.system = messages[0]['content'] -%}"
        "{%- else -%}{%- set ns.system = messages[0]['content'] | selectattr('type', 'equalto', 'text') "
        "| map(attribute='text') | join('') -%}{%- endif -%}"
        "{%- set turns = messages[1:] -%}"
        "{%- endif -%}"
        "{{- ns.system + " + lit(conv.sep) + " -}}"
        "{%- for message in turns -%}"
        "{%- if message['content'] is string -%}{%- set ns.text = message['content']" + replace + " -%}"
        "{%- else -%}{%- set ns.text = '' -%}"
        "{%- for part in message['content'] if part['type'] == 'image' -%}"
        "{%- set ns.text = ns.text + " + lit(image_text) + " -%}{%- endfor -%}"
        "{%- for part in message['content'] if part['type'] == 'text' -%}"
        "{%- set ns.text = ns.text + part['text'] -%}{%- endfor -%}"
        "{%- endif -%}"
        "{%- set role = " + lit(user) + " if message['role'] == 'user' else " + lit(assistant) + " -%}"
        "{%- set sep = " + lit(conv.sep) + " if message['role'] == 'user' else " + lit(conv.sep2) + " -%}"
        "{%- if ns.text -%}{{- role + ': ' + ns.text + sep -}}{%- else -%}{{- role + ':' -}}{%- endif -%}"
        "{%- endfor -%}"
        "{%- if add_generation_prompt -%}{{- " + lit(assistant + ":") + " -}}{%- endif -%}"
    )


def _processor_style_ids(tok, text: str, num_image_tokens: int) -> list[int]:
    """Ids of ``text`` as ``LlavaProcessor`` makes them: each ``<image>`` expanded, one string tokenised."""
    return tok(text.replace(IMAGE_TOKEN, IMAGE_TOKEN * num_image_tokens))["input_ids"]


def image_text_for(tok, template: str = "v1", num_image_tokens: int = 4) -> str:
    """The image-slot text (``<image>\\n`` or ``<image> \\n``) whose processor-style tokenisation equals our
    ``encode_prompt`` (the reference's chunked one) on every probe prompt; ``ValueError`` if neither does."""
    from .data.conversation import inference_prompt
    from .pretrained import encode_prompt

    image_id = tok.convert_tokens_to_ids(IMAGE_TOKEN)
    if image_id is None or image_id == tok.unk_token_id:
        raise ValueError(f"the tokenizer has no {IMAGE_TOKEN} token")
    prompts = [inference_prompt(q, template) for q in PROBE_QUESTIONS]
    ours = [encode_prompt(tok, p, num_image_tokens, image_id) for p in prompts]
    for cand in IMAGE_TEXTS:
        if all(_processor_style_ids(tok, p.replace(IMAGE_TEXTS[0], cand), num_image_tokens) == o
               for p, o in zip(prompts, ours)):
            return cand
    raise ValueError(f"{type(tok).__name__}: no image-slot text among {IMAGE_TEXTS} tokenises as the reference's "
                     "chunked prompt; a LlavaProcessor cannot reproduce this model's prompts")


def llava_image_processor(clip_processor, pad: bool):
    """``LlavaImageProcessor`` with the CLIP processor's settings; ``pad``: pad to square with the mean colour."""
    from transformers import LlavaImageProcessor

    p = clip_processor
    return LlavaImageProcessor(size=dict(p.size), crop_size=dict(p.crop_size), image_mean=list(p.image_mean),
                               image_std=list(p.image_std), resample=p.resample, do_pad=pad,
                               do_convert_rgb=True, do_resize=p.do_resize, do_center_crop=p.do_center_crop,
                               do_rescale=p.do_rescale, rescale_factor=p.rescale_factor, do_normalize=p.do_normalize)


def make_processor(tok, clip_processor, llava_config, image_aspect_ratio: str, template: str = "v1"):
    """The ``LlavaProcessor`` of a folder: ``tok`` (copied, given the chat template), ``clip_processor`` (the run's
    CLIP settings), ``llava_config`` (patch size, strategy, token count), the run's aspect rule and template."""
    from transformers import LlavaProcessor

    if image_aspect_ratio not in ("pad", "square"):
        raise ValueError(f"image_aspect_ratio must be 'pad' or 'square', got {image_aspect_ratio!r}")
    vcfg = llava_config.vision_config
    crop = clip_processor.crop_size
    grid = (crop["height"] // vcfg.patch_size) * (crop["width"] // vcfg.patch_size)
    if grid != vcfg.num_image_tokens or llava_config.vision_feature_select_strategy != "full":
        raise ValueError(f"the processor would give {grid} image tokens (crop {crop}, patch {vcfg.patch_size}, "
                         f"strategy {llava_config.vision_feature_select_strategy!r}); the tower gives "
                         f"{vcfg.num_image_tokens} with strategy 'full'")
    tok = copy.deepcopy(tok)
    tok.chat_template = chat_template(template, image_text_for(tok, template))
    return LlavaProcessor(image_processor=llava_image_processor(clip_processor, image_aspect_ratio == "pad"),
                          tokenizer=tok, patch_size=vcfg.patch_size,
                          vision_feature_select_strategy=llava_config.vision_feature_select_strategy,
                          chat_template=tok.chat_template, image_token=IMAGE_TOKEN, num_additional_image_tokens=0)


def save_into(directory: str | Path, save) -> None:
    """Run ``save(tmp)`` into a temporary folder beside ``directory``, then move each file in (``config.json``
    last), with the mode the umask gives: a kill leaves the old files or the new ones, never half a file."""
    from shared.io import apply_default_mode

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".saving-", dir=directory))
    try:
        save(tmp)
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == "config.json"):
            if f.is_file():
                apply_default_mode(f)  # safetensors writes 0600; the umask decides, as for every file we write
            os.replace(f, directory / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def processor_aspect(model_dir: str | Path) -> str | None:
    """``pad`` / ``square`` as the folder's saved ``LlavaProcessor`` processes images; None without one."""
    f = Path(model_dir) / "processor_config.json"
    if not f.is_file():
        return None
    return "pad" if json.loads(f.read_text()).get("image_processor", {}).get("do_pad") else "square"


def add_processor(model_dir: str | Path) -> Path:
    """Write the ``LlavaProcessor`` into a folder saved before processors were (tokenizer + CLIP processor):
    its aspect rule and template from ``llava_lmm.json`` or the model config. Weights are not touched."""
    from transformers import AutoConfig, AutoImageProcessor, AutoTokenizer

    import llava_lmm  # noqa: F401  (the tower's config class)

    from .pretrained import META_FILE

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no model (config.json) in {model_dir}")
    cfg = AutoConfig.from_pretrained(model_dir)
    meta = json.loads((model_dir / META_FILE).read_text()) if (model_dir / META_FILE).is_file() else {}
    aspect = meta.get("image_aspect_ratio", getattr(cfg, "image_aspect_ratio", "pad"))
    template = meta.get("template", getattr(cfg, "conv_template", "v1"))
    clip = AutoImageProcessor.from_pretrained(model_dir)  # the CLIP settings (or an earlier Llava processor's)
    proc = make_processor(AutoTokenizer.from_pretrained(model_dir), clip, cfg, aspect, template)
    save_into(model_dir, proc.save_pretrained)
    if not (model_dir / "README.md").is_file():  # a model card from what the run left in the folder
        from shared.hub import write_model_card

        from .pretrained import model_card_text

        reading = meta.get("image_reading", getattr(cfg, "image_reading", "photo"))
        write_model_card(model_dir, model_card_text(cfg, {"template": template, "image_aspect_ratio": aspect,
                                                          "image_reading": reading}, recorded_card(model_dir)))
    return model_dir


def recorded_card(model_dir: Path) -> dict:
    """The card facts a training run left in its folder: ``run_args.json`` (data) and ``train_metrics.json``."""
    card: dict = {}
    args, metrics = model_dir / "run_args.json", model_dir / "train_metrics.json"
    if args.is_file():
        data = json.loads(args.read_text()).get("data", {})
        card["training_data"] = {k: data[k] for k in ("data_path", "image_folder", "template") if k in data}
    if metrics.is_file():
        m = json.loads(metrics.read_text())
        card["run"] = {k: m[k] for k in ("stage", "steps") if k in m}
        card["metrics"] = {k: m[k] for k in ("train_loss", "steps", "truncated", "skipped", "mismatched")
                           if isinstance(m.get(k), (int, float))}
    return card


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m llava_lmm.processor", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model_dirs", nargs="+", help="LLaVA folders written by llava_lmm.train (or its converter)")
    a = p.parse_args(argv)
    from shared.cli import run_main

    def add_all() -> int:
        for d in a.model_dirs:
            add_processor(d)
            print(f"{d}: LlavaProcessor written (AutoProcessor.from_pretrained({str(d)!r}))")
        return 0

    return run_main(add_all)  # a user's error (a folder that is not a LLaVA model, …): one line, exit 2


if __name__ == "__main__":
    sys.exit(main())
