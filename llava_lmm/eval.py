"""``python -m llava_lmm.eval`` — answers for LLaVA's eval question files, sharding/merge, scoring.

    python -m llava_lmm.eval answer --model DIR --questions FILE --image-folder IMG --out answers.jsonl \\
        [--single-pred-prompt --lang cn --batch-size 8 --max-new-tokens 128 --num-chunks 8 --chunk-idx 0]
    python -m llava_lmm.eval merge --inputs a_0.jsonl a_1.jsonl ... --out merge.jsonl
    python -m llava_lmm.eval score --task TASK --answers merge.jsonl [--annotations A --questions Q --submission S]

Question files as LLaVA's runners read them, told apart by content: ``{"question_id", "image", "text"}`` jsonl
(``model_vqa_loader``), the ScienceQA json list (``model_vqa_science``) and the MMBench tsv (``model_vqa_mmbench``).
Answer lines as theirs: ``{"question_id", "prompt", "text", "answer_id", "model_id", "metadata"}`` with ``prompt``
the question as the reference records it. ``answer`` appends each answer as it is made and, run again, continues a partial file;
a question whose image cannot be read is skipped and counted. Under ``torchrun`` the questions are sharded by rank
and rank 0 merges in question order. ``score --help`` lists the inputs of every benchmark.
"""
from __future__ import annotations

import argparse
import base64
import json
import math
import os
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Callable, NamedTuple

import torch

import llava_lmm  # noqa: F401
from shared.engine.rundir import RunLock
from shared.io import atomic_write_json, atomic_write_text, load_json

from . import metrics
from .data.conversation import inference_prompt
from .data.image import ImageError, open_image, process_images
from .metrics import read_jsonl
from .pretrained import device_and_dtype, encode_prompt, load_model, num_image_tokens  # noqa: F401  (re-exported)


def write_jsonl(path: str | Path, rows: list[dict]) -> None:
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


SQA_SUFFIX = "Answer with the option's letter from the given choices directly."
MMBENCH_SUFFIX = {"en": SQA_SUFFIX, "cn": "请直接回答选项字母。"}
MMBENCH_OPTIONS = ("A", "B", "C", "D")


