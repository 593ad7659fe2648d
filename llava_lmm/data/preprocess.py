"""Tokenisation and label masking exactly as the LLaVA-1.5 reference (``llava/train/train.py``, ``mm_utils``).

Pipeline for one record: check (``validate_record``: only what the reference cannot train on is refused) →
``<image>`` moved to the front of its turn (``preprocess_multimodal``) → a leading gpt turn dropped (v1) → template
rendering → reference tokenisation with one sentinel id −200 per image (chunks around ``<image>`` tokenised
separately, their BOS dropped) → reference label masking → the sentinel expanded to the tower's N ``<image>``
placeholder ids (labels −100) for HF Llava → truncation at ``model_max_length``.

Two implementations of the v1 masking give the same ids and labels: ``preprocess_v1_reference`` follows the
reference literally (the whole prompt, then every round and every instruction tokenised again to count tokens);
``preprocess_v1`` (the default) tokenises each round once and reads both counts from that one encoding. It is used
when the tokenizer provably splits tokens at the places the counts depend on (``_OncePlan``), otherwise it falls
back to the reference implementation.
"""
from __future__ import annotations

import json
import logging
import re
import weakref
from dataclasses import dataclass

from .conversation import get_template

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200
DEFAULT_IMAGE_TOKEN = "<image>"
ROLES = {"human": 0, "gpt": 1}
SPACE_PIECE = "▁"  # SentencePiece / Metaspace word boundary

log = logging.getLogger(__name__)


class ConversationError(ValueError):
    """A LLaVA record that the reference cannot train on (names the record and the problem)."""


class OversizeError(ConversationError):
    """The text before the image plus the image placeholders do not fit ``model_max_length``."""


