"""LLaVA record encoding, records/s per core: the previous encoder (whole prompt + every round and instruction
tokenised again) vs the one-pass encoder (each round tokenised once), side by side in one run, on a mix665k-like
record mix, with the tiny tokenizer and a Llama-class (Vicuna-v1.5-like, non-legacy, byte fallback) tokenizer;
outputs compared record by record. Also the cost of the up-front image check per image.

    python benchmarks/data_llava.py [--quick] [--json OUT]

``measure(quick)`` returns the figures (``llava_encode_speedup`` = new ÷ old, the smaller of the two tokenizers;
``llava_encode_identical``; records/s old and new per tokenizer; ``llava_image_check_ms``).
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core: no Rust thread pool

from llava_lmm.data import preprocess as P  # noqa: E402
from llava_lmm.data.tokenizer import (corpus_from_llava_json, train_llama_style_tokenizer,  # noqa: E402
                                      train_tiny_tokenizer)

NUM_IMAGE_TOKENS = 576
MAX_LEN = 2048

# ----------------------------------------------------------------------------- the mix
WORDS = ("the a an of and to in is it on with for at by from that this there are was were be has have what which "
         "who where when how many much color colour shape size left right top bottom front behind next near man "
         "woman person people dog cat horse bird car bus truck train street road building house room table chair "
         "window door sign text book cover title author kitchen bathroom sky tree grass water beach snow field "
         "plate food pizza sandwich cake ball game player team shirt hat red blue green yellow white black brown "
         "orange large small two three four several standing sitting walking holding wearing looking playing "
         "eating riding parked open closed old new young bright dark wooden metal plastic glass image picture "
         "photo scene shows appears seems likely because while also however which could would might important "
         "detail describe explain reason suggests possibly located background foreground area region object").split()
SHORT = "Answer the question using a single word or phrase."


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _sentences(rng: random.Random, lo: int, hi: int) -> str:
    out, n = [], rng.randint(lo, hi)
    while sum(len(s.split()) for s in out) < n:
        out.append(_words(rng, 6, 18).capitalize() + rng.choice([".", ".", ",", "!"]))
    return " ".join(out)


def _box(rng: random.Random) -> str:
    return "[" + ", ".join(f"{rng.random():.2f}" for _ in range(4)) + "]"


def mix665k_like(n: int, seed: int = 0) -> list[dict]:
    """Records shaped like llava_v1_5_mix665k's sources (shares as the paper's mixture): short-answer VQA with many
    rounds (VQAv2, GQA, OCR-VQA, OK/A-OKVQA: 47 %), region captions with boxes (RefCOCO, VG: 19 %), LLaVA-Instruct
    conversations (10 %) and long single answers (15 %), ShareGPT text-only multi-turn with long replies (6 %),
    TextCaps captions (3 %); <image> before or after the first question."""
    rng = random.Random(seed)
    kinds = ["vqa"] * 47 + ["region"] * 19 + ["conv"] * 10 + ["detail"] * 15 + ["sharegpt"] * 6 + ["caption"] * 3
    recs = []
    for i in range(n):
        kind = rng.choice(kinds)
        if kind == "vqa":
            qa = [(_words(rng, 4, 10).capitalize() + "?\n" + SHORT, _words(rng, 1, 2)) for _ in range(rng.randint(2, 10))]
        elif kind == "region":
            qa = [("Please provide a short description for this region: " + _box(rng), _words(rng, 2, 6))
                  for _ in range(rng.randint(2, 10))]
        elif kind == "conv":
            qa = [(_words(rng, 6, 16).capitalize() + "?", _sentences(rng, 20, 80)) for _ in range(rng.randint(2, 6))]
        elif kind == "detail":
            qa = [(_words(rng, 6, 12).capitalize() + "?", _sentences(rng, 60, 160))]
        elif kind == "sharegpt":
            qa = [(_sentences(rng, 10, 60), _sentences(rng, 80, 300)) for _ in range(rng.randint(1, 5))]
        else:
            qa = [("Provide a one-sentence caption for the provided image.", _sentences(rng, 8, 16))]
        conv = []
        for q, a in qa:
            conv += [{"from": "human", "value": q}, {"from": "gpt", "value": a}]
        rec = {"id": f"{kind}-{i}", "conversations": conv}
        if kind != "sharegpt":
            rec["image"] = f"coco/train2017/{i:012d}.jpg"
            conv[0]["value"] = ("<image>\n" + conv[0]["value"]) if rng.random() < 0.5 else (conv[0]["value"] + "\n<image>")
        recs.append(rec)
    return recs


# ----------------------------------------------------------------------------- the previous encoder (kept to compare)
def _old_preprocess_multimodal(conversations):
    out = copy.deepcopy(conversations)
    for turn in out:
        if P.DEFAULT_IMAGE_TOKEN in turn["value"]:
            v = turn["value"].replace(P.DEFAULT_IMAGE_TOKEN, "").strip()
            turn["value"] = (P.DEFAULT_IMAGE_TOKEN + "\n" + v).strip()
    return out


def _old_preprocess_v1(conversations, tokenizer, has_image, template, max_len):
    conv = P.get_template(template)
    prompt = P.render(conversations, template)
    if has_image:
        ids = P.tokenizer_image_token(prompt, tokenizer)
    else:
        ids = tokenizer(prompt, max_length=max_len, truncation=True).input_ids
    labels = list(ids)
    pad = tokenizer.pad_token_id
    total_len = sum(1 for t in ids if t != pad)
    sep = conv.sep + conv.roles[1] + ": "
    rounds = prompt.split(conv.sep2)
    cur_len = 1
    labels[:cur_len] = [P.IGNORE_INDEX] * cur_len
    legacy = P._is_legacy(tokenizer)

    def n_tok(text):
        return len(P.tokenizer_image_token(text, tokenizer)) if has_image else len(tokenizer(text).input_ids)

    for i, rou in enumerate(rounds):
        if rou == "":
            break
        parts = rou.split(sep)
        if len(parts) != 2:
            break
        parts[0] += sep
        round_len = n_tok(rou)
        instruction_len = n_tok(parts[0]) - 2
        if i != 0 and not legacy:
            round_len -= 1
            instruction_len -= 1
        end = min(cur_len + instruction_len, len(labels))
        labels[cur_len:end] = [P.IGNORE_INDEX] * max(0, end - cur_len)
        cur_len += round_len
    labels[cur_len:] = [P.IGNORE_INDEX] * max(0, len(labels) - cur_len)
    mismatch = False
    if cur_len < max_len and cur_len != total_len:
        labels = [P.IGNORE_INDEX] * len(labels)
        mismatch = True
    return ids, labels, mismatch


def _old_expand(ids, labels, image_token_id, n):
    out_ids, out_labels = [], []
    for t, l in zip(ids, labels):
        if t == P.IMAGE_TOKEN_INDEX:
            out_ids += [image_token_id] * n
            out_labels += [P.IGNORE_INDEX] * n
        else:
            out_ids.append(t)
            out_labels.append(l)
    return out_ids, out_labels


def old_encode_record(rec, tokenizer, template, image_token_id, num_image_tokens, max_len) -> P.Encoded:
    """The encoder as it was before the one-pass change (its record checks passed on this mix)."""
    has_image = rec.get("image") not in (None, "")
    convs = _old_preprocess_multimodal(rec["conversations"]) if has_image else rec["conversations"]
    ids, labels, mismatch = _old_preprocess_v1(convs, tokenizer, has_image, template, max_len)
    if has_image:
        ids, labels = _old_expand(ids, labels, image_token_id, num_image_tokens)
    truncated = len(ids) > max_len
    if truncated:
        ids, labels = ids[:max_len], labels[:max_len]
    return P.Encoded(ids, labels, truncated, mismatch, has_image)


# ----------------------------------------------------------------------------- measurement
def _rate(fn, records, repeats: int) -> float:
    """Median records/s of ``fn`` over ``repeats`` passes."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for r in records:
            fn(r)
        rates.append(len(records) / (time.perf_counter() - t))
    return statistics.median(rates)


