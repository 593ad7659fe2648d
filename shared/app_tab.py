"""What a package hands the web app: its tab (``AppTab``: how to load its model, how to lay out the tab and wire
its handler), and the pieces every tab's handlers share (reading an upload, showing an error on the page, the
request's vocabulary).

The app itself (which tabs, the command line, launching) lives on the top floor, which imports the packages; this
module names none of them. Gradio is imported only inside the functions that need it (importing it takes seconds,
and the handlers are also called directly, e.g. by tests).

One model object serves every user of the app: handlers never change it. A request's classes go to
``predict(classes=...)`` (the model's own vocabulary stays as loaded); an empty classes box means the model's saved
vocabulary, never an earlier request's.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

CLASSES_SYNTAX = ("Classes: separated by `;`, synonyms of one class by `,`, e.g. `traffic light;cat,kitty`. "
                  "Segmentation: a trailing `*` marks a stuff class (`sky*`).")


@dataclass(frozen=True)
class AppTab:
    """One tab of the web app, owned by the package whose model it shows."""

    key: str  # the command-line option (``--<key> DIR``) and the model's key in the app
    title: str  # the tab's label
    tab_id: str
    model_help: str  # what ``--<key>`` takes, for ``--help``
    demo_model: str  # where the demo writes this model, relative to the demo's output folder
    load: Callable[[Path, str], Any]  # (model folder, device) → the model the handlers get
    build: Callable[[Any], None]  # lays out the tab's components (inside its ``gr.Tab``) and wires its handler


def gradio_error(message: str) -> Exception:
    """The error a handler raises to show ``message`` on the page."""
    import gradio as gr

    return gr.Error(message)


def read_upload(image, reading: str = "photo"):
    """The uploaded file through the project's one reader (``shared.image.read_image``), so that the app reads a
    file as the CLIs and the API do. The inputs are ``gr.Image(type="filepath", image_mode=None)``: Gradio then
    hands over the uploaded file untouched (with ``type="numpy"`` or ``"pil"`` it would apply the EXIF orientation
    itself but convert with Pillow's ``convert("RGB")``, which clips 16-bit PNGs to white)."""
    from shared.image import read_image

    if image is None:
        raise gradio_error("upload an image first")
    try:
        return read_image(image, reading)
    except (FileNotFoundError, ValueError) as e:
        raise gradio_error(str(e)) from None


def request_vocabulary(model, text: str | None):
    """The vocabulary of one request: the classes typed in ``text`` (``model.make_vocabulary``, cached per class
    list), or ``None`` for an empty box — ``predict`` then uses the model's saved vocabulary. ``@file`` lists are
    refused (the app must not read files on the server for a web user); a bad list is shown on the page."""
    if not text or not text.strip():
        return None
    if text.strip().startswith("@"):
        raise gradio_error("type the classes themselves: the web app does not read @file lists")
    try:
        return model.make_vocabulary(text)
    except (ValueError, FileNotFoundError) as e:
        raise gradio_error(str(e)) from None


def classes_info(names: list[str]) -> str:
    """The classes box's hint: the syntax, and what an empty box means."""
    return (f'Separated by ";", synonyms of one class by ",". Empty: the model\'s saved vocabulary '
            f"({len(names)} classes: {'; '.join(names[:6])}{'; …' if len(names) > 6 else ''}).")
