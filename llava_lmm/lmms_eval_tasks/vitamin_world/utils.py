"""The ``vitamin_world_vqa`` task's functions (lmms-eval imports this file through the YAML's ``!function`` tags).

Rows: ``{"question_id", "image" (absolute path), "question", "answer"}``. The prompt is the question alone:
``llava_hf`` puts the image first and the folder's chat template adds LLaVA's ``v1`` frame, as ``llava_lmm.eval``
does. Scored with lmms-eval's own EvalAI answer normaliser (``lmms_eval.tasks._task_utils.vqa_eval_metric``), the
rule ``llava_lmm.eval score --task exact`` applies with its own implementation.
"""
from PIL import Image


def doc_to_visual(doc):
    return [Image.open(doc["image"]).convert("RGB")]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    return doc["question"]


def process_results(doc, results):
    from lmms_eval.tasks._task_utils.vqa_eval_metric import EvalAIAnswerProcessor

    normalise = EvalAIAnswerProcessor()
    return {"exact_match": float(normalise(results[0]) == normalise(doc["answer"]))}