# ----------------------------------------------------------------------------- which records are trained on
# What the reference does with each kind of record (llava/train/train.py: LazySupervisedDataset.__getitem__,
# preprocess_multimodal, preprocess_plain / preprocess_v1; llava_arch.prepare_inputs_labels_for_multimodal):
#   trained the same way here                          | refused here (the reference crashes or corrupts)
#   - text-only record (no "image" key)                | - "conversations" missing / empty / not a list of
#   - "<image>" before or after the question, or       |   {"from", "value": str} (KeyError / IndexError)
#     several in one turn: one "<image>\n" at the      | - "image" present but not a non-empty path (the reference
#     front of that turn                               |   opens image_folder/<value>: TypeError / IsADirectory)
#   - "<image>" in a later turn: the image goes there  | - v1: "from" not human/gpt (KeyError); turns not
#   - a record with "image" but no "<image>": text     |   alternating after the first (AssertionError)
#     only, its image opened but not used              | - v1: "<image>" in two turns of an image record (2
#   - v1: first turn from gpt: dropped                 |   sentinels, 1 image: the next sample's image is used or
#   - empty turns, a last turn from human: rendered    |   IndexError)
#     as the reference does; the reference's count     | - plain: not 2 turns or no "<image>" in the first
#     then mismatches and masks the whole sample       |   (AssertionError); "<image>" in the caption (2 sentinels);
#     (counted as "mismatched")                        |   no "image" (a blank image would be spliced in)
#   - text-only record with "<image>" in its text:     | - an image that does not fit model_max_length (the
#     plain text (the reference's tokenizer has no     |   reference cuts its features; HF Llava cannot)
#     <image> token)                                   |
#   - extra fields ("model", …): ignored               |
def validate_record(rec, where: str = "", template: str = "v1") -> list[str]:
    """Raise ``ConversationError`` naming the record for what the reference cannot train on; return notes on what
    it trains on in a particular way (``first turn from gpt dropped``, ``empty turn``, ``ends with a human turn``,
    ``image not used``, ``<image> as text``)."""
    rid = f"{where}record {rec.get('id', '?')!r}" if isinstance(rec, dict) else f"{where}record"
    if not isinstance(rec, dict):
        raise ConversationError(f"{rid}: not a json object")
    conv = rec.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise ConversationError(f"{rid}: 'conversations' is missing or empty")
    plain = get_template(template).style == "plain"
    for j, turn in enumerate(conv):
        if not isinstance(turn, dict) or not isinstance(turn.get("value"), str):
            raise ConversationError(f"{rid}: turn {j} needs a string 'value' ({turn!r:.80})")
        if not plain and turn.get("from") not in ROLES:
            raise ConversationError(f"{rid}: turn {j} has 'from' {turn.get('from')!r}, expected one of {sorted(ROLES)}")
    has_image = "image" in rec
    if has_image and not (isinstance(rec["image"], str) and rec["image"].strip()):
        raise ConversationError(f"{rid}: 'image' must be a file path relative to the image folder, got "
                                f"{rec['image']!r} (records without an image have no 'image' key)")
    notes = []
    if plain:
        if not has_image:
            raise ConversationError(f"{rid}: the plain template (stage 1) needs an 'image'")
        if len(conv) != 2 or DEFAULT_IMAGE_TOKEN not in conv[0]["value"]:
            raise ConversationError(f"{rid}: the plain template needs exactly 2 turns with '<image>' in the first "
                                    f"(got {len(conv)} turns)")
        if DEFAULT_IMAGE_TOKEN in conv[1]["value"]:
            raise ConversationError(f"{rid}: '<image>' in the caption (turn 1): the reference would splice a second "
                                    f"image there")
        return notes
    turns = conv
    if turns[0]["from"] != "human":
        turns = turns[1:]
        notes.append("first turn from gpt dropped")
    for j, turn in enumerate(turns):
        if ROLES[turn["from"]] != j % 2:
            k = j + len(conv) - len(turns)
            raise ConversationError(f"{rid}: wrong role order — turn {k} is {turn['from']!r}, expected "
                                    f"{'human' if j % 2 == 0 else 'gpt'} (turns must alternate)")
    if any(not t["value"] for t in turns):
        notes.append("empty turn")
    if len(turns) % 2:
        notes.append("ends with a human turn")
    with_image = [j for j, t in enumerate(turns) if DEFAULT_IMAGE_TOKEN in t["value"]]
    if has_image:
        if len(with_image) > 1:
            ks = [j + len(conv) - len(turns) for j in with_image]
            raise ConversationError(f"{rid}: '<image>' in turns {ks}: one image can be placed once (the reference "
                                    f"would use another sample's image for the second)")
        if not with_image:
            notes.append("image not used")
    elif any(DEFAULT_IMAGE_TOKEN in t["value"] for t in turns):
        notes.append("<image> as text")
    return notes


def preprocess_multimodal(conversations: list[dict]) -> list[dict]:
    """Move ``<image>`` to the front of its turn: ``"<image>\\n" + text`` (reference, no mmtag/start-end)."""
    out = [dict(t) for t in conversations]
    for turn in out:
        if DEFAULT_IMAGE_TOKEN in turn["value"]:
            v = turn["value"].replace(DEFAULT_IMAGE_TOKEN, "").strip()
            turn["value"] = (DEFAULT_IMAGE_TOKEN + "\n" + v).strip()
    return out


def reference_turns(rec: dict, template: str) -> list[dict]:
    """The turns the reference renders: ``<image>`` moved (image records), a leading gpt turn dropped (v1)."""
    turns = preprocess_multimodal(rec["conversations"]) if "image" in rec else rec["conversations"]
    if get_template(template).style != "plain" and turns and turns[0].get("from") != "human":
        turns = turns[1:]
    return turns


# ----------------------------------------------------------------------------- tokenisation
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


def _text_encoder(tokenizer, prompt: str):
    """How the reference tokenises text of a record without an image: ``tokenizer(text).input_ids``. Its
    tokenizer has no ``<image>`` token, so in a text-only record ``<image>`` is plain text; ours has one (the HF
    Llava placeholder), so such text goes through a copy of the tokenizer without it."""
    if DEFAULT_IMAGE_TOKEN not in prompt:
        return lambda text: tokenizer(text).input_ids
    literal = _literal_backend(tokenizer)
    return lambda text: literal.encode(text).ids


