"""Which LLaVA records are trained on, and how: one hand-built record per rule of the reference
(llava/train/train.py: LazySupervisedDataset, preprocess_multimodal, preprocess_v1 / preprocess_plain;
llava_arch.prepare_inputs_labels_for_multimodal). Expected tokens and labels are written out from the reference's
rules on the tiny tokenizer of conftest (legacy Llama-like: every text segment starts with ▁)."""
import pytest

from llava_lmm.data.conversation import VICUNA_SYSTEM
from llava_lmm.data.preprocess import IGNORE_INDEX, ConversationError, encode_record, validate_record

M = IGNORE_INDEX
N_IMG = 2
SYS = ['<s>', '▁A', '▁chat', '▁between', '▁a', '▁curious', '▁user', '▁and', '▁an', '▁artificial',
       '▁intelligence', '▁assistant.', '▁The', '▁assistant', '▁gives', '▁helpful,', '▁detailed,', '▁and',
       '▁polite', '▁answers', '▁to', '▁the', "▁user's", '▁questions.']
Q1, Q1_PIECES = "What shape is the red object?", ['▁What', '▁shape', '▁is', '▁the', '▁red', '▁object?']
Q2, Q2_PIECES = "What colour is the circle?", ['▁What', '▁colour', '▁is', '▁the', '▁circle?']


def turns(*values, first="human"):
    other = {"human": "gpt", "gpt": "human"}
    roles = [first if j % 2 == 0 else other[first] for j in range(len(values))]
    return [{"from": r, "value": v} for r, v in zip(roles, values)]


def enc(tok, rec, template="v1", n_img=N_IMG):
    return encode_record(rec, tok, template, tok.convert_tokens_to_ids("<image>"), n_img)


def pieces(tok, e):
    return tok.convert_ids_to_tokens(e.input_ids)


def supervised(tok, e):
    """Contiguous supervised spans as pieces (each label equals its id: no shift inside the dataset)."""
    spans, cur = [], []
    for i, l in zip(e.input_ids, e.labels):
        if l != M:
            assert l == i
            cur.append(tok.convert_ids_to_tokens(l))
        elif cur:
            spans.append(cur)
            cur = []
    return spans + ([cur] if cur else [])


# ----------------------------------------------------------------------------- trained on, as the reference
def test_empty_final_reply_renders_without_eos_and_is_masked(tok):
    """An empty message renders as "ASSISTANT:" with no "</s>" (Conversation.get_prompt: `if message`), so the
    only round does not split on " ASSISTANT: ": the reference's count stops at 1 token, differs from the 31 of
    the prompt, and the whole sample is masked ("tokenization mismatch") — trained on with no supervised token."""
    e = enc(tok, {"id": "e", "conversations": turns(Q1, "")})
    assert pieces(tok, e) == SYS + ['▁USER:'] + Q1_PIECES + ['▁ASSISTANT:']
    assert e.labels == [M] * len(e.input_ids) and e.mismatch


def test_empty_middle_reply_joins_the_next_instruction(tok):
    """"ASSISTANT:USER:" has no " ASSISTANT: " either: round 1 is the whole text up to the second answer, its
    instruction part (masked) runs up to "ASSISTANT: "; only "red</s>" is supervised."""
    e = enc(tok, {"id": "m", "conversations": turns(Q1, "", Q2, "red")})
    assert pieces(tok, e) == SYS + ['▁USER:'] + Q1_PIECES + ['▁ASSISTANT:', 'USER', ':'] + Q2_PIECES + [
        '▁ASSISTANT:', '▁red', '</s>']
    assert supervised(tok, e) == [['▁red', '</s>']] and not e.mismatch


def test_first_turn_from_gpt_is_dropped(tok):
    e = enc(tok, {"id": "g", "conversations": turns("circles, squares and triangles", Q2, "red", first="gpt")})
    same = enc(tok, {"id": "h", "conversations": turns(Q2, "red")})
    assert e.input_ids == same.input_ids and e.labels == same.labels
    assert supervised(tok, e) == [['▁red', '</s>']]
    assert validate_record({"conversations": turns("x", Q2, "red", first="gpt")}) == ["first turn from gpt dropped"]


