"""Test 1: templates, reference tokenisation with the <image> sentinel, label masks token by token."""
import pytest

from llava_lmm.data.conversation import VICUNA_SYSTEM, get_template, inference_prompt
from llava_lmm.data.preprocess import (IGNORE_INDEX, IMAGE_TOKEN_INDEX, ConversationError, OversizeError,
                                       encode_record, preprocess_multimodal, render, tokenizer_image_token)

SYS_PIECES = ['<s>', '▁A', '▁chat', '▁between', '▁a', '▁curious', '▁user', '▁and', '▁an', '▁artificial',
              '▁intelligence', '▁assistant.', '▁The', '▁assistant', '▁gives', '▁helpful,', '▁detailed,', '▁and',
              '▁polite', '▁answers', '▁to', '▁the', "▁user's", '▁questions.']
M = IGNORE_INDEX


def pieces(tok, ids):
    return [("<IMG>" if i == IMAGE_TOKEN_INDEX else tok.convert_ids_to_tokens(i)) for i in ids]


def supervised(tok, enc):
    """Contiguous supervised spans as token pieces."""
    spans, cur = [], []
    for i, l in zip(enc.input_ids, enc.labels):
        if l != M:
            assert l == i
            cur.append(tok.convert_ids_to_tokens(l))
        elif cur:
            spans.append(cur)
            cur = []
    return spans + ([cur] if cur else [])


def test_templates_render_exactly():
    turns = [{"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A dog."},
             {"from": "human", "value": "Color?"}, {"from": "gpt", "value": "Brown."}]
    assert render(turns, "v1") == (VICUNA_SYSTEM + " USER: <image>\nWhat is this? ASSISTANT: A dog.</s>"
                                   "USER: Color? ASSISTANT: Brown.</s>")
    assert render(turns[:2], "plain") == "<image>A dog.\n"
    assert inference_prompt("Q?") == VICUNA_SYSTEM + " USER: <image>\nQ? ASSISTANT:"
    assert get_template("llava_v1").system.startswith("A chat between a curious human")
    with pytest.raises(ValueError, match="unknown conversation template"):
        get_template("nope")


def test_image_moved_to_front():
    out = preprocess_multimodal([{"from": "human", "value": "Describe it.\n<image>"}, {"from": "gpt", "value": "x"}])
    assert out[0]["value"] == "<image>\nDescribe it."


def test_tokenizer_is_llama_like(tok):
    assert (tok.pad_token_id, tok.bos_token_id, tok.eos_token_id) == (0, 1, 2)
    assert tok.convert_ids_to_tokens(tok("ASSISTANT: ").input_ids) == ['<s>', '▁ASSISTANT:', '▁']  # dangling space
    assert tok.convert_ids_to_tokens(tok("red</s>USER:").input_ids) == ['<s>', '▁red', '</s>', '▁USER:']  # legacy


def test_v1_multiturn_image_exact(tok):
    img = tok.convert_tokens_to_ids("<image>")
    rec = {"id": "a", "image": "x.jpg", "conversations": [
        {"from": "human", "value": "What colour is the circle?\n<image>"}, {"from": "gpt", "value": "red"},
        {"from": "human", "value": "What shape is the red object?"}, {"from": "gpt", "value": "circle"}]}
    enc = encode_record(rec, tok, "v1", img, 3)
    expected = SYS_PIECES + ['▁USER:', '▁', '<image>', '<image>', '<image>', '▁', '\n', 'W', 'hat', '▁colour', '▁is',
                             '▁the', '▁circle?', '▁ASSISTANT:', '▁red', '</s>', '▁USER:', '▁What', '▁shape', '▁is',
                             '▁the', '▁red', '▁object?', '▁ASSISTANT:', '▁circle', '</s>']
    assert tok.convert_ids_to_tokens(enc.input_ids) == expected
    sup = [k for k, l in enumerate(enc.labels) if l != M]
    n = len(SYS_PIECES)
    assert sup == [n + 14, n + 15, n + 24, n + 25]  # ▁red </s>  ▁circle </s>
    assert supervised(tok, enc) == [['▁red', '</s>'], ['▁circle', '</s>']]
    assert not enc.truncated and not enc.mismatch


