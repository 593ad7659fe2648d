"""``python -m apps.web [--fvit DIR] [--fcclip DIR] [--llava DIR] [--port 7860]`` — the web app (Gradio).
Each model may also be a Hub id (``org/name``), read through the Hub cache as ``from_pretrained`` reads it.

Three tabs on localhost: detection (image + class list → picture + table), panoptic segmentation (image + class
list → overlay + legend) and LLaVA chat (image + question → streamed answer). Without arguments the folders that
``python -m apps.demo`` wrote are used (``outputs/demo/<step>/...``); a tab whose model is missing says how to get
one. One model per tab serves every user: a request's classes apply to that request only, and an empty classes
box means the model's saved vocabulary. Needs the ``app`` extra: ``pip install -e ".[app]"``.

Each package owns its tab (``shared.app_tab.AppTab``, in the package's ``app.py``); this module lists them.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import fcclip_segmentation.app
import fvit_detection.app
import llava_lmm.app
from apps.demo import DEFAULT_OUT as DEMO
from shared.app_tab import CLASSES_SYNTAX, AppTab

TABS: list[AppTab] = [fvit_detection.app.TAB, fcclip_segmentation.app.TAB, llava_lmm.app.TAB]


def default_folder(tab: AppTab) -> Path:
    """Where ``python -m apps.demo`` writes the tab's model."""
    return DEMO / tab.demo_model


def load_models(dirs: dict[str, str | Path | None], device: str = "cpu") -> tuple[dict, dict]:
    """(models by tab key, a message per tab without a model) for ``dirs`` (tab key → folder or None: the demo's).
    A missing default folder is not an error (the tab explains); a missing folder that was asked for is."""
    tabs = {t.key: t for t in TABS}
    models, missing = {}, {}
    for key, given in dirs.items():
        folder = _given_folder(key, given) if given else default_folder(tabs[key])
        if given and not (folder / "config.json").is_file():
            raise FileNotFoundError(f"--{key} {given}: no model there (config.json missing)")
        if not (folder / "config.json").is_file():
            missing[key] = (f"No model in `{folder}`: run `python -m apps.demo` (writes the demo models) or start "
                            f"the app with `--{key} DIR`.")
            continue
        models[key] = tabs[key].load(folder, device)
    return models, missing


def _given_folder(key: str, given: str | Path) -> Path:
    """``--<key>``'s folder: a local folder, or a Hub id ``org/name`` read through the Hub cache (as every
    ``from_pretrained``); one ``ModelFolderError`` naming the option otherwise."""
    from shared.hub import ModelFolderError, resolve_folder

    try:
        return resolve_folder(given)
    except ModelFolderError as e:
        raise ModelFolderError(f"--{key} {e}") from None


def build_app(models: dict, missing: dict):
    """The Gradio Blocks: one tab per ``TABS`` entry, its model's or a note saying how to get one."""
    import gradio as gr

    with gr.Blocks(title="ViTamin downstream demo") as app:
        gr.Markdown("# ViTamin downstream: open-vocabulary detection, panoptic segmentation, LLaVA chat\n"
                    + CLASSES_SYNTAX)
        for tab in TABS:
            with gr.Tab(tab.title, id=tab.tab_id):
                if tab.key in models:
                    tab.build(models[tab.key])
                else:
                    gr.Markdown(missing.get(tab.key, f"No model for this tab (`--{tab.key} DIR`)."))
    return app


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m apps.web", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    for tab in TABS:
        p.add_argument(f"--{tab.key}", help=f"{tab.model_help} or Hub id org/name (default: {default_folder(tab)})")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--host", default="127.0.0.1", help="127.0.0.1 (this machine only) or 0.0.0.0")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        import gradio  # noqa: F401
    except ImportError:
        print('error: the web app needs Gradio: pip install -e ".[app]"', file=sys.stderr)
        return 2
    from shared.cli import check_device, report_user_error

    try:
        check_device(args.device)  # a GPU that is not here: one line before any model loads
        models, missing = load_models({t.key: getattr(args, t.key) for t in TABS}, args.device)
    except Exception as e:  # noqa: BLE001 — a user's error (shared.errors) is one line, anything else re-raised
        if not report_user_error(e):
            raise
        return 2
    for msg in missing.values():
        print(f"note: {msg}", file=sys.stderr)
    if not models:
        print("error: no model found; run `python -m apps.demo` first or pass "
              + "/".join(f"--{t.key}" for t in TABS), file=sys.stderr)
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
