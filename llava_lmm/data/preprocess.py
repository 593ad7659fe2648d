"""Tokenisation and label masking exactly as the LLaVA-1.5 reference (``llava/train/train.py``, ``mm_utils``).

Pipeline for one record: validate → ``<image>`` moved to the front of its turn (``preprocess_multimodal``) →
template rendering → reference tokenisation with one sentinel id −200 per image (chunks around ``<image>``
tokenised separately, their BOS dropped) → reference label masking → the sentinel expanded to the tower's N
``<image>`` placeholder ids (labels −100) for HF Llava → truncation at ``model_max_length``.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from .conversation import get_template

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200
DEFAULT_IMAGE_TOKEN = "<image>"
ROLES = {"human": 0, "gpt": 1}

log = logging.getLogger(__name__)


class ConversationError(ValueError):
    """A LLaVA record that cannot be trained on (names the record and the problem)."""


class OversizeError(ConversationError):
    """The image placeholders alone do not fit ``model_max_length``."""


def validate_record(rec: dict, where: str = "") -> None:
    """Structural checks; raise ``ConversationError`` naming the record."""
    rid = f"{where}record {rec.get('id', '?')!r}" if isinstance(rec, dict) else f"{where}record"
    if not isinstance(rec, dict):
        raise ConversationError(f"{rid}: not a json object")
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise ConversationError(f"{rid}: 'conversations' is missing or empty")
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict) or turn.get("from") not in ROLES or not isinstance(turn.get("value"), str):
            raise ConversationError(f"{rid}: turn {j} needs 'from' in {sorted(ROLES)} and a string 'value' ({turn!r:.80})")
        if not turn["value"].strip():
            raise ConversationError(f"{rid}: turn {j} ({turn['from']}) is empty")
        if ROLES[turn["from"]] != j % 2:
            raise ConversationError(f"{rid}: wrong role order — turn {j} is {turn['from']!r}, expected "
                                    f"{'human' if j % 2 == 0 else 'gpt'} (turns must alternate, human first)")
    if len(conv) % 2:
        raise ConversationError(f"{rid}: the last human turn has no gpt answer")
    n_img = sum(t["value"].count(DEFAULT_IMAGE_TOKEN) for t in conv)
    has_image = rec.get("image") not in (None, "")
    if has_image and n_img != 1:
        raise ConversationError(f"{rid}: has an 'image' but {n_img} '<image>' tokens in its turns (need exactly 1)")
    if not has_image and n_img:
        raise ConversationError(f"{rid}: has '<image>' in its text but no 'image' field")
    if n_img and DEFAULT_IMAGE_TOKEN not in conv[0]["value"]:
        raise ConversationError(f"{rid}: '<image>' must be in the first human turn")


def preprocess_multimodal(conversations: list[dict]) -> list[dict]:
    """Move ``<image>`` to the front of its turn: ``"<image>\\n" + text`` (reference, no mmtag/start-end)."""
    out = copy.deepcopy(conversations)
    for turn in out:
        if DEFAULT_IMAGE_TOKEN in turn["value"]:
            v = turn["value"].replace(DEFAULT_IMAGE_TOKEN, "").strip()
            turn["value"] = (DEFAULT_IMAGE_TOKEN + "\n" + v).strip()
    return out


def tokenizer_image_token(prompt: str, tokenizer, image_token_index: int = IMAGE_TOKEN_INDEX) -> list[int]:
    """Reference ``tokenizer_image_token``: chunks around ``<image>`` tokenised separately, joined by one sentinel."""
    chunks = [tokenizer(c).input_ids for c in prompt.split(DEFAULT_IMAGE_TOKEN)]
    ids: list[int] = []
    offset = 0
    if chunks and chunks[0] and chunks[0][0] == tokenizer.bos_token_id:
        offset = 1
        ids.append(chunks[0][0])
    sep = [image_token_index] * (offset + 1)
    joined = [e for sub in zip(chunks, [sep] * len(chunks)) for e in sub][:-1]
    for x in joined:
        ids.extend(x[offset:])
    return ids


def _is_legacy(tokenizer) -> bool:
    v = getattr(tokenizer, "legacy", None)
    if v is None:
        v = tokenizer.init_kwargs.get("legacy", True)
    return bool(v)


def render(conversations: list[dict], template: str) -> str:
    conv = get_template(template)
    if conv.style == "plain":
        return DEFAULT_IMAGE_TOKEN + conversations[1]["value"] + conv.sep
    conv.messages = []
    for j, turn in enumerate(conversations):
        conv.append_message(conv.roles[j % 2], turn["value"])
    return conv.get_prompt()


def preprocess_plain(conversations: list[dict], tokenizer) -> tuple[list[int], list[int], bool]:
    if len(conversations) != 2 or DEFAULT_IMAGE_TOKEN not in conversations[0]["value"]:
        raise ConversationError("the plain template needs exactly 2 turns with '<image>' in the first")
    prompt = render(conversations, "plain")
    ids = tokenizer_image_token(prompt, tokenizer)
    labels = list(ids)
    n = len(tokenizer_image_token(DEFAULT_IMAGE_TOKEN, tokenizer))
    labels[:n] = [IGNORE_INDEX] * n
    return ids, labels, False


def preprocess_v1(conversations: list[dict], tokenizer, has_image: bool, template: str = "v1",
                  model_max_length: int | None = None) -> tuple[list[int], list[int], bool]:
    """Returns (ids with the −200 sentinel, labels, mismatch flag). Exactly the reference's masking."""
    conv = get_template(template)
    prompt = render(conversations, template)
    max_len = model_max_length or tokenizer.model_max_length
    if has_image:
        ids = tokenizer_image_token(prompt, tokenizer)
    else:
        ids = tokenizer(prompt, max_length=max_len, truncation=True).input_ids
    labels = list(ids)
    pad = tokenizer.pad_token_id
    total_len = sum(1 for t in ids if t != pad)
    sep = conv.sep + conv.roles[1] + ": "
    rounds = prompt.split(conv.sep2)
    cur_len = 1
    labels[:cur_len] = [IGNORE_INDEX] * cur_len
    legacy = _is_legacy(tokenizer)

    def n_tok(text):
        return len(tokenizer_image_token(text, tokenizer)) if has_image else len(tokenizer(text).input_ids)

    for i, rou in enumerate(rounds):
        if rou == "":
            break
        parts = rou.split(sep)
        if len(parts) != 2:
            break
        parts[0] += sep
        round_len = n_tok(rou)
        instruction_len = n_tok(parts[0]) - 2
        if i != 0 and not legacy:  # reference: non-legacy tokenizer and tokenizers >= 0.14
            round_len -= 1
            instruction_len -= 1
        end = min(cur_len + instruction_len, len(labels))
        labels[cur_len:end] = [IGNORE_INDEX] * max(0, end - cur_len)
        cur_len += round_len
    labels[cur_len:] = [IGNORE_INDEX] * max(0, len(labels) - cur_len)
    mismatch = False
    if cur_len < max_len and cur_len != total_len:
        labels = [IGNORE_INDEX] * len(labels)
        mismatch = True
        log.warning("tokenization mismatch: %d vs. %d (sample ignored)", cur_len, total_len)
    return ids, labels, mismatch


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool
    mismatch: bool