def test_v1_text_only_exact(tok):
    rec = {"id": "t", "conversations": [{"from": "human", "value": "Which shapes exist in this world?"},
                                        {"from": "gpt", "value": "circles, squares and triangles"}]}
    enc = encode_record(rec, tok, "v1", tok.convert_tokens_to_ids("<image>"), 3)
    assert tok.convert_ids_to_tokens(enc.input_ids)[len(SYS_PIECES):] == [
        '▁USER:', '▁Which', '▁shapes', '▁exist', '▁in', '▁this', '▁world?', '▁ASSISTANT:', '▁circles,', '▁squares',
        '▁and', '▁triangles', '</s>']
    assert supervised(tok, enc) == [['▁circles,', '▁squares', '▁and', '▁triangles', '</s>']]
    assert enc.labels[:len(SYS_PIECES) + 8] == [M] * (len(SYS_PIECES) + 8)


def test_plain_exact(tok):
    img = tok.convert_tokens_to_ids("<image>")
    rec = {"id": "p", "image": "x.jpg", "conversations": [
        {"from": "human", "value": "Describe the image concisely.\n<image>"},
        {"from": "gpt", "value": "a red circle on sky"}]}
    enc = encode_record(rec, tok, "plain", img, 4)
    assert tok.convert_ids_to_tokens(enc.input_ids) == ['<s>'] + ['<image>'] * 4 + [
        '▁a', '▁red', '▁circle', '▁on', '▁sky', '\n']
    assert enc.labels[:5] == [M] * 5  # BOS + image: the reference's len(tokenize("<image>")) = 2 before expansion
    assert supervised(tok, enc) == [['▁a', '▁red', '▁circle', '▁on', '▁sky', '\n']]


def test_truncated_keeps_prefix_and_counts(tok):
    img = tok.convert_tokens_to_ids("<image>")
    rec = {"id": "a", "image": "x.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat colour is the circle?"}, {"from": "gpt", "value": "red"},
        {"from": "human", "value": "What shape is the red object?"}, {"from": "gpt", "value": "circle"}]}
    full = encode_record(rec, tok, "v1", img, 3, model_max_length=2048)
    cut = encode_record(rec, tok, "v1", img, 3, model_max_length=len(full.input_ids) - 3)
    assert cut.truncated and not full.truncated
    assert cut.input_ids == full.input_ids[:-3] and cut.labels == full.labels[:-3]
    assert supervised(tok, cut) == [['▁red', '</s>']]
    with pytest.raises(OversizeError, match="do not fit model_max_length"):
        encode_record(rec, tok, "v1", img, 500, model_max_length=100)


def test_parity_chunked_vs_whole_string(tok):
    """Reference: chunks around <image> tokenised separately + sentinel; HF: whole string with <image> special."""
    img = tok.convert_tokens_to_ids("<image>")
    for prompt in [inference_prompt("What colour is the circle?\nAnswer the question using a single word or phrase."),
                   "<image>a red circle on sky\n",
                   render([{"from": "human", "value": "<image>\nHow many red circles are there?"},
                           {"from": "gpt", "value": "two"}], "v1")]:
        ref = tokenizer_image_token(prompt, tok)
        assert ref.count(IMAGE_TOKEN_INDEX) == 1
        whole = tok(prompt).input_ids
        assert [img if t == IMAGE_TOKEN_INDEX else t for t in ref] == whole


def test_non_legacy_off_by_one_branch(tok, caplog):
    """With legacy=False the reference subtracts 1 per later round; on a legacy tokenizer that mismatches, and
    the reference rule then masks the whole sample with a warning."""
    import copy

    t2 = copy.deepcopy(tok)
    t2.init_kwargs["legacy"] = False
    rec = {"id": "a", "conversations": [{"from": "human", "value": "What colour?"}, {"from": "gpt", "value": "red"},
                                        {"from": "human", "value": "Shape?"}, {"from": "gpt", "value": "circle"}]}
    enc = encode_record(rec, t2, "v1", 5, 3)
    assert enc.mismatch and all(l == M for l in enc.labels)
    assert "tokenization mismatch" in caplog.text
    one_round = dict(rec, conversations=rec["conversations"][:2])
    assert not encode_record(one_round, t2, "v1", 5, 3).mismatch  # the correction only touches rounds ≥ 2


@pytest.mark.parametrize("rec,msg", [
    ({"id": "e", "conversations": []}, "missing or empty"),
    ({"id": "r2", "conversations": [{"from": "human", "value": "x"}, {"from": "human", "value": "y"}]}, "wrong role order"),
    ({"id": "i", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image>x"}, {"from": "gpt", "value": "y"},
                                                     {"from": "human", "value": "<image>z"}, {"from": "gpt", "value": "w"}]},
     r"'<image>' in turns \[0, 2\]"),
])
def test_bad_conversations(tok, rec, msg):
    """What the reference cannot train on (more cases, each with the reference's behaviour: test_records.py)."""
    with pytest.raises(ConversationError, match=msg):
        encode_record(rec, tok, "v1", 5, 3)
