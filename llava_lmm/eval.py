"""``python -m llava_lmm.eval`` — answer generation for LLaVA eval question files, sharding/merge, local scoring.

    python -m llava_lmm.eval answer --model DIR --questions q.jsonl --image-folder IMG --out answers.jsonl \\
        [--batch-size 8 --max-new-tokens 128 --num-chunks 8 --chunk-idx 0 --temperature 0]
    python -m llava_lmm.eval merge --inputs a_0.jsonl a_1.jsonl ... --out merge.jsonl
    python -m llava_lmm.eval score --task pope|sqa|textvqa|gqa|exact --answers merge.jsonl --annotations FILE

Question lines: ``{"question_id", "image", "text", ...}`` (LLaVA eval format; ``image`` optional). Answer
lines: ``{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}``. Under ``torchrun`` the
questions are sharded by rank automatically and rank 0 merges (in question order). Server-scored sets (VQAv2,
VizWiz, MMBench, MM-Vet) use the answer files as they are / with the reference converters.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from pathlib import Path

import torch

import llava_lmm  # noqa: F401

from .data.conversation import inference_prompt
from .data.image import open_image, process_images


def load_model(model_dir: str | Path, dtype=torch.float32):
    from transformers import AutoTokenizer, CLIPImageProcessor, LlavaForConditionalGeneration

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no model (config.json) in {model_dir}")
    model = LlavaForConditionalGeneration.from_pretrained(model_dir, dtype=dtype).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    proc = CLIPImageProcessor.from_pretrained(model_dir)
    meta = {}
    if (model_dir / "llava_lmm.json").is_file():
        meta = json.loads((model_dir / "llava_lmm.json").read_text())
    meta.setdefault("template", getattr(model.config, "conv_template", "v1"))
    meta.setdefault("image_aspect_ratio", getattr(model.config, "image_aspect_ratio", "pad"))
    return model, tok, proc, meta


def read_jsonl(path: str | Path, what: str = "jsonl file") -> list[dict]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise ValueError(f"{what} {path}, line {n}: not valid json: {e}") from None
    return out


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    from shared.io import atomic_write_text

    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


def encode_prompt(tok, prompt: str, num_image_tokens: int, image_token_id: int) -> list[int]:
    from .data.preprocess import IMAGE_TOKEN_INDEX, tokenizer_image_token

    ids = tokenizer_image_token(prompt, tok)
    out = []
    for t in ids:
        out += [image_token_id] * num_image_tokens if t == IMAGE_TOKEN_INDEX else [t]
    return out


@torch.no_grad()
def generate_answers(model, tok, proc, questions: list[dict], image_folder: str | Path | None, template: str = "v1",
                     aspect: str = "pad", batch_size: int = 8, max_new_tokens: int = 128, temperature: float = 0.0,
                     model_id: str = "llava") -> list[dict]:
    vcfg = model.config.vision_config
    n_img = vcfg.num_image_tokens if hasattr(vcfg, "num_image_tokens") else (vcfg.image_size // vcfg.patch_size) ** 2
    img_id = model.config.image_token_id
    rows = []
    for start in range(0, len(questions), batch_size):
        chunk = questions[start:start + batch_size]
        encs, images, prompts = [], [], []
        for q in chunk:
            if "question_id" not in q or "text" not in q:
                raise ValueError(f"question line needs 'question_id' and 'text': {json.dumps(q)[:120]}")
            has_img = bool(q.get("image"))
            prompt = inference_prompt(q["text"].replace("<image>", "").strip() if has_img else q["text"],
                                      template, with_image=has_img)
            prompts.append(prompt)
            encs.append(encode_prompt(tok, prompt, n_img, img_id))
            if has_img:
                if image_folder is None:
                    raise ValueError(f"question {q['question_id']} has an image but no --image-folder was given")
                images.append(open_image(Path(image_folder) / q["image"]))
        n = max(len(e) for e in encs)
        ids = torch.full((len(encs), n), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, e in enumerate(encs):  # left padding for batched generation
            ids[k, n - len(e):] = torch.tensor(e)
            mask[k, n - len(e):] = 1
        kw = {}
        if images:
            kw["pixel_values"] = process_images(images, proc, aspect).to(next(model.parameters()).dtype)
        gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                             do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
                             top_p=None, top_k=None, num_beams=1, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id, **kw)
        for q, prompt, out in zip(chunk, prompts, gen[:, n:]):
            rows.append({"question_id": q["question_id"], "prompt": prompt,
                         "text": tok.decode(out, skip_special_tokens=True).strip(), "answer_id": uuid.uuid4().hex,
                         "model_id": model_id, "metadata": {}})
    return rows


def shard(items: list, num_chunks: int, idx: int) -> list:
    """Contiguous chunks, as the reference ``get_chunk``."""
    if not 0 <= idx < num_chunks:
        raise ValueError(f"chunk index {idx} out of range for {num_chunks} chunks")
    size = -(-len(items) // num_chunks)
    return items[idx * size:(idx + 1) * size]


def cmd_answer(a) -> int:
    questions = read_jsonl(a.questions, "question file")
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    num_chunks, idx = (a.num_chunks, a.chunk_idx) if a.num_chunks > 1 else (world, rank)
    mine = shard(questions, num_chunks, idx)
    model, tok, proc, meta = load_model(a.model)
    rows = generate_answers(model, tok, proc, mine, a.image_folder, a.conv_mode or meta["template"],
                            meta["image_aspect_ratio"], a.batch_size, a.max_new_tokens, a.temperature,
                            Path(a.model).name)
    out = Path(a.out)
    if num_chunks > 1:
        part = out.with_name(f"{out.stem}.{num_chunks}_{idx}{out.suffix}")
        write_jsonl(part, rows)
        if a.num_chunks <= 1 and world > 1:  # torchrun: rank 0 waits for the others and merges
            import torch.distributed as dist

            dist.init_process_group("gloo")
            dist.barrier()
            if rank == 0:
                parts = [out.with_name(f"{out.stem}.{num_chunks}_{i}{out.suffix}") for i in range(num_chunks)]
                write_jsonl(out, [r for p in parts for r in read_jsonl(p)])
            dist.destroy_process_group()
    else:
        write_jsonl(out, rows)
    print(f"wrote {len(rows)} answers to {out}")
    return 0


def cmd_merge(a) -> int:
    rows = [r for p in a.inputs for r in read_jsonl(p, "answer file")]
    write_jsonl(a.out, rows)
    print(f"merged {len(rows)} answers into {a.out}")
    return 0


def cmd_score(a) -> int:
    from shared.io import atomic_write_json, load_json

    from . import metrics

    answers = read_jsonl(a.answers, "answer file")
    if a.task == "pope":
        res = metrics.pope_score(answers, read_jsonl(a.annotations, "POPE label file"))
    elif a.task == "textvqa":
        ann = load_json(a.annotations, "TextVQA annotations")
        res = metrics.textvqa_score(answers, ann["data"] if isinstance(ann, dict) else ann)
    elif a.task == "sqa":
        res = metrics.sqa_score(answers, load_json(a.annotations, "ScienceQA problems.json"))
    elif a.task == "gqa":
        res = metrics.gqa_score(answers, load_json(a.annotations, "GQA questions json"))
    else:
        gt = {r["question_id"]: r["answer"] for r in read_jsonl(a.annotations, "answer key")}
        res = metrics.exact_match_score(answers, gt)
    print(json.dumps(res, indent=2))
    if a.out:
        atomic_write_json(a.out, res)
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llava_lmm.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("answer", help="generate answers for a question jsonl")
    q.add_argument("--model", required=True, help="model dir written by llava_lmm.train")
    q.add_argument("--questions", required=True)
    q.add_argument("--image-folder")
    q.add_argument("--out", required=True)
    q.add_argument("--conv-mode", default=None, help="template (default: the model's, v1)")
    q.add_argument("--batch-size", type=int, default=8)
    q.add_argument("--max-new-tokens", type=int, default=128)
    q.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    q.add_argument("--num-chunks", type=int, default=1)
    q.add_argument("--chunk-idx", type=int, default=0)
    m = sub.add_parser("merge", help="concatenate chunk answer files")
    m.add_argument("--inputs", nargs="+", required=True)
    m.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score an answer file locally")
    s.add_argument("--task", required=True, choices=["pope", "sqa", "textvqa", "gqa", "exact"])
    s.add_argument("--answers", required=True)
    s.add_argument("--annotations", required=True)
    s.add_argument("--out")
    a = p.parse_args(argv)
    return {"answer": cmd_answer, "merge": cmd_merge, "score": cmd_score}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
