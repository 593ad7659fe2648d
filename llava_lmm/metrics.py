"""Scorers and submission writers for the LLaVA-1.5 benchmarks, reading the files LLaVA's eval scripts read.

Each scorer follows the reference script named in its docstring (haotian-liu/LLaVA ``llava/eval`` and ``scripts``,
the official GQA / MME tools); where we deviate, the docstring says so and why.  Answer lines are those of
``python -m llava_lmm.eval answer`` (the reference's ``{"question_id", "prompt", "text", ...}``; ``prompt`` is the
question text as the reference records it, not the templated prompt).
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path


# ----------------------------------------------------------------------------- files
def read_jsonl(path: str | Path, what: str = "jsonl file") -> list[dict]:
    """All lines of a jsonl file; a line that is not json is an error naming file and line."""
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


def _need(row: dict, keys: tuple[str, ...], what: str, n: int) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"{what}, record {n}: missing field(s) {missing} (has {sorted(row)[:8]})")


def _check_answers(answers: list[dict], keys=("question_id", "text")) -> None:
    for n, a in enumerate(answers):
        _need(a, keys, "answer file", n)


# ----------------------------------------------------------------------------- EvalAI answer processor
# The m4c / EvalAI answer processor (mmf ``EvalAIAnswerProcessor``, used by LLaVA for TextVQA, VQAv2, VizWiz).
# Contraction map written as "key value" pairs; it keeps the reference's quirks (capitalised keys that can never
# match after lower-casing, "somebody'd" -> "somebodyd").
_CONTRACTIONS = dict(pair.split(" ") for pair in """\
aint ain't|arent aren't|cant can't|couldve could've|couldnt couldn't|couldn'tve couldn't've|couldnt've couldn't've|\
didnt didn't|doesnt doesn't|dont don't|hadnt hadn't|hadnt've hadn't've|hadn'tve hadn't've|hasnt hasn't|\
havent haven't|hed he'd|hed've he'd've|he'dve he'd've|hes he's|howd how'd|howll how'll|hows how's|Id've I'd've|\
I'dve I'd've|Im I'm|Ive I've|isnt isn't|itd it'd|itd've it'd've|it'dve it'd've|itll it'll|let's let's|maam ma'am|\
mightnt mightn't|mightnt've mightn't've|mightn'tve mightn't've|mightve might've|mustnt mustn't|mustve must've|\
neednt needn't|notve not've|oclock o'clock|oughtnt oughtn't|ow's'at 'ow's'at|'ows'at 'ow's'at|'ow'sat 'ow's'at|\
shant shan't|shed've she'd've|she'dve she'd've|she's she's|shouldve should've|shouldnt shouldn't|\
shouldnt've shouldn't've|shouldn'tve shouldn't've|somebody'd somebodyd|somebodyd've somebody'd've|\
somebody'dve somebody'd've|somebodyll somebody'll|somebodys somebody's|someoned someone'd|\
someoned've someone'd've|someone'dve someone'd've|someonell someone'll|someones someone's|somethingd something'd|\
somethingd've something'd've|something'dve something'd've|somethingll something'll|thats that's|thered there'd|\
thered've there'd've|there'dve there'd've|therere there're|theres there's|theyd they'd|theyd've they'd've|\
they'dve they'd've|theyll they'll|theyre they're|theyve they've|twas 'twas|wasnt wasn't|wed've we'd've|\
we'dve we'd've|weve we've|werent weren't|whatll what'll|whatre what're|whats what's|whatve what've|whens when's|\
whered where'd|wheres where's|whereve where've|whod who'd|whod've who'd've|who'dve who'd've|wholl who'll|\
whos who's|whove who've|whyll why'll|whyre why're|whys why's|wont won't|wouldve would've|wouldnt wouldn't|\
wouldnt've wouldn't've|wouldn'tve wouldn't've|yall y'all|yall'll y'all'll|y'allll y'all'll|yall'd've y'all'd've|\
y'alld've y'all'd've|y'all'dve y'all'd've|youd you'd|youd've you'd've|you'dve you'd've|youll you'll|\
youre you're|youve you've""".split("|"))
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PUNCT = (";", "/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!")
_DIGIT_COMMA = re.compile(r"(?<=\d),+(?=\d)")
_PERIOD = re.compile(r"\.(?!\d)")  # the reference's "(?!<=\d)" is a look-ahead that never fires before a "."
# the reference calls PERIOD_STRIP.sub("", text, re.UNICODE): the flag lands in `count`, so at most 32 periods go
_PERIOD_MAX = int(re.UNICODE)


def normalize_vqa_answer(ans: str) -> str:
    """EvalAI answer processing: word tokenisation (lower-case, drop ``,`` and ``?``, split ``'s``), punctuation,
    periods not before a digit, number words, articles, contractions."""
    text = ans.lower().replace(",", "").replace("?", "").replace("'s", " 's").strip()
    text = text.replace("\n", " ").replace("\t", " ").strip()
    out = text
    strip_all = _DIGIT_COMMA.search(text) is not None
    for p in _PUNCT:  # the test looks at the text before any replacement, as the reference does
        out = out.replace(p, "" if (p + " " in text or " " + p in text or strip_all) else " ")
    out = _PERIOD.sub("", out, count=_PERIOD_MAX)
    words = [_NUMBERS.get(w, w) for w in out.lower().split()]
    return " ".join(_CONTRACTIONS.get(w, w) for w in words if w not in _ARTICLES)


def vqa_soft_scores(gt_answers: list[str]) -> dict[str, float]:
    """Score of each distinct normalised human answer: mean over the 10 leave-one-out subsets of min(1, n/3)."""
    gts = [normalize_vqa_answer(g) for g in gt_answers]
    out = {}
    for u in set(gts):
        accs = [min(1.0, sum(g == u for j, g in enumerate(gts) if j != i) / 3.0) for i in range(len(gts))]
        out[u] = sum(accs) / len(accs)
    return out


def vqa_accuracy(pred: str, gt_answers: list[str]) -> float:
    """Soft VQA accuracy of one prediction (0 for an answer no annotator gave)."""
    if not gt_answers:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    return vqa_soft_scores(gt_answers).get(normalize_vqa_answer(pred), 0.0)


# ----------------------------------------------------------------------------- TextVQA
def textvqa_question(prompt: str) -> str:
    """The question inside a TextVQA prompt, lower-cased (reference ``eval_textvqa.prompt_processor``)."""
    lines = prompt.split("\n")
    if prompt.startswith("OCR tokens: "):
        m = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        if m is None:
            raise ValueError("TextVQA prompt starts with 'OCR tokens: ' but has no 'Question: … Short answer:'")
        q = m.group(1)
    elif "Reference OCR token: " in prompt and len(lines) == 3:
        q = lines[1] if prompt.startswith("Reference OCR token:") else lines[0]
    elif len(lines) == 2:
        q = lines[0]
    else:
        raise ValueError(f"TextVQA prompt in none of the reference's layouts: {prompt[:100]!r}")
    return q.lower()


def textvqa_score(answers: list[dict], annotations: list[dict]) -> dict:
    """Reference ``eval_textvqa``: each answer is found by (question_id = image id, question read from its
    ``prompt``) in ``TextVQA_0.5.1_val.json`` ``data``; soft accuracy over the 10 answers; mean over the answers."""
    _check_answers(answers, ("question_id", "text", "prompt"))
    gt = {}
    for n, a in enumerate(annotations):
        _need(a, ("image_id", "question", "answers"), "TextVQA annotation", n)
        gt[(a["image_id"], a["question"].lower())] = a["answers"]
    scores = []
    for n, a in enumerate(answers):
        key = (a["question_id"], textvqa_question(a["prompt"]))
        if key not in gt:
            raise ValueError(f"TextVQA answer {n} (image {key[0]!r}, question {key[1]!r}) has no annotation")
        if len(gt[key]) != 10:
            raise ValueError(f"TextVQA annotation for {key} has {len(gt[key])} answers, the metric needs 10")
        scores.append(vqa_accuracy(a["text"], gt[key]))
    return {"accuracy": 100.0 * sum(scores) / max(len(scores), 1), "num": len(scores)}


# ----------------------------------------------------------------------------- POPE
def pope_label(text: str) -> str:
    """Reference: first sentence, commas removed; "no" if the words No/no/not occur, else "yes"."""
    words = text.split(".")[0].replace(",", "").split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def pope_binary(preds: list[str], labels: list[str]) -> dict:
    """TP/FP/TN/FN, accuracy, precision, recall, F1, yes-ratio; a label other than "no" counts as yes."""
    tp = sum(p == "yes" and l != "no" for p, l in zip(preds, labels))
    fp = sum(p == "yes" and l == "no" for p, l in zip(preds, labels))
    tn = sum(p == "no" and l == "no" for p, l in zip(preds, labels))
    fn = sum(p == "no" and l != "no" for p, l in zip(preds, labels))
    n = len(preds)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"TP": tp, "FP": fp, "TN": tn, "FN": fn, "accuracy": (tp + tn) / n if n else 0.0,
            "precision": precision, "recall": recall, "f1": f1, "yes_ratio": preds.count("yes") / n if n else 0.0,
            "num": n}


def load_pope_labels(annotation_dir: str | Path) -> dict[str, list[dict]]:
    """``coco_pope_<category>.json`` files (one json object per line) of the annotation folder."""
    files = sorted(Path(annotation_dir).glob("coco_pope_*.json"))
    if not files:
        raise FileNotFoundError(f"no coco_pope_<category>.json label files in {annotation_dir}")
    return {f.name[len("coco_pope_"):-len(".json")]: read_jsonl(f, "POPE label file") for f in files}


def pope_score(answers: list[dict], questions: list[dict], labels: dict[str, list[dict]]) -> dict:
    """Reference ``eval_pope``: answers are split by their question's ``category`` and paired, in question-file
    order, with the lines of that category's label file. Deviation: a category whose answer count differs from its
    label count, or whose paired images differ, is an error (the reference silently misaligns)."""
    _check_answers(answers)
    pos = {}
    for n, q in enumerate(questions):
        _need(q, ("question_id", "category"), "POPE question file", n)
        pos[q["question_id"]] = n
    missing = [a["question_id"] for a in answers if a["question_id"] not in pos]
    if missing:
        raise ValueError(f"{len(missing)} POPE answers are not in the question file (e.g. {missing[:3]})")
    out = {}
    for cat, lab in labels.items():
        cur = sorted((a for a in answers if questions[pos[a["question_id"]]]["category"] == cat),
                     key=lambda a: pos[a["question_id"]])
        if len(cur) != len(lab):
            raise ValueError(f"POPE {cat}: {len(cur)} answers for {len(lab)} labels (answers missing or extra)")
        for k, (a, l) in enumerate(zip(cur, lab)):
            qimg = questions[pos[a["question_id"]]].get("image")
            if qimg is not None and l.get("image") is not None and qimg != l["image"]:
                raise ValueError(f"POPE {cat}, label line {k + 1}: image {l['image']!r} but the question paired "
                                 f"with it ({a['question_id']!r}) shows {qimg!r}; the orders differ")
        out[cat] = pope_binary([pope_label(a["text"]) for a in cur], [l["label"] for l in lab])
    out["f1_mean"] = sum(r["f1"] for r in out.values()) / len(labels)
    out["accuracy_mean"] = sum(out[c]["accuracy"] for c in labels) / len(labels)
    return out


# ----------------------------------------------------------------------------- ScienceQA
SQA_OPTIONS = ("A", "B", "C", "D", "E")


def sqa_parse(pred: str, options: tuple[str, ...] = SQA_OPTIONS) -> str:
    """Reference ``eval_science_qa``: the whole text is a letter, or starts "X. ", or contains "The answer is X."
    exactly once; otherwise "FAILED"."""
    if pred in options:
        return pred
    if len(pred) >= 3 and pred[0] in options and pred[1:3] == ". ":
        return pred[0]
    found = re.findall(r"The answer is ([A-Z]).", pred)
    return found[0] if len(found) == 1 else "FAILED"


def load_sqa(base_dir: str | Path, split: str = "test") -> tuple[dict, list[str]]:
    """``problems.json`` and the ids of ``split`` from ``pid_splits.json`` in the ScienceQA base folder."""
    from shared.io import load_json

    base = Path(base_dir)
    problems = load_json(base / "problems.json", "ScienceQA problems.json")
    splits = load_json(base / "pid_splits.json", "ScienceQA pid_splits.json")
    if split not in splits:
        raise ValueError(f"{base / 'pid_splits.json'} has no split {split!r} (has {sorted(splits)})")
    return problems, [str(i) for i in splits[split]]


def sqa_score(answers: list[dict], problems: dict, split_ids: list[str]) -> dict:
    """Over every problem of the split: parsed letter index == ``answer``; a missing prediction is wrong.

    IMG accuracy (the paper's SQA-IMG) as the reference: over the answers whose ``prompt`` holds ``<image>``, so
    an unanswered image problem counts in ``accuracy`` but not in ``img_accuracy``; ``missing_img`` counts them."""
    _check_answers(answers)
    preds = {str(a["question_id"]): a for a in answers}
    correct = total = img_correct = img_total = failed = missing_img = 0
    for pid in split_ids:
        if pid not in problems:
            raise ValueError(f"ScienceQA split id {pid!r} is not in problems.json")
        prob = problems[pid]
        a = preds.get(pid)
        letter = sqa_parse(a["text"]) if a is not None else "FAILED"
        failed += letter == "FAILED"
        n_choices = len(prob["choices"])
        idx = SQA_OPTIONS.index(letter) if letter in SQA_OPTIONS[:n_choices] else -1
        ok = idx == prob["answer"]
        correct += ok
        total += 1
        missing_img += a is None and bool(prob.get("image"))
        if a is not None and "<image>" in a.get("prompt", ""):
            img_correct += ok
            img_total += 1
    return {"accuracy": 100.0 * correct / max(total, 1), "img_accuracy": 100.0 * img_correct / max(img_total, 1),
            "num": total, "num_img": img_total, "correct": correct, "failed_parse": failed,
            "missing": sum(pid not in preds for pid in split_ids), "missing_img": missing_img}


# ----------------------------------------------------------------------------- GQA
def gqa_prediction(text: str) -> str:
    """Reference ``convert_gqa_for_eval``: trailing periods removed, lower-cased; nothing else."""
    return text.rstrip(".").lower()


def gqa_submission(answers: list[dict]) -> list[dict]:
    """``testdev_balanced_predictions.json`` for the official GQA ``eval.py``."""
    return [{"questionId": a["question_id"], "prediction": gqa_prediction(a["text"])} for a in answers]


def gqa_score(answers: list[dict], questions: dict) -> dict:
    """Official GQA ``eval.py`` accuracy on ``testdev_balanced_questions.json``: prediction == ``answer`` exactly,
    over the balanced questions; ``binary`` / ``open`` as it splits them (``types.structural`` "query" is open),
    where the questions carry ``types``. Deviation: a missing prediction counts as wrong and is counted (the
    official script stops)."""
    _check_answers(answers)
    preds = {str(p["questionId"]): p["prediction"] for p in gqa_submission(answers)}
    missing = 0
    by_kind: dict[str, list[bool]] = {"accuracy": [], "binary": [], "open": []}
    qs = {qid: q for qid, q in questions.items() if q.get("isBalanced", True)}
    for qid, q in qs.items():
        if "answer" not in q:
            raise ValueError(f"GQA question {qid!r} has no 'answer'")
        missing += qid not in preds
        ok = preds.get(qid) == q["answer"]
        by_kind["accuracy"].append(ok)
        if "types" in q:
            by_kind["open" if q["types"].get("structural") == "query" else "binary"].append(ok)
    extra = len(set(preds) - set(questions))
    if extra:
        raise ValueError(f"{extra} GQA answers have question ids not in the questions json")
    return {"accuracy": 0.0, **{k: 100.0 * sum(v) / len(v) for k, v in by_kind.items() if v}, "num": len(qs),
            "missing": missing}


# ----------------------------------------------------------------------------- MME
MME_TASKS = {
    "perception": ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork",
                   "OCR"),
    "cognition": ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"),
}
_MME_SUFFIX = "Answer the question using a single word or phrase."
_MME_YN = " Please answer yes or no."


def load_mme_ground_truth(root: str | Path) -> dict[tuple[str, str, str], str]:
    """(subtask, ``<image stem>.txt``, question) -> Yes/No from ``MME_Benchmark_release_version``: a subtask folder
    holds ``images/`` + ``questions_answers_YN/`` or the images and ``.txt`` files side by side."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"MME benchmark folder not found: {root}")
    gt = {}
    for cat in sorted(p for p in root.iterdir() if p.is_dir()):
        qa = cat / "questions_answers_YN" if (cat / "images").is_dir() else cat
        for f in sorted(qa.glob("*.txt")):
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.strip().split("\t")
                if len(parts) != 2:
                    raise ValueError(f"{f}, line {n}: expected 'question<TAB>answer'")
                gt[(cat.name, f.name, parts[0])] = parts[1]
    if not gt:
        raise ValueError(f"no MME question files found under {root}")
    return gt


def mme_parse(text: str) -> str:
    """Official ``calculation.py``: yes/no, else the first four characters (lower-cased) decide, else other."""
    t = text.lower()
    if t in ("yes", "no"):
        return t
    return "yes" if "yes" in t[:4] else "no" if "no" in t[:4] else "other"


def mme_score(answers: list[dict], gt: dict[tuple[str, str, str], str]) -> dict:
    """LLaVA's ``convert_answer_to_mme`` + MME ``calculation.py``: per subtask 100·(acc + acc+), acc+ = images
    with both questions right; perception = sum of the 10 perception subtasks (max 2000), cognition of 4 (max 800).
    Questions are paired by image (the official tool pairs consecutive lines, which are the same in file order)."""
    _check_answers(answers, ("question_id", "text", "prompt"))
    per_image: dict[str, dict[str, list]] = {}
    for n, a in enumerate(answers):
        qid = str(a["question_id"])
        cat, fname = qid.split("/")[0], qid.split("/")[-1].split(".")[0] + ".txt"
        prompt = a["prompt"]
        if _MME_SUFFIX in prompt:
            prompt = prompt.replace(_MME_SUFFIX, "").strip()
        if "Please answer yes or no." not in prompt:
            prompt = prompt + _MME_YN
            if (cat, fname, prompt) not in gt:  # some official questions have two spaces before the request
                prompt = prompt.replace(_MME_YN, " " + _MME_YN)
        if (cat, fname, prompt) not in gt:
            raise ValueError(f"MME answer {n} ({qid!r}): question {prompt!r} not in {cat}/{fname}")
        truth = gt[(cat, fname, prompt)].lower()
        if truth not in ("yes", "no"):
            raise ValueError(f"MME ground truth for {cat}/{fname} {prompt!r} is {truth!r}, expected yes or no")
        per_image.setdefault(cat, {}).setdefault(fname, []).append(mme_parse(a["text"]) == truth)
    tasks = {}
    for cat, images in per_image.items():
        bad = [f for f, r in images.items() if len(r) != 2]
        if bad:
            raise ValueError(f"MME {cat}: image(s) {bad[:3]} have {len(images[bad[0]])} answers, expected 2")
        flat = [ok for r in images.values() for ok in r]
        acc = sum(flat) / len(flat)
        acc_plus = sum(all(r) for r in images.values()) / len(images)
        tasks[cat] = {"acc": 100 * acc, "acc_plus": 100 * acc_plus, "score": 100 * (acc + acc_plus)}
    out = {"subtasks": tasks}
    for group, names in MME_TASKS.items():
        out[group] = sum(tasks[t]["score"] for t in names if t in tasks)
        out[f"{group}_missing_subtasks"] = [t for t in names if t not in tasks]
    return out


# ----------------------------------------------------------------------------- SEED-Bench
def _seed_key(qid):
    try:
        return int(qid)
    except (TypeError, ValueError):
        return qid


def seed_score(answers: list[dict], seed: dict) -> dict:
    """Reference ``convert_seed_for_submission``: ``text`` == ``answer`` letter exactly; accuracy per question type,
    total, image-only and video-only; a missing answer is wrong."""
    _check_answers(answers)
    preds = {_seed_key(a["question_id"]): a["text"] for a in answers}
    names = {v: k for k, v in seed.get("question_type", {}).items()}
    count, right = Counter(), Counter()
    for n, q in enumerate(seed["questions"]):
        _need(q, ("question_id", "answer", "data_type", "question_type_id"), "SEED-Bench question", n)
        ok = preds.get(_seed_key(q["question_id"])) == q["answer"]
        for key in (("type", q["question_type_id"]), ("data", q["data_type"]), ("all", "")):
            count[key] += 1
            right[key] += ok

    def acc(key):
        return 100.0 * right[key] / count[key] if count[key] else None

    return {"accuracy": acc(("all", "")), "image_accuracy": acc(("data", "image")),
            "video_accuracy": acc(("data", "video")), "num": count[("all", "")],
            "missing": sum(_seed_key(q["question_id"]) not in preds for q in seed["questions"]),
            "per_type": {names.get(k[1], str(k[1])): acc(k) for k in sorted(count, key=str) if k[0] == "type"}}


def seed_submission(answers: list[dict], seed: dict) -> list[dict]:
    """Upload lines ``{question_id, prediction}`` in annotation order; every question must be answered."""
    preds = {_seed_key(a["question_id"]): a["text"] for a in answers}
    missing = [q["question_id"] for q in seed["questions"] if _seed_key(q["question_id"]) not in preds]
    if missing:
        raise ValueError(f"SEED-Bench upload needs every question; {len(missing)} unanswered (e.g. {missing[:3]})")
    return [{"question_id": q["question_id"], "prediction": preds[_seed_key(q["question_id"])]}
            for q in seed["questions"]]


# ----------------------------------------------------------------------------- server submissions
def vqav2_submission(answers: list[dict], test_questions: list[dict]) -> list[dict]:
    """Reference ``convert_vqav2_for_submission``: one ``{question_id, answer}`` per question of the full test2015
    list (``llava_vqav2_mscoco_test2015.jsonl``), EvalAI-processed; unanswered questions get ""."""
    _check_answers(answers)
    preds = {a["question_id"]: a["text"] for a in answers}
    return [{"question_id": q["question_id"],
             "answer": normalize_vqa_answer(preds[q["question_id"]]) if q["question_id"] in preds else ""}
            for q in test_questions]


def vizwiz_submission(answers: list[dict], test_questions: list[dict]) -> list[dict]:
    """Reference ``convert_vizwiz_for_submission``: ``{image, answer}`` per question of ``llava_test.jsonl``,
    EvalAI-processed; every question must be answered."""
    _check_answers(answers)
    preds = {a["question_id"]: a["text"] for a in answers}
    missing = [q["question_id"] for q in test_questions if q["question_id"] not in preds]
    if missing:
        raise ValueError(f"VizWiz upload needs every question; {len(missing)} unanswered (e.g. {missing[:3]})")
    return [{"image": q["image"], "answer": normalize_vqa_answer(preds[q["question_id"]])} for q in test_questions]


def mmbench_submission(answers: list[dict], tsv: str | Path, out_xlsx: str | Path) -> int:
    """Reference ``convert_mmbench_for_submission``: the question tsv without hint/category/source/image/comment/
    l2-category, a ``prediction`` column inserted at position 6, filled by ``index`` == ``question_id``; written
    as xlsx (openpyxl). Returns the number of filled predictions. Needs ``pip install '.[eval]'``."""
    import pandas as pd

    _check_answers(answers)
    df = pd.read_table(tsv)
    cur = df.drop(columns=["hint", "category", "source", "image", "comment", "l2-category"])
    cur.insert(6, "prediction", None)
    filled = 0
    for a in answers:
        sel = df["index"] == a["question_id"]
        if not sel.any():
            raise ValueError(f"MMBench answer for index {a['question_id']!r} is not in {tsv}")
        cur.loc[sel, "prediction"] = a["text"]
        filled += 1
    from shared.io import atomic_path

    with atomic_path(out_xlsx) as tmp:
        cur.to_excel(tmp, index=False, engine="openpyxl")
    return filled


def mmvet_submission(answers: list[dict]) -> dict[str, str]:
    """Reference ``convert_mmvet_for_eval``: ``{"v1_<question_id>": text}`` for the MM-Vet GPT-4 grader."""
    _check_answers(answers)
    return {f"v1_{a['question_id']}": a["text"] for a in answers}


def llavabench_answers(answers: list[dict], questions: list[dict]) -> list[dict]:
    """LLaVA-Bench (in-the-wild): the judge (``eval_gpt_review_bench.py``) pairs answer lines with question lines
    by position, so the answers are returned in question-file order, every question answered."""
    _check_answers(answers)
    by_id = {a["question_id"]: a for a in answers}
    missing = [q["question_id"] for q in questions if q["question_id"] not in by_id]
    if missing:
        raise ValueError(f"LLaVA-Bench judge needs every question; {len(missing)} unanswered (e.g. {missing[:3]})")
    return [by_id[q["question_id"]] for q in questions]


# ----------------------------------------------------------------------------- synthetic world
def exact_match_score(answers: list[dict], gt: dict) -> dict:
    """Short-answer accuracy with the EvalAI normaliser (the synthetic world)."""
    ok = [normalize_vqa_answer(a["text"]) == normalize_vqa_answer(gt[a["question_id"]]) for a in answers]
    return {"accuracy": sum(ok) / max(len(ok), 1), "num": len(ok)}


def majority_baselines(train_qa: list[tuple[str, str]], test_qa: list[tuple[str, str]]) -> dict:
    """Global majority answer, and the stronger per-question-type majority (text-only prior)."""
    def qtype(q):
        return " ".join(q.split()[:2]).lower()

    glob = Counter(normalize_vqa_answer(a) for _, a in train_qa).most_common(1)[0][0]
    per = {}
    for q, a in train_qa:
        per.setdefault(qtype(q), Counter())[normalize_vqa_answer(a)] += 1
    g = sum(normalize_vqa_answer(a) == glob for _, a in test_qa) / len(test_qa)
    t = sum(normalize_vqa_answer(a) == (per[qtype(q)].most_common(1)[0][0] if qtype(q) in per else glob)
            for q, a in test_qa) / len(test_qa)
    return {"majority_answer": glob, "majority_accuracy": g, "per_type_majority_accuracy": t}
