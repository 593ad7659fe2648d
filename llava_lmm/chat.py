"""``python -m llava_lmm.chat --model DIR --image IMG`` — interactive CLI chat with streaming output.

Multi-turn: the image goes in front of the first user turn (``<image>\\n``), later turns are appended in the
model's template (``v1``); replies stream token by token. Empty line or Ctrl-D quits. ``--once "question"`` answers a
single question and exits (scripting). Runs on the GPU in float16 when there is one (``--device``, ``--dtype``).
A folder that is not a LLaVA model, an unreadable image or a device that is not here is one ``error:`` line
(exit 2) before the model loads.
"""
from __future__ import annotations

import argparse
import sys

from shared.hub import resolve_folder

from .data.conversation import get_template
from .data.image import open_image
from .pretrained import add_question, device_and_dtype, image_pixels, load_model, read_model_folder, stream_reply


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main

    return run_main(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m llava_lmm.chat", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="model dir written by llava_lmm.train")
    p.add_argument("--image", required=True, help="image file")
    p.add_argument("--conv-mode", default=None, help="template (default: the model's, v1)")
    p.add_argument("--temperature", type=float, default=0.2, help="0 = greedy")
    p.add_argument("--max-new-tokens", type=int, default=512)
    p.add_argument("--once", default=None, help="answer this one question and exit")
    p.add_argument("--device", default="auto", help="auto (the GPU if there is one, else cpu), cpu, cuda:0, ...")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                   help="auto: float16 on a GPU, float32 on the CPU")
    a = p.parse_args(argv)

    # the device, the folder and the image are checked before the model loads (one line each, exit 2)
    device, dtype = device_and_dtype(a.device, a.dtype)
    folder = resolve_folder(a.model)  # a Hub id: its snapshot in the Hub cache
    _, meta = read_model_folder(folder)
    image = open_image(a.image, meta["image_reading"])  # as the model was trained (default: photo)
    model, tok, proc, meta = load_model(folder, dtype, device)
    pixels = image_pixels([image], proc, meta["image_aspect_ratio"], model)
    conv = get_template(a.conv_mode or meta["template"])
    first = True
    while True:
        if a.once is not None:
            text = a.once
        else:
            try:
                text = input(f"{conv.roles[0]}: ")
            except EOFError:
                text = ""
        if not text.strip():
            break
        add_question(conv, text, with_image=first)
        first = False
        print(f"{conv.roles[1]}: ", end="", flush=True)
        reply = ""
        for piece in stream_reply(model, tok, pixels, conv, a.temperature, a.max_new_tokens):
            reply += piece
            print(piece, end="", flush=True)
        print()
        conv.messages[-1][-1] = reply.strip()
        if a.once is not None:
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
