"""The LLaVA chat tab of the web app: image + question → streamed answer (``TAB``).

Loading and prompt assembly go through ``llava_lmm.pretrained`` (the folder's template, aspect rule and image
reading), as ``llava_lmm.chat`` and ``llava_lmm.eval`` do.
"""
from __future__ import annotations

from pathlib import Path

from shared.app_tab import AppTab, gradio_error


def load(folder: Path, device: str = "cpu"):
    from .pretrained import load_model

    return load_model(folder, device=device)


def chat(llava, image, question: str, temperature: float = 0.0, max_new_tokens: int = 128):
    """Gradio handler: the answer so far, streamed. ``llava``: what ``load`` returned; ``image``: the uploaded
    file's path (or a PIL image), read as the model was trained (its ``image_reading``)."""
    from .pretrained import stream_answer

    if image is None or not (question or "").strip():
        raise gradio_error("upload an image and type a question")
    try:
        pieces = stream_answer(llava, image, question.strip(), temperature, max_new_tokens)
        answer = ""
        for piece in pieces:
            answer += piece
            yield answer
    except ValueError as e:  # an unreadable upload (ImageError), named
        raise gradio_error(str(e)) from None
    yield answer.strip() or "(empty answer)"


def build(llava) -> None:
    import gradio as gr

    with gr.Row():
        with gr.Column():
            img = gr.Image(type="filepath", image_mode=None, label="image", elem_id="chat_image")
            q = gr.Textbox(label="question", elem_id="chat_question")
            temp = gr.Slider(0, 1, 0.0, step=0.05, label="temperature (0 = greedy)")
            btn = gr.Button("Ask", variant="primary", elem_id="chat_run")
        answer = gr.Textbox(label="answer", lines=6, elem_id="chat_answer", interactive=False)

    def ask(i, qq, t):
        yield from chat(llava, i, qq, t)

    btn.click(ask, [img, q, temp], answer)


TAB = AppTab(key="llava", title="LLaVA chat", tab_id="chat", model_help="LLaVA model folder",
             demo_model="llava_lmm/stage2", load=load, build=build)
