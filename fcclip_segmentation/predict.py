"""``python -m fcclip_segmentation.predict --config CFG --checkpoint CKPT --image IMG --classes "..." --out OUT.png``

Open-vocabulary panoptic segmentation of one image with any class list: ``;`` separates classes, ``,`` separates
synonyms of one class (FC-CLIP's convention). A class name ending in ``*`` is treated as stuff (default: thing).
Writes a coloured overlay with labels.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from backbone.preprocess import load_image
from shared.engine import CheckpointError, ConfigError, load_config
from shared.io import atomic_path, ensure_writable_dir
from shared.transforms import eval_input

from .builder import set_vocabulary
from .config import FCCLIPConfig
from .eval import load_trained
from .modeling.postprocess import panoptic_inference


def parse_classes(text: str) -> tuple[list[str], torch.Tensor]:
    names, thing = [], []
    for part in text.split(";"):
        part = part.strip()
        if part:
            thing.append(not part.endswith("*"))
            names.append(part.rstrip("*").strip())
    if not names:
        raise ValueError("--classes is empty")
    return names, torch.tensor(thing)


def overlay(image: Image.Image, pan: np.ndarray, segments: list[dict], names: list[str]) -> Image.Image:
    rng = np.random.default_rng(0)
    colours = rng.integers(40, 255, (len(segments) + 1, 3))
    out = np.asarray(image).astype(np.float32).copy()
    for s in segments:
        m = pan == s["id"]
        out[m] = 0.45 * out[m] + 0.55 * colours[s["id"]]
    canvas = Image.fromarray(out.clip(0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for s in segments:
        ys, xs = np.nonzero(pan == s["id"])
        if len(xs):
            draw.text((int(xs.mean()) - 10, int(ys.mean()) - 5), f"{names[s['category']].split(',')[0]} "
                      f"{s['score']:.2f}", fill=(255, 255, 255))
    return canvas


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--classes", required=True, help='e.g. "red circle,red disc;sky*;grass*"')
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    try:
        cfg = load_config(FCCLIPConfig, args.config, args.overrides)
        names, is_thing = parse_classes(args.classes)
        ensure_writable_dir(Path(args.out).resolve().parent)  # fail before the model loads
        model, train_names = load_trained(cfg, args.checkpoint)
        set_vocabulary(model.eval(), names, is_thing, train_names, cfg.text_cache)
        pil = load_image(args.image)
    except (ConfigError, CheckpointError, FileNotFoundError, PermissionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    rgb = np.asarray(pil)
    spec = model.backbone.spec
    x, size = eval_input(rgb, cfg.data.image_size, spec.mean, spec.std, cfg.data.test_pad)
    with torch.no_grad():
        out = model({"images": x[None], "image_sizes": [size]})[0]
    masks = F.interpolate(out["mask_logits"][None], size=rgb.shape[:2], mode="bilinear", align_corners=False)[0]
    pan, segments = panoptic_inference(out["probs"], masks, model.is_thing, model.cfg.object_mask_threshold,
                                       model.cfg.overlap_threshold)
    with atomic_path(args.out) as tmp:
        overlay(pil, pan.numpy(), segments, names).save(tmp, format="PNG")
    for s in segments:
        print(f"  {names[s['category']].split(',')[0]:20s} {'thing' if s['isthing'] else 'stuff'}  "
              f"score {s['score']:.3f}  {(pan == s['id']).sum().item()} px")
    print(f"{len(segments)} segments -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
