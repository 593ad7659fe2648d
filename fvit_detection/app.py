"""The detection tab of the web app: image + class list + score threshold → picture + table (``TAB``).

The handler never changes the model (one model serves every user): the request's classes go to
``FViT.predict(classes=...)``; an empty classes box means the model's saved vocabulary.
"""
from __future__ import annotations

from pathlib import Path

from shared.app_tab import AppTab, classes_info, read_upload, request_vocabulary
from shared.draw import DETECTION_MIN_SCORE


def load(folder: Path, device: str = "cpu"):
    from .pretrained import FViT

    return FViT.from_pretrained(folder, device=device)


def above(result: dict, min_score: float) -> dict:
    """The detections of ``result`` scoring at least ``min_score`` (all its per-detection entries)."""
    keep = result["scores"] >= min_score
    return {k: [n for n, kk in zip(v, keep) if kk] if k == "label_names" else v[keep] for k, v in result.items()}


def detect(model, image, classes: str, score: float):
    """Gradio handler: (picture, table rows, note). ``image``: the uploaded file's path (or a PIL image);
    ``classes``: this request's class list (empty: the model's saved vocabulary); ``score``: the threshold for
    the table and the picture. ``note`` says so when no detection reaches it."""
    import numpy as np

    image = np.asarray(read_upload(image))
    everything = model.predict(image, classes=request_vocabulary(model, classes))
    r = above(everything, score)
    rows = [[n, round(float(s), 3), [round(float(v), 1) for v in b]]
            for n, s, b in zip(r["label_names"], r["scores"], r["boxes"])]
    note = ""
    if not rows:
        best = f" (the best scores {float(everything['scores'].max()):.2f})" if len(everything["scores"]) else ""
        note = f"No detection scores ≥ {score:.2f}{best}: lower the score threshold or try other class names."
    return model.draw(image, r, min_score=score), rows, note


def build(model) -> None:
    import gradio as gr

    with gr.Row():
        with gr.Column():
            img = gr.Image(type="filepath", image_mode=None, label="image", elem_id="det_image")
            cls = gr.Textbox(";".join(model.class_names), label="classes", elem_id="det_classes",
                             info=classes_info(list(model.class_names)))
            score = gr.Slider(0, 1, DETECTION_MIN_SCORE, step=0.01, label="score threshold")
            btn = gr.Button("Detect", variant="primary", elem_id="det_run")
        with gr.Column():
            out = gr.Image(type="pil", label="detections", elem_id="det_out", format="png")
            note = gr.Markdown(elem_id="det_note")
            table = gr.Dataframe(headers=["class", "score", "box (x0, y0, x1, y1)"], label="table",
                                 elem_id="det_table")
    btn.click(lambda i, c, s: detect(model, i, c, s), [img, cls, score], [out, table, note])


TAB = AppTab(key="fvit", title="Detection (F-ViT)", tab_id="detection", model_help="F-ViT pretrained folder",
             demo_model="fvit_detection/pretrained", load=load, build=build)