def test_last_turn_from_human_masks_the_sample(tok):
    """"...red</s>USER: Q " — the last round has no answer: the count stops before it, the sample is masked."""
    e = enc(tok, {"id": "o", "conversations": turns(Q2, "red", Q1)})
    assert pieces(tok, e) == SYS + ['▁USER:'] + Q2_PIECES + ['▁ASSISTANT:', '▁red', '</s>', '▁USER:'] + Q1_PIECES + [
        '▁']
    assert e.labels == [M] * len(e.input_ids) and e.mismatch


def test_empty_human_turn_masks_the_sample(tok):
    e = enc(tok, {"id": "u", "conversations": turns("", "red")})  # "USER:ASSISTANT: red</s>"
    assert pieces(tok, e) == SYS + ['▁USER:', 'A', 'SS', 'ISTAN', 'T:', '▁red', '</s>']
    assert e.labels == [M] * len(e.input_ids) and e.mismatch


@pytest.mark.parametrize("first", [Q2 + "\n<image>", "<image>\n" + Q2, "<image> " + Q2 + " <image>", Q2 + "<image>"])
def test_image_anywhere_in_the_first_turn_goes_to_the_front_once(tok, first):
    """preprocess_multimodal removes every <image> of the turn and puts one "<image>\\n" in front."""
    e = enc(tok, {"id": "a", "image": "coco/train2017/000000000009.jpg", "conversations": turns(first, "red")})
    assert pieces(tok, e) == SYS + ['▁USER:', '▁'] + ['<image>'] * N_IMG + ['▁', '\n', 'W', 'hat', '▁colour', '▁is',
                                                                            '▁the', '▁circle?', '▁ASSISTANT:',
                                                                            '▁red', '</s>']
    assert supervised(tok, e) == [['▁red', '</s>']] and e.uses_image


def test_image_in_a_later_turn_is_placed_there(tok):
    rec = {"id": "l", "image": "gqa/images/1.jpg", "conversations": turns(Q1, "circle", Q2 + " <image>", "red")}
    e = enc(tok, rec)
    assert pieces(tok, e) == SYS + ['▁USER:'] + Q1_PIECES + ['▁ASSISTANT:', '▁circle', '</s>', '▁USER:', '▁'] + [
        '<image>'] * N_IMG + ['▁', '\n', 'W', 'hat', '▁colour', '▁is', '▁the', '▁circle?', '▁ASSISTANT:', '▁red', '</s>']
    assert supervised(tok, e) == [['▁circle', '</s>'], ['▁red', '</s>']] and e.uses_image


def test_image_in_a_gpt_turn_is_placed_in_the_answer(tok):
    """The answer becomes "<image>\\nred": the instruction mask ends at "ASSISTANT:", so the dangling "▁" before
    the image and the answer after it are supervised; the image positions are not (−100)."""
    e = enc(tok, {"id": "ga", "image": "vg/VG_100K/2.jpg", "conversations": turns(Q2, "<image> red")})
    assert pieces(tok, e)[len(SYS):] == ['▁USER:'] + Q2_PIECES + ['▁ASSISTANT:', '▁'] + ['<image>'] * N_IMG + [
        '▁', '\n', 're', 'd', '</s>']
    assert supervised(tok, e) == [['▁'], ['▁', '\n', 're', 'd', '</s>']]


def test_image_record_without_image_token_trains_as_text(tok):
    """The reference loads the image, finds no −200 in the ids and splices a zero-length slice of its features:
    the sample is text only."""
    rec = {"id": "n", "image": "ocr_vqa/images/3.jpg", "conversations": turns(Q2, "red")}
    e = enc(tok, rec)
    text = enc(tok, {"id": "n", "conversations": turns(Q2, "red")})
    assert e.input_ids == text.input_ids and e.labels == text.labels and not e.uses_image
    assert validate_record(rec) == ["image not used"]


def test_text_only_record_with_image_text_is_plain_text(tok):
    """The reference's tokenizer has no <image> token and a text-only record skips preprocess_multimodal: the
    characters are tokenised as text, never as the placeholder."""
    e = enc(tok, {"id": "t", "conversations": turns("What is <image> here?", "red")})
    assert pieces(tok, e)[len(SYS):] == ['▁USER:', '▁What', '▁is', '▁', '<', 'i', 'mage', '>', '▁h', 'e', 're', '?',
                                         '▁ASSISTANT:', '▁red', '</s>']
    assert tok.convert_tokens_to_ids("<image>") not in e.input_ids and not e.uses_image
    assert supervised(tok, e) == [['▁red', '</s>']]


