"""Local scorers for LLaVA-1.5 evaluation: POPE, ScienceQA-IMG, TextVQA (VQA accuracy), GQA, exact match."""
from __future__ import annotations

import re

# ----------------------------------------------------------------------------- EvalAI VQA answer normalisation
_CONTRACTIONS = {
    "aint": "ain't", "arent": "aren't", "cant": "can't", "couldve": "could've", "couldnt": "couldn't",
    "didnt": "didn't", "doesnt": "doesn't", "dont": "don't", "hadnt": "hadn't", "hasnt": "hasn't",
    "havent": "haven't", "hed": "he'd", "hes": "he's", "howd": "how'd", "howll": "how'll", "hows": "how's",
    "Im": "I'm", "Ive": "I've", "isnt": "isn't", "itd": "it'd", "itll": "it'll", "let's": "let's", "maam": "ma'am",
    "mightnt": "mightn't", "mightve": "might've", "mustnt": "mustn't", "mustve": "must've", "neednt": "needn't",
    "notve": "not've", "oclock": "o'clock", "shant": "shan't", "shed": "she'd", "shes": "she's",
    "shouldve": "should've", "shouldnt": "shouldn't", "somebodys": "somebody's", "someones": "someone's",
    "thats": "that's", "thered": "there'd", "theres": "there's", "theyd": "they'd", "theyll": "they'll",
    "theyre": "they're", "theyve": "they've", "wasnt": "wasn't", "wed": "we'd", "weve": "we've",
    "werent": "weren't", "whatll": "what'll", "whatre": "what're", "whats": "what's", "whatve": "what've",
    "whens": "when's", "whered": "where'd", "wheres": "where's", "whereve": "where've", "whod": "who'd",
    "wholl": "who'll", "whos": "who's", "whove": "who've", "whyll": "why'll", "whyre": "why're", "whys": "why's",
    "wont": "won't", "wouldve": "would've", "wouldnt": "wouldn't", "yall": "y'all", "youd": "you'd",
    "youll": "you'll", "youre": "you're", "youve": "you've",
}
_NUMBERS = {"none": "0", "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
            "seven": "7", "eight": "8", "nine": "9", "ten": "10"}
_ARTICLES = {"a", "an", "the"}
_PERIOD_STRIP = re.compile(r"(?!<=\d)(\.)(?!\d)")
_COMMA_STRIP = re.compile(r"(\d)(,)(\d)")
_PUNCT = [";", r"/", "[", "]", '"', "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"]


def _process_punctuation(text: str) -> str:
    out = text
    for p in _PUNCT:
        if (p + " " in text or " " + p in text) or re.search(_COMMA_STRIP, text) is not None:
            out = out.replace(p, "")
        else:
            out = out.replace(p, " ")
    return _PERIOD_STRIP.sub("", out, re.UNICODE)


def _process_digit_article(text: str) -> str:
    words = []
    for w in text.lower().split():
        w = _NUMBERS.setdefault(w, w)
        if w not in _ARTICLES:
            words.append(w)
    return " ".join(_CONTRACTIONS.get(w, w) for w in words)


def normalize_vqa_answer(ans: str) -> str:
    """The EvalAI / VQA normaliser (used by TextVQA, VQAv2, VizWiz)."""
    ans = ans.replace("\n", " ").replace("\t", " ").strip()
    return _process_digit_article(_process_punctuation(ans))


def vqa_accuracy(pred: str, gt_answers: list[str]) -> float:
    """Soft VQA accuracy: mean over the leave-one-out annotator subsets of min(1, #matches / 3)."""
    pred = normalize_vqa_answer(pred)
    gts = [normalize_vqa_answer(g) for g in gt_answers]
    if not gts:
        raise ValueError("vqa_accuracy needs at least one ground-truth answer")
    accs = []
    for i in range(len(gts)):
        others = gts[:i] + gts[i + 1:]
        accs.append(min(1.0, sum(g == pred for g in others) / 3.0))
    return sum(accs) / len(accs)


