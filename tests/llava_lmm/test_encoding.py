"""The one-pass encoder (each round tokenised once) gives the reference implementation's ids and labels exactly,
on the tiny tokenizer and on Llama-class tokenizers (byte fallback, non-legacy as Vicuna v1.5, and legacy)."""
import random
import warnings

import pytest

from llava_lmm.data import preprocess as P
from llava_lmm.data.tokenizer import corpus_from_llava_json, train_llama_style_tokenizer, train_tiny_tokenizer

WORDS = ("What colour is the circle? How many red squares are there? Describe the image in detail. The picture "
         "shows a dog on a street, two cars and a tree. Answer the question using a single word or phrase. "
         "Yes No left right 3 [0.12, 0.34, 0.56, 0.78] café naïve 東京 🙂").split()
ODD = ["  ", "\n", "</s>", " ASSISTANT: ", " <s> ", "\t", "USER:", "▁"]  # "▁": the encoder falls back


def varied_records(n: int, seed: int = 0) -> list[dict]:
    """Multi-turn, text-only and long-reply records, <image> before / after / in a later turn / in an answer /
    missing / as text, empty turns, a leading gpt turn, a trailing human turn, odd characters."""
    rng = random.Random(seed)

    def text(k):
        s = " ".join(rng.choice(WORDS) for _ in range(k))
        if rng.random() < 0.25:
            cut = rng.randrange(len(s) + 1)
            s = s[:cut] + rng.choice(ODD) + s[cut:]
        return s

    recs = []
    for i in range(n):
        conv = []
        for _ in range(rng.choice([1, 1, 2, 3, 6])):
            conv += [{"from": "human", "value": text(rng.randint(1, 12))},
                     {"from": "gpt", "value": "" if rng.random() < 0.05 else text(rng.choice([1, 3, 40]))}]
        rec = {"id": str(i), "conversations": conv}
        kind = i % 8
        if kind < 5:
            rec["image"] = f"coco/train2017/{i:012d}.jpg"
            where = [0, 0, 0, 2, 1][kind] if len(conv) > 2 else 0
            v = conv[where]["value"]
            conv[where]["value"] = rng.choice(["<image>\n" + v, v + "\n<image>", "<image> " + v + " <image>"])
        elif kind == 5:
            conv[0]["value"] += " <image> as text"
        if rng.random() < 0.05:
            rec["conversations"] = [{"from": "gpt", "value": text(3)}] + conv
        if rng.random() < 0.05:
            rec["conversations"] = rec["conversations"] + [{"from": "human", "value": text(4)}]
        recs.append(rec)
    return recs


@pytest.fixture(scope="module")
def tokenizers():
    """Trained on these records' text (an unknown character would be <unk> = the pad id, which the reference's
    count leaves out: every such sample masked)."""
    corpus = corpus_from_llava_json(varied_records(40, seed=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {"tiny": train_tiny_tokenizer(corpus, 400), "non-legacy": train_llama_style_tokenizer(corpus, 500),
                "legacy": train_llama_style_tokenizer(corpus, 500, legacy=True)}


def _encode(rec, tok, template, max_len, method):
    try:
        return P.encode_record(rec, tok, template, 7, 3, max_len, method=method)
    except P.OversizeError as e:  # the image does not fit: the same error either way
        return str(e)


def _compare(tok, records, max_len=2048, plan=True):
    """Both encoders on every record; returns (v1 records on the one-pass path, v1 records with supervised tokens).
    With a plan, only a prompt holding "▁" may take the reference path."""
    calls = []
    real = P.preprocess_v1_reference
    fast = supervised = 0
    for rec in records:
        for template in ("v1", "plain"):
            try:
                P.validate_record(rec, "", template)
            except P.ConversationError:
                continue
            ref = _encode(rec, tok, template, max_len, "reference")
            P.preprocess_v1_reference = lambda *a, **k: calls.append(1) or real(*a, **k)
            try:
                once = _encode(rec, tok, template, max_len, "once")
            finally:
                P.preprocess_v1_reference = real
            assert once == ref, (template, rec)
            if template == "v1":
                fast += not calls
                if calls and plan:
                    assert "▁" in P.render(P.reference_turns(rec, template), template), rec
                supervised += isinstance(once, P.Encoded) and any(label != P.IGNORE_INDEX for label in once.labels)
            calls.clear()
    return fast, supervised


def test_one_pass_equals_reference_tiny(tokenizers):
    tok = tokenizers["tiny"]
    recs = varied_records(120)
    fast, supervised = _compare(tok, recs)
    assert P._once_plan(tok) is not None
    assert len(recs) - 20 <= fast < len(recs)  # only a prompt holding "▁" takes the reference path
    assert supervised > len(recs) // 2


@pytest.mark.parametrize("kind", ["non-legacy", "legacy"])
def test_one_pass_equals_reference_llama_style(tokenizers, kind):
    tok = tokenizers[kind]
    recs = varied_records(120)
    fast, supervised = _compare(tok, recs)
    assert P._once_plan(tok) is not None and len(recs) - 20 <= fast < len(recs)
    assert supervised > len(recs) // 2  # non-legacy: the rounds after the first are counted one token shorter
    short = _compare(tok, recs[:40], max_len=60)  # text-only records truncated, image records cut after expansion
    assert short[0] > 0


def test_llama_style_tokenizer_reads_like_vicuna(tokenizers):
    tok = tokenizers["non-legacy"]
    assert tok.convert_ids_to_tokens(tok("USER: x</s>USER: y").input_ids)[:4] == ['<s>', '▁', 'USER:', '▁']
    after_eos = tok.convert_ids_to_tokens(tok("x</s>USER: y").input_ids)
    assert after_eos[after_eos.index('</s>') + 1] == 'USER:'  # no ▁ after a special token: non-legacy
    assert tok.convert_ids_to_tokens(tok("ж").input_ids) == ['<s>', '▁', '<0xD0>', '<0xB6>']  # byte fallback


def test_tokenizer_that_joins_across_spaces_takes_the_reference_path(tokenizers):
    """A vocabulary entry with "▁" after another character ("T:▁": the space that ends " ASSISTANT: " joins the
    instruction's last token, but not the answer's first): the one-pass counts would be wrong (checked by forcing
    them), so no plan is made and the results equal the reference implementation's."""
    import json
    import weakref

    from transformers import LlamaTokenizer

    base = tokenizers["legacy"]
    spec = json.loads(base.backend_tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    for t in ("T:", "T:▁"):
        vocab.setdefault(t, len(vocab))
    merges = [tuple(m) for m in spec["model"]["merges"]] + [("T", ":"), ("T:", "▁")]
    tok = LlamaTokenizer(vocab=vocab, merges=merges, legacy=True, add_bos_token=True)
    tok.pad_token = tok.unk_token
    tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    assert tok.convert_ids_to_tokens(tok("x ASSISTANT: ").input_ids)[-1] == "T:▁"
    assert P._once_plan(tok) is None
    recs = varied_records(30)
    assert _compare(tok, recs, plan=False)[0] == 0
    P._PLANS[id(tok)] = (weakref.ref(tok), len(tok), P._OncePlan(tok, tok.backend_tokenizer))  # forced
    with pytest.raises(AssertionError):
        _compare(tok, recs, plan=False)
    P._PLANS.pop(id(tok))