def preprocess_plain(conversations: list[dict], tokenizer) -> tuple[list[int], list[int], bool]:
    """``plain`` (stage 1): ``<image>`` + caption + ``\\n``; BOS and image masked."""
    if len(conversations) != 2 or DEFAULT_IMAGE_TOKEN not in conversations[0]["value"]:
        raise ConversationError("the plain template needs exactly 2 turns with '<image>' in the first")
    prompt = render(conversations, "plain")
    plan = _once_plan(tokenizer)
    if plan is None:
        ids = tokenizer_image_token(prompt, tokenizer)
        n = len(tokenizer_image_token(DEFAULT_IMAGE_TOKEN, tokenizer))
    else:  # "<image>" is the first chunk's end: [BOS, −200] + the caption chunk (one encoding)
        ids = [plan.bos_id, IMAGE_TOKEN_INDEX] + plan.encode(prompt[len(DEFAULT_IMAGE_TOKEN):])
        n = 2
    labels = list(ids)
    labels[:n] = [IGNORE_INDEX] * n
    return ids, labels, False


def _mask_rounds(ids: list[int], rounds: list[str], counts: list[tuple[int, int] | None], legacy: bool,
                 pad_id, max_len: int) -> tuple[list[int], bool]:
    """The reference's v1 masking given each round's (token count, instruction token count), both as the
    reference counts them (standalone, BOS included); ``None`` where the round does not split on the separator."""
    labels = list(ids)
    total_len = len(ids) - ids.count(pad_id)
    cur_len = 1
    labels[:cur_len] = [IGNORE_INDEX] * cur_len
    for i, rou in enumerate(rounds):
        if rou == "" or counts[i] is None:
            break
        round_len, instruction_len = counts[i][0], counts[i][1] - 2
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
    return labels, mismatch


def preprocess_v1_reference(conversations: list[dict], tokenizer, has_image: bool, template: str = "v1",
                            model_max_length: int | None = None) -> tuple[list[int], list[int], bool]:
    """The reference's ``preprocess_v1`` step by step: the whole prompt tokenised, then every round and every
    instruction part tokenised again to count tokens. Returns (ids with the −200 sentinel, labels, mismatch)."""
    conv = get_template(template)
    prompt = render(conversations, template)
    max_len = model_max_length or tokenizer.model_max_length
    if has_image:
        ids = tokenizer_image_token(prompt, tokenizer)

        def n_tok(text):
            return len(tokenizer_image_token(text, tokenizer))
    else:
        encode = _text_encoder(tokenizer, prompt)
        if DEFAULT_IMAGE_TOKEN in prompt:
            ids = encode(prompt)[:max_len]
        else:
            ids = tokenizer(prompt, max_length=max_len, truncation=True).input_ids

        def n_tok(text):
            return len(encode(text))
    sep = conv.sep + conv.roles[1] + ": "
    rounds = prompt.split(conv.sep2)
    counts = []
    for rou in rounds:
        parts = rou.split(sep)
        if rou == "" or len(parts) != 2:
            counts.append(None)
            break
        counts.append((n_tok(rou), n_tok(parts[0] + sep)))
    labels, mismatch = _mask_rounds(ids, rounds, counts, _is_legacy(tokenizer), tokenizer.pad_token_id, max_len)
    return ids, labels, mismatch