def textvqa_score(answers: list[dict], annotations: list[dict]) -> dict:
    """answers: ``{question_id, text}``; annotations: ``{question_id, answers: [10 strings]}``."""
    gt = {a["question_id"]: a["answers"] for a in annotations}
    missing = [a["question_id"] for a in answers if a["question_id"] not in gt]
    if missing:
        raise ValueError(f"{len(missing)} answers have no annotation (e.g. {missing[:3]})")
    accs = [vqa_accuracy(a["text"], gt[a["question_id"]]) for a in answers]
    return {"accuracy": 100.0 * sum(accs) / max(len(accs), 1), "num": len(accs)}


# ----------------------------------------------------------------------------- POPE
def pope_label(text: str) -> str:
    """Reference: first sentence, commas removed; "no" if the words No/no/not occur, else "yes"."""
    text = text.split(".")[0].replace(",", "")
    words = text.split(" ")
    return "no" if ("No" in words or "not" in words or "no" in words) else "yes"


def pope_score(answers: list[dict], labels: list[dict]) -> dict:
    """answers ``{question_id, text}``; labels ``{question_id, label: yes|no}`` (matched by id, not order)."""
    gt = {l["question_id"]: l["label"].strip().lower() for l in labels}
    tp = fp = tn = fn = 0
    for a in answers:
        if a["question_id"] not in gt:
            raise ValueError(f"POPE answer {a['question_id']!r} has no label")
        p, y = pope_label(a["text"]), gt[a["question_id"]]
        tp += p == "yes" and y == "yes"
        fp += p == "yes" and y == "no"
        tn += p == "no" and y == "no"
        fn += p == "no" and y == "yes"
    n = tp + fp + tn + fn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"TP": tp, "FP": fp, "TN": tn, "FN": fn, "accuracy": (tp + tn) / n if n else 0.0,
            "precision": precision, "recall": recall, "f1": f1, "yes_ratio": (tp + fp) / n if n else 0.0}


# ----------------------------------------------------------------------------- ScienceQA
def sqa_letter(pred: str, options: list[str]) -> str:
    """Reference ``eval_science_qa``: exact letter, "X. …" prefix, or "The answer is X." — else FAILED."""
    letters = [chr(ord("A") + i) for i in range(len(options))]
    if pred in letters:
        return pred
    if len(pred) >= 3 and pred[0] in letters and pred[1:3] == ". ":
        return pred[0]
    m = re.compile(r"The answer is ([A-Z]).").findall(pred)
    if m and m[0] in letters:
        return m[0]
    return "FAILED"


def sqa_score(answers: list[dict], problems: dict) -> dict:
    """problems: ScienceQA ``problems.json`` (``{id: {choices, answer (index), image, split}}``)."""
    correct = total = img_correct = img_total = 0
    for a in answers:
        prob = problems[str(a["question_id"])]
        ok = sqa_letter(a["text"].strip(), prob["choices"]) == chr(ord("A") + int(prob["answer"]))
        correct += ok
        total += 1
        if prob.get("image"):
            img_correct += ok
            img_total += 1
    return {"accuracy": 100.0 * correct / max(total, 1), "img_accuracy": 100.0 * img_correct / max(img_total, 1),
            "num": total, "num_img": img_total}


# ----------------------------------------------------------------------------- GQA / exact match
def gqa_prediction(text: str) -> str:
    return text.strip().rstrip(".").lower()


def gqa_score(answers: list[dict], questions: dict) -> dict:
    """questions: GQA ``testdev_balanced_questions.json`` (``{qid: {answer}}``); local accuracy."""
    ok = [gqa_prediction(a["text"]) == questions[str(a["question_id"])]["answer"].lower() for a in answers]
    return {"accuracy": 100.0 * sum(ok) / max(len(ok), 1), "num": len(ok)}


def gqa_submission(answers: list[dict]) -> list[dict]:
    return [{"questionId": a["question_id"], "prediction": gqa_prediction(a["text"])} for a in answers]


def exact_match_score(answers: list[dict], gt: dict) -> dict:
    """Short-answer accuracy with the VQA normaliser (the synthetic world)."""
    ok = [normalize_vqa_answer(a["text"]) == normalize_vqa_answer(gt[a["question_id"]]) for a in answers]
    return {"accuracy": sum(ok) / max(len(ok), 1), "num": len(ok)}


def majority_baselines(train_qa: list[tuple[str, str]], test_qa: list[tuple[str, str]]) -> dict:
    """Global majority answer, and the stronger per-question-type majority (text-only prior)."""
    from collections import Counter

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
