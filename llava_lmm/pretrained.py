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
    """``auto``: this rank's GPU (``LOCAL_RANK``) in float16 as the reference's eval, else the CPU in float32."""
    if device == "auto":
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is not None:
        torch.cuda.set_device(dev)
    if dtype == "auto":
        return dev, torch.float16 if dev.type == "cuda" else torch.float32
    return dev, getattr(torch, dtype)


def load_model(model_dir: str | Path, dtype=torch.float32, device: str | torch.device | None = None):
    """(model in eval mode on ``device`` if given, tokenizer, image processor, meta): ``meta`` holds the run's
    conversation ``template``, ``image_aspect_ratio`` and ``image_reading`` (from ``llava_lmm.json``, else the model config's)."""
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaForConditionalGeneration

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no model (config.json) in {model_dir}")
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    if device is not None:
        model.to(device)
    tok = AutoTokenizer.from_pretrained(model_dir)
    proc = CLIPImageProcessor.from_pretrained(model_dir)
    meta = {}
    if (model_dir / META_FILE).is_file():
        meta = json.loads((model_dir / META_FILE).read_text())
    meta.setdefault("template", getattr(model.config, "conv_template", "v1"))
    meta.setdefault("image_aspect_ratio", getattr(model.config, "image_aspect_ratio", "pad"))
    meta.setdefault("image_reading", getattr(model.config, "image_reading", "photo"))  # as the model was trained
    check_processor_aspect(model_dir, meta["image_aspect_ratio"])
    return model, tok, proc, meta


def check_processor_aspect(model_dir: Path, aspect: str) -> None:
    """The folder's ``LlavaProcessor`` (what ``AutoProcessor`` users get) pads to square exactly when the run's
    ``image_aspect_ratio`` (what ``eval`` / ``chat`` use) is ``pad``; a folder where they disagree is refused."""
    from .processor import processor_aspect

    saved = processor_aspect(model_dir)
    if saved is not None and saved != aspect:
        raise ValueError(f"{model_dir}: processor_config.json pads images as {saved!r} (do_pad), the model's "
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