def preprocess_v1(conversations: list[dict], tokenizer, has_image: bool, template: str = "v1",
                  model_max_length: int | None = None) -> tuple[list[int], list[int], bool]:
    """Same result as ``preprocess_v1_reference`` with each round tokenised once.

    The prompt is ``round_0 </s> round_1 </s> …``; ``</s>`` is an added token, so the tokenizer encodes the text
    between two of them on its own. Each round is encoded once (with character offsets) and gives: its tokens in the
    prompt (for rounds after the first, the first word is re-read as it reads after ``</s>``, cached per word), the
    reference's round count (its standalone length) and its instruction count: the tokens before the space that
    ends ``" ASSISTANT: "`` plus that space as its own token, as a standalone encoding of the instruction gives.
    Exact when ``_once_plan`` accepts the tokenizer (BPE over ``▁``-words, no vocabulary entry joining a
    character and a following ``▁``: every space after a non-space starts a new token); otherwise, and for text
    holding a literal ``▁``, the reference implementation runs."""
    plan = _once_plan(tokenizer)
    conv = get_template(template)
    prompt = render(conversations, template)
    if plan is None or SPACE_PIECE in prompt or conv.sep2 not in plan.added:
        return preprocess_v1_reference(conversations, tokenizer, has_image, template, model_max_length)
    max_len = model_max_length or tokenizer.model_max_length
    literal = not has_image and DEFAULT_IMAGE_TOKEN in prompt
    sep = conv.sep + conv.roles[1] + ": "
    rounds = prompt.split(conv.sep2)
    sep2_id = plan.added[conv.sep2]
    ids = [plan.bos_id]
    counts: list[tuple[int, int] | None] = []
    stop = False
    for i, rou in enumerate(rounds):
        if i:
            ids.append(sep2_id)
        boundary = None
        if not stop:
            parts = rou.split(sep)
            if rou == "" or len(parts) != 2:
                counts.append(None)
                stop = True
            else:
                boundary = len(parts[0]) + len(sep) - 1  # the space that ends " ASSISTANT: "
        toks, before = plan.encode_round(rou, has_image, literal, boundary)
        alone, ctx = plan.first_word(rou, conv.sep2, literal) if i else ((), ())
        if ctx is None or toks[:len(alone)] != list(alone) or (boundary is not None and before is None):
            # a token across the boundaries the counts rely on: cannot happen while the plan's conditions hold
            return preprocess_v1_reference(conversations, tokenizer, has_image, template, model_max_length)
        if i:
            ids.extend(ctx)
            ids.extend(toks[len(alone):])
        else:
            ids.extend(toks)
        if boundary is not None:
            counts.append((1 + len(toks), 1 + before + plan.n_space))
    if not has_image:
        ids = ids[:max_len]
    labels, mismatch = _mask_rounds(ids, rounds, counts, _is_legacy(tokenizer), tokenizer.pad_token_id, max_len)
    return ids, labels, mismatch


# ----------------------------------------------------------------------------- one-pass encoding plan
_PLANS: dict[int, tuple] = {}
_WORD_RE = re.compile(r"[^ ]*")


def _literal_backend(tokenizer):
    """A copy of a fast tokenizer's backend without the ``<image>`` added token (cached on the plan cache)."""
    key = ("literal", id(tokenizer))
    hit = _PLANS.get(key)
    if hit is not None and hit[0]() is tokenizer and hit[1] == len(tokenizer):
        return hit[2]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ConversationError("a text-only record holds '<image>' as text; reading it as the reference does (plain "
                                "text) needs a fast tokenizer")
    from tokenizers import Tokenizer

    spec = json.loads(backend.to_str())
    spec["added_tokens"] = [t for t in spec.get("added_tokens", []) if t["content"] != DEFAULT_IMAGE_TOKEN]
    literal = Tokenizer.from_str(json.dumps(spec))
    _PLANS[key] = (weakref.ref(tokenizer), len(tokenizer), literal)
    return literal


