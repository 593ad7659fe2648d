"""A tiny SentencePiece-like tokenizer trained on a corpus (the synthetic world): no download needed.

It behaves like the (legacy) Llama / Vicuna tokenizer in everything the LLaVA masking rules depend on:

- a BPE model over ``▁word`` pieces (Metaspace pre-tokenizer, ``prepend_scheme="always"``: every text segment,
  also one that follows a special token, starts with ``▁`` — the *legacy* SentencePiece behaviour);
- ``<s>`` (id 1) is prepended to every encoding, nothing is appended; ``</s>`` (id 2) written in the text is
  parsed as the EOS token; ``<unk>`` is id 0 and is also the pad token (as LLaVA sets for Vicuna);
- a trailing space becomes its own ``▁`` token (``"ASSISTANT: "`` → ``… ':' '▁'``), which is the "dangling
  space" the v1 masking subtracts;
- ``<image>`` is an added special token (the HF Llava placeholder).

Off-by-one choice: the tokenizer reports ``legacy = True``, so the reference's "rounds after the first are one
token shorter" correction (for non-legacy tokenizers with tokenizers ≥ 0.14) is *not* applied; the masks come
out exact (tested token by token in ``tests/llava_lmm/test_masking.py``).
"""
from __future__ import annotations

import json
from typing import Iterable

from transformers import PreTrainedTokenizerFast

SPECIALS = ["<unk>", "<s>", "</s>"]
IMAGE_TOKEN = "<image>"


def train_tiny_tokenizer(corpus: Iterable[str], vocab_size: int = 400, extra_texts: Iterable[str] = ()) \
        -> PreTrainedTokenizerFast:
    """Train a BPE tokenizer on ``corpus`` (+ ``extra_texts``) and wrap it like a Llama tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    alphabet = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-()/\n▁<>_"))
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS, initial_alphabet=alphabet,
                                  show_progress=False)
    texts = list(corpus) + list(extra_texts)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>",
        padding_side="right", model_max_length=2048, clean_up_tokenization_spaces=False, legacy=True,
        add_bos_token=True, add_eos_token=False)
    wrapped.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    assert wrapped.convert_tokens_to_ids(SPECIALS) == [0, 1, 2]
    return wrapped


def corpus_from_llava_json(records: list[dict]) -> list[str]:
    """All turn texts of LLaVA records, plus the fixed template strings the prompts use."""
    from .conversation import TEMPLATES

    out = [t.system for t in TEMPLATES.values() if t.system]
    out += ["USER: ASSISTANT: USER:", "ASSISTANT:"]
    for r in records:
        for turn in r.get("conversations", []):
            out.append(str(turn.get("value", "")).replace(IMAGE_TOKEN, " "))
    return out


def train_llama_style_tokenizer(corpus: Iterable[str], vocab_size: int = 600, legacy: bool = False,
                                extra_texts: Iterable[str] = ()):
    """A ``transformers.LlamaTokenizer`` (the class ``AutoTokenizer`` gives for Vicuna) over a BPE vocabulary
    trained on ``corpus``: byte fallback (``<0x00>``…``<0xFF>`` at ids 3…258 as Llama's), Metaspace without
    word splitting, ``legacy=False`` as ``lmsys/vicuna-7b-v1.5`` (the text after ``</s>`` gets no ``▁``; the
    reference's "one token shorter" correction then applies to rounds after the first). As in the Vicuna
    vocabulary, ``USER:`` is one token that ``▁`` does not join, so a round encoded alone is exactly one token
    longer than inside the prompt. For parity tests and benchmarks (no download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    specials = SPECIALS + [f"<0x{b:02X}>" for b in range(256)]
    alphabet = sorted(set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,:;!?'\"-()/\n▁"))
    tok.train_from_iterator(list(corpus) + list(extra_texts), trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=alphabet, show_progress=False))
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    role = "USER:"  # merged without ▁, first: "▁USER:" encodes as "▁" "USER:"
    head = [(role[:k], role[k]) for k in range(1, len(role))]
    merges = head + [tuple(m) for m in spec["model"]["merges"] if not (m[0] == "▁" and m[1][:1] == "U")]
    for k in range(2, len(role) + 1):
        vocab.setdefault(role[:k], len(vocab))
    wrapped = LlamaTokenizer(vocab=vocab, merges=merges, legacy=legacy, add_bos_token=True, add_eos_token=False,
                             model_max_length=2048, padding_side="right")
    wrapped.pad_token = wrapped.unk_token
    wrapped.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    assert wrapped.convert_tokens_to_ids(SPECIALS) == [0, 1, 2]
    return wrapped