def _is_none(value) -> bool:
    """Reference ``model_vqa_mmbench.is_none``: None, NaN, or the strings nan / none (any case)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return True
    return isinstance(value, str) and value.lower() in ("nan", "none")


QUESTION_FORMATS = ("jsonl", "sqa", "mmbench")
_SNIFF_BYTES = 1 << 20


def question_format(path: str | Path) -> str:
    """The format of a question file, from its content (the extension is not trusted): ``sqa`` for a json list
    (ScienceQA's ``llava_test_CQM-A.json``, read as ``model_vqa_science`` does), ``jsonl`` for one json object
    per line (every other benchmark's file, ``model_vqa_loader`` / ``model_vqa``), ``mmbench`` for a tab-separated
    table with ``index`` and ``question`` columns (``model_vqa_mmbench``). Anything else is a ``ValueError``
    saying what was found."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"question file not found: {path}")
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    text = head.decode("utf-8", errors="replace").lstrip("\ufeff \t\r\n")
    expected = ("LLaVA's question files are jsonl (one {\"question_id\", \"image\", \"text\"} object per line), "
                "a json list of conversation records (ScienceQA's llava_test_CQM-A.json) or MMBench's tsv")
    if not text:
        raise ValueError(f"question file {path} is empty")
    if text[0] == "[":
        return "sqa"
    first = text.split("\n", 1)[0].strip()
    if text[0] == "{":
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            raise ValueError(f"question file {path} holds one json object over several lines, not a question file; "
                             f"{expected}") from None
        if isinstance(row, dict) and "question_id" not in row:
            raise ValueError(f"question file {path}, line 1: a json object without 'question_id' (keys "
                             f"{sorted(row)[:8]}): not a question file? {expected}")
        return "jsonl"
    columns = first.split("\t")
    if len(columns) > 1 and {"index", "question"} <= set(columns):
        return "mmbench"
    raise ValueError(f"question file {path} starts with {first[:60]!r}: {expected}")


def load_questions(path: str | Path, fmt: str = "auto", single_pred_prompt: bool = False,
                   lang: str = "en") -> list[dict]:
    """Questions as the reference runners read them, each ``{question_id, text, prompt, image | image_b64,
    extra}``: ``text`` is what follows ``<image>\\n`` in the model prompt, ``prompt`` what the answer line records.

    ``jsonl`` (``model_vqa_loader`` / ``model_vqa``): ``{question_id, image, text}`` lines; ``sqa``
    (``model_vqa_science``): a json list of LLaVA records (``id``, optional ``image``, ``conversations``);
    ``mmbench`` (``model_vqa_mmbench``): the tsv with base64 images, hint and options A-D. ``auto`` reads the
    format from the content (``question_format``). ``single_pred_prompt`` appends the letter instruction (sqa,
    mmbench).
    """
    path = Path(path)
    if fmt == "auto":
        fmt = question_format(path)
    out = []
    if fmt == "jsonl":
        for n, q in enumerate(read_jsonl(path, "question file")):
            if not isinstance(q, dict) or "question_id" not in q or not isinstance(q.get("text"), str):
                raise ValueError(f"question file {path}, line {n + 1}: needs 'question_id' and a string 'text'")
            text = q["text"].replace("<image>", "").strip() if "<image>" in q["text"] else q["text"]
            out.append({"question_id": q["question_id"], "text": text, "prompt": q["text"], "image": q.get("image"),
                        "extra": {}})
    elif fmt == "sqa":
        from shared.io import load_json

        data = load_json(path, "ScienceQA question file")
        if not isinstance(data, list):
            raise ValueError(f"ScienceQA question file {path} must hold a json list of records, got "
                             f"{type(data).__name__}")
        for n, rec in enumerate(data):
            conv = rec.get("conversations") if isinstance(rec, dict) else None
            if "id" not in (rec if isinstance(rec, dict) else {}) or not isinstance(conv, list) or not conv \
                    or not isinstance(conv[0], dict) or not isinstance(conv[0].get("value"), str):
                raise ValueError(f"ScienceQA question file {path}, record {n}: needs 'id' and 'conversations' whose "
                                 f"first turn has a string 'value' (LLaVA records, as llava_test_CQM-A.json)")
            qs = conv[0]["value"].replace("<image>", "").strip()
            prompt = ("<image>\n" + qs) if "image" in rec else qs
            if single_pred_prompt:
                qs, prompt = qs + "\n" + SQA_SUFFIX, prompt + "\n" + SQA_SUFFIX
            out.append({"question_id": rec["id"], "text": qs, "prompt": prompt, "image": rec.get("image"),
                        "extra": {}})
    elif fmt == "mmbench":
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("MMBench tsv files need pandas: pip install '.[eval]'") from None
        if lang not in MMBENCH_SUFFIX:
            raise ValueError(f"--lang must be one of {sorted(MMBENCH_SUFFIX)}, got {lang!r}")
        for _, row in pd.read_table(path).iterrows():
            options = []
            for c in MMBENCH_OPTIONS:
                if _is_none(row[c]):
                    break
                options.append(row[c])
            question = row["question"] if _is_none(row["hint"]) else row["hint"] + "\n" + row["question"]
            for c, o in zip(MMBENCH_OPTIONS, options):
                question = question + "\n" + c + ". " + o
            text = question + ("\n" + MMBENCH_SUFFIX[lang] if single_pred_prompt else "")
            qid = int(row["index"]) if not isinstance(row["index"], str) else row["index"]
            out.append({"question_id": qid, "text": text, "prompt": question, "image_b64": row["image"],
                        "extra": {"round_id": 0, "options": options,
                                  "option_char": list(MMBENCH_OPTIONS[:len(options)])}})
    else:
        raise ValueError(f"unknown question format {fmt!r} (jsonl, sqa, mmbench)")
    return out


def _load_question_image(q: dict, image_folder, reading: str = "photo"):
    """A question's image through the one reader (``open_image``): a file under ``image_folder`` or the bytes of
    an MMBench base64 image."""
    if q.get("image_b64") is not None:
        try:
            data = base64.b64decode(q["image_b64"])
        except (ValueError, TypeError) as e:  # a broken payload: reported by the caller, not fatal
            raise ImageError(f"question {q['question_id']}: invalid base64 image ({e})") from None
        return open_image(data, reading, what=f"question {q['question_id']} (base64 image)")
    if image_folder is None:
        raise ValueError(f"question {q['question_id']} has an image but no --image-folder was given")
    return open_image(Path(image_folder) / q["image"], reading)


def _has_image(q: dict) -> bool:
    return bool(q.get("image")) or q.get("image_b64") is not None


@torch.no_grad()
def iter_answers(model, tok, proc, questions: list[dict], image_folder: str | Path | None, template: str = "v1",
                 aspect: str = "pad", batch_size: int = 8, max_new_tokens: int = 128, temperature: float = 0.0,
                 model_id: str = "llava", skipped: list | None = None, reading: str = "photo"):
    """Yield one answer line per question, batch by batch. An unreadable image raises, or, when ``skipped`` is a
    list, is appended to it as ``(question_id, message)`` and its question left out. ``reading``: how images are
    read (``photo`` | ``reference``, the model's ``image_reading``)."""
    n_img = num_image_tokens(model)
    img_id = model.config.image_token_id
    param = next(model.parameters())
    for start in range(0, len(questions), batch_size):
        chunk, encs, images = [], [], []
        for q in questions[start:start + batch_size]:
            if "question_id" not in q or "text" not in q:
                raise ValueError(f"question needs 'question_id' and 'text': {json.dumps(q, default=str)[:120]}")
            has_img = _has_image(q)
            if has_img:
                try:
                    images.append(_load_question_image(q, image_folder, reading))
                except ImageError as e:
                    if skipped is None:
                        raise
                    skipped.append((q["question_id"], str(e)))
                    print(f"skipped question {q['question_id']}: {e}", file=sys.stderr, flush=True)
                    continue
            chunk.append(q)
            encs.append(encode_prompt(tok, inference_prompt(q["text"], template, with_image=has_img), n_img, img_id))
        if not chunk:
            continue
        n = max(len(e) for e in encs)
        ids = torch.full((len(encs), n), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for k, e in enumerate(encs):  # left padding for batched generation
            ids[k, n - len(e):] = torch.tensor(e)
            mask[k, n - len(e):] = 1
        kw = {}
        if images:
            kw["pixel_values"] = process_images(images, proc, aspect).to(device=param.device, dtype=param.dtype)
        gen = model.generate(input_ids=ids.to(param.device), attention_mask=mask.to(param.device),
                             max_new_tokens=max_new_tokens,
                             do_sample=temperature > 0, temperature=temperature if temperature > 0 else None,
                             top_p=None, top_k=None, num_beams=1, pad_token_id=tok.pad_token_id,
                             eos_token_id=tok.eos_token_id, **kw)
        for q, out in zip(chunk, gen[:, n:].cpu()):
            row = {"question_id": q["question_id"], "prompt": q.get("prompt", q["text"])}
            row.update(q.get("extra", {}))
            row.update({"text": tok.decode(out, skip_special_tokens=True).strip(), "answer_id": uuid.uuid4().hex,
                        "model_id": model_id, "metadata": {}})
            yield row


def generate_answers(model, tok, proc, questions: list[dict], image_folder: str | Path | None, template: str = "v1",
                     aspect: str = "pad", batch_size: int = 8, max_new_tokens: int = 128, temperature: float = 0.0,
                     model_id: str = "llava", reading: str = "photo") -> list[dict]:
    """All answer lines (an unreadable image raises)."""
    return list(iter_answers(model, tok, proc, questions, image_folder, template, aspect, batch_size,
                             max_new_tokens, temperature, model_id, reading=reading))


def _answer_key(question_id, prompt) -> tuple[str, str]:
    # the question id alone is not unique: TextVQA ids are image ids, MME ids name the image of two questions
    return json.dumps(question_id), prompt


def resume_answers(path: Path) -> Counter:
    """Keys of the answer lines already in ``path``. A last line without its newline (a write cut by a kill) is
    removed from the file; a broken complete line is an error naming it."""
    done = Counter()
    if not path.is_file():
        return done
    data = path.read_bytes()
    complete = data[:data.rfind(b"\n") + 1]
    if len(complete) < len(data):
        print(f"{path}: dropping a truncated last line ({len(data) - len(complete)} bytes)", file=sys.stderr)
        with open(path, "r+b") as f:
            f.truncate(len(complete))
    for n, line in enumerate(complete.split(b"\n")[:-1], 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise ValueError(f"answer file {path}, line {n}: not valid json; fix or remove it to resume") from None
        if not isinstance(row, dict) or "question_id" not in row or "prompt" not in row:
            raise ValueError(f"answer file {path}, line {n}: no 'question_id'/'prompt'; not an answer file?")
        done[_answer_key(row["question_id"], row["prompt"])] += 1
    return done


def answer_to_file(model, tok, proc, questions: list[dict], out: Path, image_folder, **kw) -> dict:
    """Append the answers of ``questions`` to ``out`` as they are produced (flushed per line), skipping questions
    already answered there; unreadable images are skipped and counted. Returns the counts."""
    done = resume_answers(out)
    todo = []
    for q in questions:
        key = _answer_key(q["question_id"], q.get("prompt", q["text"]))
        if done[key] > 0:
            done[key] -= 1
        else:
            todo.append(q)
    skipped: list = []
    written = 0
    with open(out, "a", encoding="utf-8") as f:
        for row in iter_answers(model, tok, proc, todo, image_folder, skipped=skipped, **kw):
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            f.flush()
            written += 1
    return {"answered": written, "already_present": len(questions) - len(todo), "skipped": skipped}


def shard(items: list, num_chunks: int, idx: int) -> list:
    """Contiguous chunks, as the reference ``get_chunk``."""
    if not 0 <= idx < num_chunks:
        raise ValueError(f"chunk index {idx} out of range for {num_chunks} chunks")
    size = -(-len(items) // num_chunks)
    return items[idx * size:(idx + 1) * size]


def _part_path(out: Path, num_chunks: int, idx: int) -> Path:
    return out.with_name(f"{out.stem}.{num_chunks}_{idx}{out.suffix}")


def cmd_answer(a) -> int:
    questions = load_questions(a.questions, a.question_format, a.single_pred_prompt, a.lang)
    world, rank = int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("RANK", 0))
    num_chunks, idx = (a.num_chunks, a.chunk_idx) if a.num_chunks > 1 else (world, rank)
    mine = shard(questions, num_chunks, idx)
    out = Path(a.out)
    target = _part_path(out, num_chunks, idx) if num_chunks > 1 else out
    try:  # fail on an unwritable location before the model loads
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "a", encoding="utf-8"):
            pass
    except OSError as e:
        where = f" ({e.filename})" if e.filename and str(e.filename) != str(target) else ""
        raise PermissionError(f"--out {target} is not writable: {e.strerror or e}{where}") from None
    # one process per answer file: a second one would answer the same questions again and append them twice
    with RunLock(target.parent, "--out", for_file=target.name):
        device, dtype = device_and_dtype(a.device, a.dtype)
        model, tok, proc, meta = load_model(a.model, dtype, device)
        res = answer_to_file(model, tok, proc, mine, target, a.image_folder, template=a.conv_mode or meta["template"],
                             aspect=meta["image_aspect_ratio"], batch_size=a.batch_size,
                             max_new_tokens=a.max_new_tokens, temperature=a.temperature, model_id=Path(a.model).name,
                             reading=meta["image_reading"])
    skipped = res["skipped"]
    print(f"{target}: {res['answered']} answers written, {res['already_present']} already there (resumed), "
          f"{len(skipped)} skipped (unreadable image)")
    for qid, msg in skipped[:20]:
        print(f"  skipped {qid}: {msg}")
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more")
    if a.num_chunks <= 1 and world > 1:  # torchrun: rank 0 waits for the others and merges in question order
        import datetime

        import torch.distributed as dist

        # ranks finish their shards at different times; the default 30 min would time a slow one out
        dist.init_process_group("gloo", timeout=datetime.timedelta(hours=24))
        dist.barrier()
        if rank == 0:
            rows = [r for i in range(num_chunks) for r in read_jsonl(_part_path(out, num_chunks, i), "answer file")]
            write_jsonl(out, rows)
            print(f"merged {len(rows)} answers into {out}")
        dist.destroy_process_group()
    return 0


def cmd_merge(a) -> int:
    rows = [r for p in a.inputs for r in read_jsonl(p, "answer file")]
    write_jsonl(a.out, rows)
    print(f"merged {len(rows)} answers into {a.out}")
    return 0


def _score_pope(a, answers):
    return metrics.pope_score(answers, read_jsonl(a.questions, "POPE question file"),
                              metrics.load_pope_labels(a.annotations)), None


def _score_textvqa(a, answers):
    ann = load_json(a.annotations, "TextVQA annotations")
    return metrics.textvqa_score(answers, ann["data"] if isinstance(ann, dict) else ann), None


def _score_sqa(a, answers):
    return metrics.sqa_score(answers, *metrics.load_sqa(a.annotations, a.split)), None


def _score_gqa(a, answers):
    return metrics.gqa_score(answers, load_json(a.annotations, "GQA questions json")), metrics.gqa_submission(answers)


def _score_mme(a, answers):
    return metrics.mme_score(answers, metrics.load_mme_ground_truth(a.annotations)), None


def _score_seed(a, answers):
    seed = load_json(a.annotations, "SEED-Bench json")
    return metrics.seed_score(answers, seed), metrics.seed_submission(answers, seed) if a.submission else None


def _score_vqav2(a, answers):
    sub = metrics.vqav2_submission(answers, read_jsonl(a.questions, "VQAv2 test2015 question file"))
    return {"answered": sum(bool(r["answer"]) for r in sub), "num": len(sub)}, sub


def _score_vizwiz(a, answers):
    sub = metrics.vizwiz_submission(answers, read_jsonl(a.questions, "VizWiz question file"))
    return {"num": len(sub)}, sub


def _score_mmbench(a, answers):  # writes the upload xlsx itself
    return {"filled": metrics.mmbench_submission(answers, a.questions, a.submission)}, None


def _score_llavabench(a, answers):
    sub = metrics.llavabench_answers(answers, read_jsonl(a.questions, "LLaVA-Bench question file"))
    return {"num": len(sub)}, sub


def _score_mmvet(a, answers):
    sub = metrics.mmvet_submission(answers)
    return {"num": len(sub)}, sub


def _score_exact(a, answers):
    gt = {r["question_id"]: r["answer"] for r in read_jsonl(a.annotations, "answer key")}
    return metrics.exact_match_score(answers, gt), None


class ScoreTask(NamedTuple):
    """What ``--annotations``, ``--questions`` and ``--submission`` are for a task (None = not used, a leading
    ``!`` = required), and its scorer: ``(args, answer rows) -> (scores, submission rows or None)``."""

    annotations: str | None
    questions: str | None
    submission: str | None
    score: Callable[[argparse.Namespace, list[dict]], tuple[dict, list | None]]


SCORE_TASKS: dict[str, ScoreTask] = {
    "vqav2": ScoreTask(None, "!llava_vqav2_mscoco_test2015.jsonl", "!upload json", _score_vqav2),
    "gqa": ScoreTask("!testdev_balanced_questions.json", None, "testdev_balanced_predictions.json", _score_gqa),
    "vizwiz": ScoreTask(None, "!llava_test.jsonl", "!upload json", _score_vizwiz),
    "sqa": ScoreTask("!ScienceQA folder with problems.json + pid_splits.json", None, None, _score_sqa),
    "textvqa": ScoreTask("!TextVQA_0.5.1_val.json", None, None, _score_textvqa),
    "pope": ScoreTask("!folder of coco_pope_<category>.json", "!llava_pope_test.jsonl", None, _score_pope),
    "mme": ScoreTask("!MME_Benchmark_release_version folder", None, None, _score_mme),
    "mmbench": ScoreTask(None, "!mmbench_dev_20230712.tsv", "!upload xlsx", _score_mmbench),
    "mmbench_cn": ScoreTask(None, "!mmbench_dev_cn_20231003.tsv", "!upload xlsx", _score_mmbench),
    "seed": ScoreTask("!SEED-Bench.json", None, "upload jsonl", _score_seed),
    "llavabench": ScoreTask(None, "!questions.jsonl", "!answers jsonl for eval_gpt_review_bench.py",
                            _score_llavabench),
    "mmvet": ScoreTask(None, None, "!results json for the MM-Vet grader", _score_mmvet),
    "exact": ScoreTask("!answer key jsonl {question_id, answer}", None, None, _score_exact),
}
INPUT_FLAGS = ("annotations", "questions", "submission")


def cmd_score(a) -> int:
    task = SCORE_TASKS[a.task]
    for flag, spec in zip(INPUT_FLAGS, task):
        if spec and spec.startswith("!") and not getattr(a, flag):
            print(f"error: --task {a.task} needs --{flag} ({spec[1:]})", file=sys.stderr)
            return 2
    res, sub = task.score(a, read_jsonl(a.answers, "answer file"))
    print(json.dumps(res, indent=2, ensure_ascii=False))
    if a.submission and sub is not None:
        if a.submission.endswith(".jsonl"):
            atomic_write_text(a.submission, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in sub))
        else:
            atomic_write_json(a.submission, sub)
    if a.submission:
        print(f"submission file: {a.submission}")
    if a.out:
        atomic_write_json(a.out, res)
    return 0


def _score_epilog() -> str:
    lines = ["inputs per task (optional ones in brackets):"]
    for task, spec in SCORE_TASKS.items():
        args = [f"--{flag} {v[1:]}" if v.startswith("!") else f"[--{flag} {v}]"
                for flag, v in zip(INPUT_FLAGS, spec) if v]
        lines.append(f"  {task:<11} " + "; ".join(args))
    return "\n".join(lines)


def _positive_int(v: str) -> int:
    if int(v) <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {v}")
    return int(v)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m llava_lmm.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    q = sub.add_parser("answer", help="generate answers for a question file (appends; resumes a partial file)")
    q.add_argument("--model", required=True, help="model dir written by llava_lmm.train")
    q.add_argument("--questions", required=True, help="question .jsonl, ScienceQA .json list or MMBench .tsv")
    q.add_argument("--question-format", default="auto", choices=["auto", *QUESTION_FORMATS],
                   help="auto (default): read from the file's content")
    q.add_argument("--single-pred-prompt", action="store_true", help="append the answer-letter instruction")
    q.add_argument("--lang", default="en", choices=["en", "cn"], help="MMBench instruction language")
    q.add_argument("--image-folder")
    q.add_argument("--out", required=True)
    q.add_argument("--conv-mode", default=None, help="template (default: the model's, v1)")
    q.add_argument("--device", default="auto", help="auto (this rank's GPU, else cpu), cpu, cuda:0, ...")
    q.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="auto: float16 on a GPU (as the reference), float32 on the CPU")
    q.add_argument("--batch-size", type=_positive_int, default=8)
    q.add_argument("--max-new-tokens", type=_positive_int, default=128)
    q.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    q.add_argument("--num-chunks", type=_positive_int, default=1)
    q.add_argument("--chunk-idx", type=int, default=0)
    m = sub.add_parser("merge", help="concatenate chunk answer files")
    m.add_argument("--inputs", nargs="+", required=True)
    m.add_argument("--out", required=True)
    s = sub.add_parser("score", help="score an answer file locally, or write the file a server / judge takes",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=_score_epilog())
    s.add_argument("--task", required=True, choices=list(SCORE_TASKS))
    s.add_argument("--answers", required=True, help="answer jsonl of `answer` (merged)")
    s.add_argument("--annotations", help="ground truth file or folder (see below)")
    s.add_argument("--questions", help="question file the answers were made from (see below)")
    s.add_argument("--submission", help="where to write the server / judge file (see below)")
    s.add_argument("--split", default="test", help="ScienceQA split in pid_splits.json")
    s.add_argument("--out", help="also write the scores here as json")
    return p


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main
    from shared.errors import INPUT_ERRORS

    a = build_parser().parse_args(argv)
    # bad inputs (and a scorer's missing optional package): one line, no traceback
    return run_main(lambda: {"answer": cmd_answer, "merge": cmd_merge, "score": cmd_score}[a.cmd](a),
                    INPUT_ERRORS + (ImportError,))


if __name__ == "__main__":
    sys.exit(main())