class _OncePlan:
    """What the one-pass v1 encoder needs from a fast tokenizer, checked once per tokenizer.

    Conditions (else ``_once_plan`` returns None and the reference implementation runs): a BPE model over
    ``▁``-words (Metaspace pre-tokenizer, or Prepend/Replace normalizers as older Llama files), no vocabulary entry
    with a ``▁`` right after another character (so a space after a non-space always starts a token and the text on
    each side of it is encoded as if alone), ``▁`` in the vocabulary, exactly one BOS added in front and nothing at
    the end, and HF's ``tokenizer(text)`` equal to the backend's encoding on probe strings.
    """

    def __init__(self, tokenizer, backend):
        self.backend = backend
        self.tokenizer = tokenizer
        self.bos_id = tokenizer.bos_token_id
        self.added = {t.content: i for i, t in tokenizer.added_tokens_decoder.items()}
        self.n_space = len(backend.encode("a: ", add_special_tokens=False).ids) - \
            len(backend.encode("a:", add_special_tokens=False).ids)
        self._heads: dict[tuple, tuple[list[int], list[int]]] = {}

    def encode_round(self, text: str, chunked: bool, literal: bool, boundary: int | None) \
            -> tuple[list[int], int | None]:
        """Tokens of ``text`` without BOS (chunks around ``<image>`` encoded separately and joined by −200, as
        ``tokenizer_image_token``) and the number of them before character ``boundary`` (None if not asked or
        no token starts there)."""
        backend = _literal_backend(self.tokenizer) if literal else self.backend
        chunks = text.split(DEFAULT_IMAGE_TOKEN) if chunked else [text]
        ids: list[int] = []
        before, pos = None, 0
        for k, chunk in enumerate(chunks):
            if k:
                ids.append(IMAGE_TOKEN_INDEX)
            e = backend.encode(chunk, add_special_tokens=False)
            if boundary is not None and pos <= boundary < pos + len(chunk):
                before = _tokens_before(e, boundary - pos)
                before = None if before is None else len(ids) + before
            ids.extend(e.ids)
            pos += len(chunk) + len(DEFAULT_IMAGE_TOKEN)
        return ids, before

    def encode(self, text: str) -> list[int]:
        return self.backend.encode(text, add_special_tokens=False).ids

    def first_word(self, text: str, sep2: str, literal: bool) -> tuple[list[int], list[int] | None]:
        """For ``text`` following ``sep2`` in the prompt: the tokens of its first word (up to the first space) encoded
        alone, and after ``sep2`` (None if ``sep2`` does not encode as its own token). Only these can differ between
        a round encoded alone and in the prompt (Metaspace ``first`` prepends ``▁`` at the start of the text only);
        cached per word."""
        word = _WORD_RE.match(text).group(0)
        if DEFAULT_IMAGE_TOKEN in word:
            word = word.split(DEFAULT_IMAGE_TOKEN, 1)[0]  # chunks after an image are encoded alone in both
        key = (word, sep2, literal)
        hit = self._heads.get(key)
        if hit is None:
            backend = _literal_backend(self.tokenizer) if literal else self.backend
            after = backend.encode(sep2 + word, add_special_tokens=False).ids
            hit = (backend.encode(word, add_special_tokens=False).ids,
                   after[1:] if after[:1] == [self.added[sep2]] else None)
            if len(self._heads) < 4096:
                self._heads[key] = hit
        return hit


def _tokens_before(encoding, char: int) -> int | None:
    """How many tokens of ``encoding`` start before character ``char``, given that one starts there (else None)."""
    k = encoding.char_to_token(char)
    if k is None or encoding.token_to_chars(k)[0] != char or (k and encoding.token_to_chars(k - 1)[0] >= char):
        return None
    return k


def _plan_conditions(tokenizer, backend) -> str | None:
    """Why the one-pass encoder cannot be used with this tokenizer (None: it can)."""
    spec = json.loads(backend.to_str())
    model = spec.get("model") or {}
    if model.get("type") != "BPE" or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix") \
            or model.get("dropout"):
        return "not a plain BPE model"
    norm, pre = spec.get("normalizer"), spec.get("pre_tokenizer")
    norms = (norm.get("normalizers", []) if norm and norm["type"] == "Sequence" else [norm] if norm else [])
    for n in norms:
        ok = (n["type"] == "Prepend" and n.get("prepend") == SPACE_PIECE) or \
             (n["type"] == "Replace" and n.get("content") == SPACE_PIECE and n.get("pattern", {}).get("String") == " ")
        if not ok:
            return f"normalizer {n['type']}"
    if pre is not None and not (pre["type"] == "Metaspace" and pre.get("replacement") == SPACE_PIECE):
        return f"pre-tokenizer {pre['type']}"
    if pre is None and not any(n["type"] == "Replace" for n in norms):
        return "spaces are not ▁"
    for t in spec.get("added_tokens", []):
        if t.get("lstrip") or t.get("rstrip") or t.get("single_word") or (t.get("normalized") and norms):
            return f"added token {t['content']!r} strips spaces or is normalised"
    vocab = backend.get_vocab(with_added_tokens=False)
    if SPACE_PIECE not in vocab:
        return "no ▁ token"
    joined = re.compile(f"[^{SPACE_PIECE}]{SPACE_PIECE}")
    if any(joined.search(t) for t in vocab):
        return "a vocabulary entry joins a character and a following ▁"
    if tokenizer.bos_token_id is None:
        return "no BOS token"
    for probe in ("", "a", "USER: x y</s>USER: z", " ASSISTANT: ", "x\n<unk> y"):
        hf = tokenizer(probe).input_ids
        if hf != backend.encode(probe).ids or hf[:1] != [tokenizer.bos_token_id] or \
                hf[1:] != backend.encode(probe, add_special_tokens=False).ids:
            return "the tokenizer does not add exactly one BOS, or differs from its backend"
    return None


