"""A LLaVA model folder (written by ``llava_lmm.train``) put to use: load it with its tokenizer, image processor and
the run's template / aspect rule, choose device and dtype, assemble and encode prompts, stream a reply.

The one place for these steps: ``llava_lmm.eval`` (batched answers), ``llava_lmm.chat`` (multi-turn CLI) and the
web app (one question about one picture) call it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterator

import torch

import llava_lmm  # noqa: F401  (registers the ViTamin tower with transformers' Auto classes)

from .data.conversation import Conversation, get_template

META_FILE = "llava_lmm.json"  # {"template", "image_aspect_ratio", "image_reading"} of the run that wrote the folder


def device_and_dtype(device: str, dtype: str) -> tuple[torch.device, torch.dtype]:
    """``auto``: this rank's GPU (``LOCAL_RANK``) in float16 as the reference's eval, else the CPU in float32. A
    device that is not here (``cuda`` without a GPU) is a ``ValueError`` naming ``--device``, before any loading."""
    from shared.cli import check_device

    if device == "auto":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    dev = check_device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    if dtype == "auto":
        return dev, torch.float16 if dev.type == "cuda" else torch.float32
    return dev, getattr(torch, dtype)


def read_model_folder(model_dir: str | Path) -> tuple[dict, dict]:
    """(config.json, meta) of a LLaVA model folder, checked without loading any weights: it must hold a HF Llava
    config (``model_type`` "llava"), its weights, tokenizer and image processor files, and every safetensors file
    must be complete. Another kind of folder (an F-ViT / FC-CLIP pretrained folder, a plain LM) or a truncated file
    is a ``PretrainedError`` naming the folder / file, in milliseconds — never a load that runs out of memory.
    ``meta``: the run's ``template``, ``image_aspect_ratio`` and ``image_reading`` (``llava_lmm.json``, else the
    config's)."""
    from safetensors import SafetensorError, safe_open

    from shared.pretrained import PretrainedError

    model_dir = Path(model_dir)
    cfg_file = model_dir / "config.json"
    if not model_dir.is_dir():
        raise PretrainedError(f"model folder not found: {model_dir}")
    if not cfg_file.is_file():
        raise PretrainedError(f"{model_dir} is not a LLaVA model folder (no config.json; llava_lmm.train writes one)")
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PretrainedError(f"{cfg_file}: invalid json ({e})") from None
    if not isinstance(config, dict):
        raise PretrainedError(f"{cfg_file}: expected a json object")
    if "kind" in config:  # shared.pretrained folders: {"kind": "fvit" | "fcclip", ...}
        raise PretrainedError(f"{model_dir} is a {config['kind']!r} pretrained folder (F-ViT / FC-CLIP: use its "
                              f"predict command), not a LLaVA model (written by llava_lmm.train)")
    if config.get("model_type") != "llava":
        raise PretrainedError(f"{cfg_file}: model_type {config.get('model_type')!r}, expected 'llava' (a folder "
                              f"written by llava_lmm.train; a language model alone goes to --model_name_or_path)")
    weights = sorted(model_dir.glob("*.safetensors"))
    if not weights and not any((model_dir / f).is_file() for f in ("pytorch_model.bin", "pytorch_model.bin.index.json")):
        if (model_dir / "mm_projector.bin").is_file():
            raise PretrainedError(f"{model_dir} holds a stage-1 projector (mm_projector.bin) only: chat and eval take "
                                  f"the model folder of stage 2")
        raise PretrainedError(f"{model_dir}: no weights (model.safetensors missing)")
    if not (model_dir / "tokenizer_config.json").is_file():
        raise PretrainedError(f"{model_dir}: tokenizer_config.json missing (an incomplete LLaVA model folder)")
    # the image processor: its own file, or inside the LlavaProcessor's (transformers 5 writes it there)
    if not ((model_dir / "preprocessor_config.json").is_file() or _holds_image_processor(model_dir)):
        raise PretrainedError(f"{model_dir}: no image processor (preprocessor_config.json, or processor_config.json "
                              f"with an image_processor) — an incomplete LLaVA model folder")
    for f in weights:
        try:
            with safe_open(str(f), framework="pt"):  # reads the header and checks it covers the file
                pass
        except (SafetensorError, OSError) as e:
            raise PretrainedError(f"cannot read {f}: {e} (truncated or corrupt? copy it again)") from None
    meta = {}
    if (model_dir / META_FILE).is_file():
        meta = json.loads((model_dir / META_FILE).read_text())
    meta.setdefault("template", config.get("conv_template", "v1"))
    meta.setdefault("image_aspect_ratio", config.get("image_aspect_ratio", "pad"))
    meta.setdefault("image_reading", config.get("image_reading", "photo"))  # as the model was trained
    return config, meta


