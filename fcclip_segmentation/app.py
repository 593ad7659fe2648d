"""The panoptic segmentation tab of the web app: image + class list → overlay + legend (``TAB``).

The handler never changes the model (one model serves every user): the request's classes go to
``FCCLIP.predict(classes=...)``; an empty classes box means the model's saved vocabulary.
"""
from __future__ import annotations

from pathlib import Path

from shared.app_tab import AppTab, classes_info, read_upload, request_vocabulary


def load(folder: Path, device: str = "cpu"):
    from .pretrained import FCCLIP

    return FCCLIP.from_pretrained(folder, device=device)


def segment(model, image, classes: str):
    """Gradio handler: (overlay, legend rows, note). ``image``: the uploaded file's path (or a PIL image);
    ``classes``: this request's class list (empty: the model's saved vocabulary). ``note`` says so when no
    segment is found (none passes the model's mask-score threshold)."""
    import numpy as np

    from shared.draw import segment_colour

    image = np.asarray(read_upload(image))
    r = model.predict(image, classes=request_vocabulary(model, classes))
    total = r["panoptic"].size
    rows = [["#%02x%02x%02x" % segment_colour(s), s["label_name"], "thing" if s["isthing"] else "stuff",
             round(s["score"], 3), f"{100 * s['area'] / total:.1f}%"] for s in r["segments"]]
    note = "" if rows else (f"No segment found (the model keeps masks scoring above "
                            f"{model.cfg.object_mask_threshold:g}): try other class names.")
    return model.draw(image, r), rows, note


def build(model) -> None:
    import gradio as gr

    saved = [n + ("" if t else "*") for n, t in zip(model.class_names, model.is_thing.tolist())]
    with gr.Row():
        with gr.Column():
            img = gr.Image(type="filepath", image_mode=None, label="image", elem_id="seg_image")
            cls = gr.Textbox(";".join(saved), label="classes", elem_id="seg_classes", info=classes_info(saved))
            btn = gr.Button("Segment", variant="primary", elem_id="seg_run")
        with gr.Column():
            out = gr.Image(type="pil", label="segments", elem_id="seg_out", format="png")
            note = gr.Markdown(elem_id="seg_note")
            legend = gr.Dataframe(headers=["colour", "class", "kind", "score", "area"], label="legend",
                                  elem_id="seg_legend")
    btn.click(lambda i, c: segment(model, i, c), [img, cls], [out, legend, note])


TAB = AppTab(key="fcclip", title="Panoptic segmentation (FC-CLIP)", tab_id="segmentation",
             model_help="FC-CLIP pretrained folder", demo_model="fcclip_segmentation/pretrained", load=load,
             build=build)