def _once_plan(tokenizer) -> _OncePlan | None:
    """The cached ``_OncePlan`` of ``tokenizer`` or None when its conditions do not hold (rebuilt when tokens
    were added since)."""
    hit = _PLANS.get(id(tokenizer))
    if hit is not None and hit[0]() is tokenizer and hit[1] == len(tokenizer):
        return hit[2]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    why = "not a fast tokenizer" if backend is None else _plan_conditions(tokenizer, backend)
    plan = None if why else _OncePlan(tokenizer, backend)
    if why:
        log.info("LLaVA encoding: %s, so every round is tokenised as the reference does (slower, same result)", why)
    _PLANS[id(tokenizer)] = (weakref.ref(tokenizer), len(tokenizer), plan)
    return plan


# ----------------------------------------------------------------------------- one record
@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool
    mismatch: bool
    uses_image: bool = False  # the ids hold the image placeholders (False for text-only and unused images)


def expand_image_tokens(ids: list[int], labels: list[int], image_token_id: int, num_image_tokens: int):
    """Each −200 sentinel → ``num_image_tokens`` placeholder ids with labels −100."""
    out_ids, out_labels, start = [], [], 0
    while True:
        try:
            k = ids.index(IMAGE_TOKEN_INDEX, start)
        except ValueError:
            break
        out_ids += ids[start:k] + [image_token_id] * num_image_tokens
        out_labels += labels[start:k] + [IGNORE_INDEX] * num_image_tokens
        start = k + 1
    if not start:
        return ids, labels
    return out_ids + ids[start:], out_labels + labels[start:]


ENCODERS = ("once", "reference")


def encode_record(rec: dict, tokenizer, template: str, image_token_id: int, num_image_tokens: int,
                  model_max_length: int | None = None, where: str = "", method: str = "once") -> Encoded:
    """One LLaVA record → HF Llava ``input_ids``/``labels`` (placeholders expanded, truncated).

    ``method``: ``once`` (each round tokenised once) or ``reference`` (the reference's steps); same result."""
    if method not in ENCODERS:
        raise ValueError(f"method must be one of {ENCODERS}, got {method!r}")
    validate_record(rec, where, template)
    has_image = "image" in rec
    convs = reference_turns(rec, template)
    max_len = model_max_length or tokenizer.model_max_length
    if get_template(template).style == "plain":
        ids, labels, mismatch = preprocess_plain(convs, tokenizer)
    else:
        v1 = preprocess_v1 if method == "once" else preprocess_v1_reference
        ids, labels, mismatch = v1(convs, tokenizer, has_image, template, max_len)
    uses_image = IMAGE_TOKEN_INDEX in ids
    if uses_image:
        img_pos = ids.index(IMAGE_TOKEN_INDEX)
        if img_pos + num_image_tokens >= max_len:
            raise OversizeError(
                f"{where}record {rec.get('id', '?')!r}: {img_pos} text tokens + {num_image_tokens} image tokens do not "
                f"fit model_max_length {max_len}")
        ids, labels = expand_image_tokens(ids, labels, image_token_id, num_image_tokens)
    truncated = len(ids) > max_len
    if truncated:
        ids, labels = ids[:max_len], labels[:max_len]
    return Encoded(ids, labels, truncated, mismatch, uses_image)