def _holds_image_processor(model_dir: Path) -> bool:
    f = model_dir / "processor_config.json"
    try:
        return f.is_file() and isinstance(json.loads(f.read_text()).get("image_processor"), dict)
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def load_model(model_dir: str | Path, dtype=torch.float32, device: str | torch.device | None = None):
    """(model in eval mode on ``device`` if given, tokenizer, image processor, meta): ``meta`` holds the run's
    conversation ``template``, ``image_aspect_ratio`` and ``image_reading`` (``read_model_folder``). ``model_dir``:
    a folder or a Hub id ``org/name`` (through the Hub cache; ``HF_HUB_OFFLINE=1``: the cache only). The folder is
    checked first; weights that do not fit its config (shapes, missing or extra tensors) are a ``PretrainedError``
    naming the first of them."""
    import transformers
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaForConditionalGeneration

    from shared.hub import resolve_folder
    from shared.pretrained import PretrainedError

    model_dir = resolve_folder(model_dir)  # a ModelFolderError (FileNotFoundError) names a missing folder / id
    _, meta = read_model_folder(model_dir)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the mismatch table: reported below as one line
    try:
        model, info = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=dtype, output_loading_info=True,
                                                                    ignore_mismatched_sizes=True)
    finally:
        transformers.logging.set_verbosity(verbosity)
    problems = [f"{k}: file {tuple(a)} vs config {tuple(b)}" for k, a, b in sorted(info.get("mismatched_keys", []))]
    problems += [f"{k}: not in the weights" for k in sorted(info.get("missing_keys", []))]
    problems += [f"{k}: not in the model the config describes" for k in sorted(info.get("unexpected_keys", []))]
    if problems:
        raise PretrainedError(f"{model_dir}: config.json does not fit its weights ({len(problems)} tensors), e.g. "
                              + "; ".join(problems[:3]))
    model.eval()
    if device is not None:
        model.to(device)
    tok = AutoTokenizer.from_pretrained(model_dir)
    proc = CLIPImageProcessor.from_pretrained(model_dir)
    check_processor_aspect(model_dir, meta["image_aspect_ratio"])
    return model, tok, proc, meta


def check_processor_aspect(model_dir: Path, aspect: str) -> None:
    """The folder's ``LlavaProcessor`` (what ``AutoProcessor`` users get) pads to square exactly when the run's
    ``image_aspect_ratio`` (what ``eval`` / ``chat`` use) is ``pad``; a folder where they disagree is refused."""
    from .processor import processor_aspect

    from shared.pretrained import PretrainedError

    saved = processor_aspect(model_dir)
    if saved is not None and saved != aspect:
        raise PretrainedError(f"{model_dir}: processor_config.json pads images as {saved!r} (do_pad), the model's "
                         f"image_aspect_ratio is {aspect!r}; rewrite it: python -m llava_lmm.processor {model_dir}")