def test_extra_fields_are_ignored(tok):
    base = {"id": "s", "conversations": turns(Q2, "red")}
    with_model = dict(base, model="", conversations=[dict(t, extra=1) for t in base["conversations"]])
    assert enc(tok, with_model).input_ids == enc(tok, base).input_ids
    assert enc(tok, {"conversations": turns(Q2, "red")}).input_ids == enc(tok, base).input_ids  # no id either


def test_plain_ignores_roles_and_question_and_trains_an_empty_caption(tok):
    """preprocess_plain: the first turn becomes just "<image>" and roles are not read; an empty caption leaves the
    separator "\\n" as the only target."""
    rec = {"id": "p", "image": "00453/004539375.jpg",
           "conversations": [{"from": "user", "value": "Describe this.\n<image>"}, {"from": "bot", "value": ""}]}
    e = enc(tok, rec, "plain")
    assert pieces(tok, e) == ['<s>'] + ['<image>'] * N_IMG + ['▁', '\n']
    assert e.labels[:1 + N_IMG] == [M] * (1 + N_IMG) and supervised(tok, e) == [['▁', '\n']]
    same = dict(rec, conversations=[{"from": "human", "value": "<image>"}, {"from": "gpt", "value": ""}])
    assert enc(tok, same, "plain").input_ids == e.input_ids


# ----------------------------------------------------------------------------- refused: the reference crashes or corrupts
@pytest.mark.parametrize("rec,template,msg", [
    ({"id": "a", "conversations": "nope"}, "v1", "missing or empty"),  # KeyError / IndexError
    ({"id": "b", "conversations": [{"from": "human", "value": None}, {"from": "gpt", "value": "x"}]}, "v1",
     "string 'value'"),  # "<image>" in None: TypeError; None.split() in the length sampler
    ({"id": "c", "conversations": [{"from": "user", "value": "q"}, {"from": "gpt", "value": "x"}]}, "v1",
     "'from' 'user'"),  # roles["user"]: KeyError
    ({"id": "d", "conversations": turns("q", "x", "y")[:2] + turns("z", "w", first="gpt")}, "v1",
     "wrong role order"),  # assert role == conv.roles[j % 2]
    ({"id": "e", "image": "", "conversations": turns("<image>q", "x")}, "v1", "'image' must be a file path"),  # dir
    ({"id": "f", "image": None, "conversations": turns("<image>q", "x")}, "v1", "'image' must be a file path"),
    ({"id": "g", "image": "a.jpg", "conversations": turns("<image>q", "x", "<image>y", "z")}, "v1",
     r"turns \[0, 2\]"),  # two sentinels, one image: the next sample's image
    ({"id": "h", "image": "a.jpg", "conversations": turns("<image>q", "x", "y", "z")}, "plain", "exactly 2 turns"),
    ({"id": "i", "image": "a.jpg", "conversations": turns("q", "x")}, "plain", "exactly 2 turns"),
    ({"id": "j", "image": "a.jpg", "conversations": turns("<image>", "a <image>")}, "plain", "in the caption"),
    ({"id": "k", "conversations": turns("<image>q", "x")}, "plain", "needs an 'image'"),  # a zero image spliced in
])
def test_refused_where_the_reference_cannot_train(tok, rec, template, msg):
    with pytest.raises(ConversationError, match=msg) as e:
        enc(tok, rec, template)
    assert f"record {rec['id']!r}" in str(e.value)


def test_accepted_and_refused_match_vicuna_text(tok):
    """The rendered training text of a multi-turn image record is the reference's, word for word."""
    from llava_lmm.data.preprocess import reference_turns, render

    rec = {"image": "x.jpg", "conversations": turns(Q2 + "\n<image>", "red", Q1, "circle")}
    assert render(reference_turns(rec, "v1"), "v1") == (
        f"{VICUNA_SYSTEM} USER: <image>\n{Q2} ASSISTANT: red</s>USER: {Q1} ASSISTANT: circle</s>")
