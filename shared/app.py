"""``python -m shared.app [--fvit DIR] [--fcclip DIR] [--llava DIR] [--port 7860]`` — the web demo (Gradio).

Three tabs on localhost: detection (image + class list → picture + table), panoptic segmentation (image + class
list → overlay + legend) and LLaVA chat (image + question → streamed answer). Without arguments the folders that
``python -m shared.demo`` wrote are used (``outputs/demo/<step>/...``); a tab whose model is missing says how to get
one. Needs the ``app`` extra: ``pip install -e ".[app]"``.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from pathlib import Path

DEMO = Path("outputs/demo")
DEFAULTS = {"fvit": DEMO / "fvit_detection" / "pretrained", "fcclip": DEMO / "fcclip_segmentation" / "pretrained",
            "llava": DEMO / "llava_lmm" / "stage2"}
# shared must not import the adapters (they import shared): they are loaded by module name when a tab needs them
MODELS = {"fvit": "fvit_detection.pretrained:FViT", "fcclip": "fcclip_segmentation.pretrained:FCCLIP"}
DEFAULT_SCORE = 0.3


def _load(target: str):
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def load_models(dirs: dict[str, str | Path | None], device: str = "cpu") -> tuple[dict, dict]:
    """(models by tab, a message per tab without a model). A missing default folder is not an error (the tab
    explains); a missing folder that was asked for is."""
    models, missing = {}, {}
    for key, given in dirs.items():
        folder = Path(given) if given else DEFAULTS[key]
        if given and not (folder / "config.json").is_file():
            raise FileNotFoundError(f"--{key} {folder}: no model there (config.json missing)")
        if not (folder / "config.json").is_file():
            missing[key] = (f"No model in `{folder}`: run `python -m shared.demo` (writes the demo models) or start "
                            f"the app with `--{key} DIR`.")
            continue
        if key == "llava":
            models[key] = _load("llava_lmm.pretrained:load_model")(folder)
        else:
            models[key] = _load(MODELS[key]).from_pretrained(folder, device=device)
    return models, missing


def _gradio_error(message: str) -> Exception:
    """The error a handler raises to show ``message`` on the page (Gradio is imported only then: importing it
    takes seconds, and the handlers are also called directly)."""
    import gradio as gr

    return gr.Error(message)


def _classes_or_error(model, text: str):
    try:
        if text and text.strip():
            model.set_classes(text)
    except (ValueError, FileNotFoundError) as e:
        raise _gradio_error(str(e)) from None


def _photo(image, reading: str = "photo"):
    """The uploaded file through the project's one reader (``shared.image.read_image``), so that the app reads a
    file as the CLIs and the API do. The inputs are ``gr.Image(type="filepath", image_mode=None)``: Gradio then
    hands over the uploaded file untouched (with ``type="numpy"`` or ``"pil"`` it would apply the EXIF orientation
    itself but convert with Pillow's ``convert("RGB")``, which clips 16-bit PNGs to white)."""
    from shared.image import read_image

    if image is None:
        raise _gradio_error("upload an image first")
    try:
        return read_image(image, reading)
    except (FileNotFoundError, ValueError) as e:
        raise _gradio_error(str(e)) from None


def detect(model, image, classes: str, score: float):
    """Gradio handler: (picture, table rows). ``image``: the uploaded file's path (or a PIL image)."""
    import numpy as np

    image = np.asarray(_photo(image))
    _classes_or_error(model, classes)
    r = model.predict(image, score_threshold=score)
    rows = [[n, round(float(s), 3), [round(float(v), 1) for v in b]]
            for n, s, b in zip(r["label_names"], r["scores"], r["boxes"])]
    return model.draw(image, r), rows


def segment(model, image, classes: str):
    """Gradio handler: (overlay, legend rows). ``image``: the uploaded file's path (or a PIL image)."""
    import numpy as np

    from shared.draw import segment_colour

    image = np.asarray(_photo(image))
    _classes_or_error(model, classes)
    r = model.predict(image)
    total = r["panoptic"].size
    rows = [["#%02x%02x%02x" % segment_colour(s), s["label_name"], "thing" if s["isthing"] else "stuff",
             round(s["score"], 3), f"{100 * s['area'] / total:.1f}%"] for s in r["segments"]]
    return model.draw(image, r), rows


def chat(llava, image, question: str, temperature: float = 0.0, max_new_tokens: int = 128):
    """Gradio handler: the answer so far, streamed. ``image``: the uploaded file's path (or a PIL image), read as
    the model was trained (its ``image_reading``)."""
    stream_answer = _load("llava_lmm.pretrained:stream_answer")  # prompt assembly is the model folder's business
    if image is None or not (question or "").strip():
        raise _gradio_error("upload an image and type a question")
    try:
        pieces = stream_answer(llava, image, question.strip(), temperature, max_new_tokens)
        answer = ""
        for piece in pieces:
            answer += piece
            yield answer
    except ValueError as e:  # an unreadable upload (ImageError), named
        raise _gradio_error(str(e)) from None
    yield answer.strip() or "(empty answer)"


def build_app(models: dict, missing: dict):
    """The Gradio Blocks of the three tabs."""
    import gradio as gr

    with gr.Blocks(title="ViTamin downstream demo") as app:
        gr.Markdown("# ViTamin downstream: open-vocabulary detection, panoptic segmentation, LLaVA chat\n"
                    'Classes: separated by `;`, synonyms of one class by `,`, e.g. `traffic light;cat,kitty`. '
                    "Segmentation: a trailing `*` marks a stuff class (`sky*`).")
        with gr.Tab("Detection (F-ViT)", id="detection"):
            if "fvit" in models:
                m = models["fvit"]
                with gr.Row():
                    with gr.Column():
                        img = gr.Image(type="filepath", image_mode=None, label="image", elem_id="det_image")
                        cls = gr.Textbox(";".join(m.class_names), label="classes", elem_id="det_classes")
                        score = gr.Slider(0, 1, DEFAULT_SCORE, step=0.01, label="score threshold")
                        btn = gr.Button("Detect", variant="primary", elem_id="det_run")
                    with gr.Column():
                        out = gr.Image(type="pil", label="detections", elem_id="det_out", format="png")
                        table = gr.Dataframe(headers=["class", "score", "box (x0, y0, x1, y1)"], label="table",
                                             elem_id="det_table")
                btn.click(lambda i, c, s: detect(m, i, c, s), [img, cls, score], [out, table])
            else:
                gr.Markdown(missing["fvit"])
        with gr.Tab("Panoptic segmentation (FC-CLIP)", id="segmentation"):
            if "fcclip" in models:
                m2 = models["fcclip"]
                with gr.Row():
                    with gr.Column():
                        img2 = gr.Image(type="filepath", image_mode=None, label="image", elem_id="seg_image")
                        default = [n + ("" if t else "*") for n, t in zip(m2.class_names, m2.is_thing.tolist())]
                        cls2 = gr.Textbox(";".join(default), label="classes", elem_id="seg_classes")
                        btn2 = gr.Button("Segment", variant="primary", elem_id="seg_run")
                    with gr.Column():
                        out2 = gr.Image(type="pil", label="segments", elem_id="seg_out", format="png")
                        legend = gr.Dataframe(headers=["colour", "class", "kind", "score", "area"], label="legend",
                                              elem_id="seg_legend")
                btn2.click(lambda i, c: segment(m2, i, c), [img2, cls2], [out2, legend])
            else:
                gr.Markdown(missing["fcclip"])
        with gr.Tab("LLaVA chat", id="chat"):
            if "llava" in models:
                llava = models["llava"]
                with gr.Row():
                    with gr.Column():
                        img3 = gr.Image(type="filepath", image_mode=None, label="image", elem_id="chat_image")
                        q = gr.Textbox(label="question", elem_id="chat_question")
                        temp = gr.Slider(0, 1, 0.0, step=0.05, label="temperature (0 = greedy)")
                        btn3 = gr.Button("Ask", variant="primary", elem_id="chat_run")
                    answer = gr.Textbox(label="answer", lines=6, elem_id="chat_answer", interactive=False)

                def ask(i, qq, t):
                    yield from chat(llava, i, qq, t)

                btn3.click(ask, [img3, q, temp], answer)
            else:
                gr.Markdown(missing["llava"])
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.app", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fvit", help=f"F-ViT pretrained folder (default: {DEFAULTS['fvit']})")
    p.add_argument("--fcclip", help=f"FC-CLIP pretrained folder (default: {DEFAULTS['fcclip']})")
    p.add_argument("--llava", help=f"LLaVA model folder (default: {DEFAULTS['llava']})")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only) or 0.0.0.0")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the web demo needs Gradio: pip install -e ".[app]"', file=sys.stderr)
        return 2
    from shared.cli import check_device, report_user_error

    try:
        check_device(args.device)  # a GPU that is not here: one line before any model loads
        models, missing = load_models({"fvit": args.fvit, "fcclip": args.fcclip, "llava": args.llava}, args.device)
    except Exception as e:  # noqa: BLE001 — a user's error (shared.errors) is one line, anything else re-raised
        if not report_user_error(e):
            raise
        return 2
    for msg in missing.values():
        print(f"note: {msg}", file=sys.stderr)
    if not models:
        print("error: no model found; run `python -m shared.demo` first or pass --fvit/--fcclip/--llava",
              file=sys.stderr)
        return 2
    launch(build_app(models, missing), args.host, args.port)
    return 0


def launch(app, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve ``app``; ``block=False`` returns at once (tests)."""
    import gradio as gr

    # system fonts: no web-font download, so the page renders offline
    theme = gr.themes.Default(font=["system-ui", "sans-serif"], font_mono=["monospace"])
    return app.queue().launch(server_name=host, server_port=port, theme=theme, prevent_thread_lock=not block,
                              quiet=not block)


if __name__ == "__main__":
    sys.exit(main())