def num_image_tokens(model) -> int:
    """Placeholder tokens one image takes in the LM's sequence (the tower's patch count)."""
    vcfg = model.config.vision_config
    return vcfg.num_image_tokens if hasattr(vcfg, "num_image_tokens") else (vcfg.image_size // vcfg.patch_size) ** 2


def encode_prompt(tok, prompt: str, num_image_tokens: int, image_token_id: int) -> list[int]:
    """Token ids of ``prompt`` with each ``<image>`` expanded to ``num_image_tokens`` copies of ``image_token_id``
    (where HF Llava puts the projected patches)."""
    from .data.preprocess import IMAGE_TOKEN_INDEX, tokenizer_image_token

    ids = tokenizer_image_token(prompt, tok)
    out = []
    for t in ids:
        out += [image_token_id] * num_image_tokens if t == IMAGE_TOKEN_INDEX else [t]
    return out


def add_question(conv: Conversation, text: str, with_image: bool) -> None:
    """Append a user turn (``<image>\\n`` in front when it carries the image) and the open assistant turn."""
    conv.append_message(conv.roles[0], ("<image>\n" + text) if with_image else text)
    conv.append_message(conv.roles[1], None)


def image_pixels(images: list, proc, aspect: str, model) -> torch.Tensor:
    """(N, 3, S, S) pixel values of PIL images for ``model`` (its device and dtype), as the run processed them."""
    from .data.image import process_images

    p = next(model.parameters())
    return process_images(images, proc, aspect).to(device=p.device, dtype=p.dtype)


def stream_reply(model, tok, pixels: torch.Tensor, conv: Conversation, temperature: float = 0.2,
                 max_new_tokens: int = 512) -> Iterator[str]:
    """Generate the open assistant turn of ``conv`` (image ``pixels``), yielding the text as it is produced."""
    from threading import Thread

    from transformers import TextIteratorStreamer

    ids = torch.tensor([encode_prompt(tok, conv.get_prompt(), num_image_tokens(model), model.config.image_token_id)],
                       device=pixels.device)
    streamer = TextIteratorStreamer(tok, skip_prompt=True, skip_special_tokens=True)
    kw = dict(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixels, streamer=streamer,
              max_new_tokens=max_new_tokens, do_sample=temperature > 0,
              temperature=temperature if temperature > 0 else None, top_p=None, top_k=None,
              pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    th = Thread(target=model.generate, kwargs=kw)
    th.start()
    yield from streamer
    th.join()


def stream_answer(loaded: tuple, image, question: str, temperature: float = 0.0,
                  max_new_tokens: int = 128) -> Iterator[str]:
    """One question about one image (a path or PIL image, read as the model was trained: its ``image_reading``)
    with a folder ``load_model`` returned (the web app's turn): the reply as it is produced, in the folder's
    template. An unreadable image raises ``ImageError`` naming it."""
    from .data.image import open_image

    model, tok, proc, meta = loaded
    pixels = image_pixels([open_image(image, meta["image_reading"])], proc, meta["image_aspect_ratio"], model)
    conv = get_template(meta["template"])
    add_question(conv, question, with_image=True)
    yield from stream_reply(model, tok, pixels, conv, temperature, max_new_tokens)


def model_card_text(config, meta: dict, card: dict) -> str:
    """The ``README.md`` of a LLaVA folder: the model, how prompts and images are prepared, the training data and
    the numbers the run measured (``card``: ``training_data``, ``run``, ``metrics``)."""
    from shared.hub import metrics_table, model_card, training_section

    v, t = config.vision_config, config.text_config
    tower = v.open_clip_name or v.timm_model_name
    usage = """LLaVA-1.5 (native `transformers.LlavaForConditionalGeneration`) with a ViTamin vision tower. Needs the
`vitamin-downstream` package installed (`import llava_lmm` registers the tower with transformers' Auto classes;
stock transformers cannot build it).

```python
import llava_lmm  # noqa: F401
from transformers import AutoProcessor, LlavaForConditionalGeneration
processor = AutoProcessor.from_pretrained("<this folder or org/name>")
model = LlavaForConditionalGeneration.from_pretrained("<this folder or org/name>")
messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is in the image?"}]}]
text = processor.apply_chat_template(messages, add_generation_prompt=True)
inputs = processor(images=[image], text=text, return_tensors="pt")
out = model.generate(**inputs, max_new_tokens=128, do_sample=False)
```

`python -m llava_lmm.eval answer --model <folder or org/name> ...` and lmms-eval
(`lmms-eval --model llava_hf --model_args pretrained=<folder>,device_map=auto --tasks ...`) give the same answers."""
    model = (f"- vision tower: `{tower}` ({v.timm_model_name}), {v.image_size} px, {v.num_image_tokens} image tokens "
             f"of width {v.hidden_size}, layer {config.vision_feature_layer}, strategy "
             f"`{config.vision_feature_select_strategy}`\n"
             f"- projector: `mlp2x_gelu` ({v.hidden_size} → {t.hidden_size} → {t.hidden_size})\n"
             f"- language model: {t.model_type}, {t.num_hidden_layers} layers, width {t.hidden_size}, "
             f"vocabulary {t.vocab_size} (`<image>` = id {config.image_token_id})")
    prompts = (f"- template `{meta.get('template')}` (the processor's chat template renders it)\n"
               f"- images: `{meta.get('image_aspect_ratio')}` (pad: to a square with the mean colour, then the CLIP "
               f"processor), read as `{meta.get('image_reading')}`")
    return model_card(f"LLaVA-1.5 × {tower}", usage, [
        ("Model", model), ("Prompts and images", prompts), ("Training data", training_section(card)),
        ("Metrics", "Measured by the run that wrote this folder:\n\n" + metrics_table(card.get("metrics") or {})),
    ], pipeline_tag="image-text-to-text", tags=["vitamin", "llava", "image-text-to-text"])