def expand_image_tokens(ids: list[int], labels: list[int], image_token_id: int, num_image_tokens: int):
    out_ids, out_labels = [], []
    for t, l in zip(ids, labels):
        if t == IMAGE_TOKEN_INDEX:
            out_ids += [image_token_id] * num_image_tokens
            out_labels += [IGNORE_INDEX] * num_image_tokens
        else:
            out_ids.append(t)
            out_labels.append(l)
    return out_ids, out_labels


def encode_record(rec: dict, tokenizer, template: str, image_token_id: int, num_image_tokens: int,
                  model_max_length: int | None = None, where: str = "") -> Encoded:
    """One LLaVA record → HF Llava ``input_ids``/``labels`` (placeholders expanded, truncated)."""
    validate_record(rec, where)
    has_image = rec.get("image") not in (None, "")
    convs = preprocess_multimodal(rec["conversations"]) if has_image else rec["conversations"]
    max_len = model_max_length or tokenizer.model_max_length
    if template == "plain":
        if not has_image:
            raise ConversationError(f"{where}record {rec.get('id', '?')!r}: the plain template needs an image")
        ids, labels, mismatch = preprocess_plain(convs, tokenizer)
    else:
        ids, labels, mismatch = preprocess_v1(convs, tokenizer, has_image, template, max_len)
    if has_image:
        img_pos = ids.index(IMAGE_TOKEN_INDEX)
        if img_pos + num_image_tokens >= max_len:
            raise OversizeError(
                f"{where}record {rec.get('id', '?')!r}: {img_pos} text tokens + {num_image_tokens} image tokens do not "
                f"fit model_max_length {max_len}")
        ids, labels = expand_image_tokens(ids, labels, image_token_id, num_image_tokens)
    truncated = len(ids) > max_len
    if truncated:
        ids, labels = ids[:max_len], labels[:max_len]
    return Encoded(ids, labels, truncated, mismatch)