def image_check_ms(n: int) -> float:
    """ms per image of the up-front check (``image_problem``: open, header, size, verify) on ``n`` JPEG files
    of COCO's size (640x480, quality 90; page-cached, distinct files)."""
    import numpy as np
    from PIL import Image

    from llava_lmm.data.dataset import image_problem

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    img = Image.fromarray(base).resize((640, 480), Image.BICUBIC)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for k in range(n):
            p = Path(d) / f"{k:012d}.jpg"
            img.save(p, quality=90)
            paths.append(p)
        for p in paths[:20]:
            image_problem(p)
        t = time.perf_counter()
        bad = [p for p in paths if image_problem(p)]
        dt = time.perf_counter() - t
    assert not bad
    return dt / n * 1e3


def measure(quick: bool = False) -> dict:
    n, repeats = (400, 3) if quick else (2000, 5)
    records = mix665k_like(n)
    corpus = corpus_from_llava_json(records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizers = {"tiny": train_tiny_tokenizer(corpus, vocab_size=400),
                      "llama": train_llama_style_tokenizer(corpus, vocab_size=4000)}
    logging.getLogger("llava_lmm.data.preprocess").setLevel(logging.ERROR)
    out: dict = {"llava_records": n, "llava_mix": "mix665k-like (47% short VQA, 19% region, 10% conversation, "
                 "15% long answer, 6% text-only ShareGPT, 3% caption)"}
    identical = True
    for name, tok in tokenizers.items():
        image_id = tok.convert_tokens_to_ids("<image>")

        def new(r, tok=tok, image_id=image_id):
            return P.encode_record(r, tok, "v1", image_id, NUM_IMAGE_TOKENS, MAX_LEN)

        def old(r, tok=tok, image_id=image_id):
            return old_encode_record(r, tok, "v1", image_id, NUM_IMAGE_TOKENS, MAX_LEN)

        same = all(new(r) == old(r) for r in records)
        supervised = sum(any(label != P.IGNORE_INDEX for label in new(r).labels) for r in records)
        rate_old, rate_new = [], []
        for _ in range(repeats):  # interleaved: both see the same machine state
            rate_old.append(_rate(old, records, 1))
            rate_new.append(_rate(new, records, 1))
        o, w = statistics.median(rate_old), statistics.median(rate_new)
        identical &= same
        out.update({f"llava_records_s_old_{name}": round(o, 1), f"llava_records_s_new_{name}": round(w, 1),
                    f"llava_encode_speedup_{name}": round(w / o, 2), f"llava_encode_identical_{name}": same,
                    f"llava_supervised_records_{name}": supervised,
                    f"llava_tokens_per_record_{name}": round(sum(len(new(r).input_ids) for r in records) / n, 1)})
    out["llava_encode_speedup"] = min(out[f"llava_encode_speedup_{k}"] for k in tokenizers)
    out["llava_encode_identical"] = identical
    out["llava_image_check_ms"] = round(image_check_ms(200 if quick else 1000), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="400 records, 3 passes, 200 images (about 30 s)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args(argv)
    res = measure(a.quick)
    for k, v in res.items():
        print(f"{k}: {v}")
    if a.json:
        from shared.io import atomic_write_json

        atomic_write_json(a.json, res)
    return 0 if res["llava_encode_identical"] else 1


if __name__ == "__main__":
    sys.exit(main())
