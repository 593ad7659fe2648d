"""``python -m fvit_detection.predict --config CFG --checkpoint CKPT --image IMG --classes "a,b" --out OUT.png``

Open-vocabulary detection on one image with any class list (``;`` separates classes, ``,`` synonyms inside one
class when ``;`` is used; otherwise ``,`` separates classes). Classes of the training vocabulary are scored as
base, others as novel (fusion exponents α / β). Draws boxes, masks, labels and scores.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from backbone.preprocess import load_image
from shared.engine import CheckpointError, ConfigError, load_config
from shared.io import atomic_path, ensure_writable_dir, load_json
from shared.transforms import eval_input

from .builder import set_vocabulary
from .config import FViTConfig
from .eval import load_trained

PALETTE = [(230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
           (240, 50, 230), (210, 245, 60), (250, 190, 190), (0, 128, 128)]


def _key(name: str) -> str:
    """Names compare as F-ViT's prompts see them: "traffic_light" == "Traffic light"."""
    return name.replace("_", " ").lower().strip()


def parse_classes(text: str) -> list[str]:
    parts = text.split(";") if ";" in text else text.split(",")
    names = [p.strip() for p in parts if p.strip()]
    if not names:
        raise ValueError("--classes is empty")
    return names


def draw(image: Image.Image, det: dict, names: list[str], min_score: float) -> Image.Image:
    canvas = image.convert("RGBA")
    overlay = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    d = ImageDraw.Draw(overlay)
    for k in range(len(det["boxes"])):
        s = float(det["scores"][k])
        if s < min_score:
            continue
        c = PALETTE[int(det["labels"][k]) % len(PALETTE)]
        if "masks" in det:
            m = Image.fromarray((det["masks"][k] * 110).astype(np.uint8))
            overlay.paste(Image.new("RGBA", canvas.size, c + (255,)), (0, 0), m)
        x0, y0, x1, y1 = det["boxes"][k].tolist()
        d.rectangle([x0, y0, x1, y1], outline=c + (255,), width=2)
        d.text((x0 + 2, y0 + 1), f"{names[int(det['labels'][k])]} {s:.2f}", fill=(255, 255, 255, 255))
    return Image.alpha_composite(canvas, overlay).convert("RGB")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fvit_detection.predict", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--image", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--out", required=True, help="output PNG")
    p.add_argument("--min-score", type=float, default=0.2, help="draw detections above this score")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    try:
        cfg = load_config(FViTConfig, args.config, args.overrides)
        names = parse_classes(args.classes)
        ensure_writable_dir(Path(args.out).resolve().parent)  # fail before the model loads
        model = load_trained(cfg, args.checkpoint).eval()
        train_names = {_key(c["name"]) for c in load_json(cfg.data.train_ann)["categories"]}
        set_vocabulary(model, names, torch.tensor([_key(n) not in train_names for n in names]), cfg.text_cache)
        pil = Image.fromarray(np.asarray(load_image(args.image)))
    except (ConfigError, CheckpointError, FileNotFoundError, PermissionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = model.backbone.spec
    x, (h, w) = eval_input(np.asarray(pil), cfg.data.image_size, spec.mean, spec.std)
    scale = cfg.data.image_size / max(pil.size)
    with torch.no_grad():
        det = model({"images": x[None], "image_sizes": [(h, w)]})[0]
    det = {"boxes": det["boxes"] / scale, "scores": det["scores"], "labels": det["labels"]} | (
        {"masks": (torch.nn.functional.interpolate(det["masks"][:, :, :h, :w].float(), size=pil.size[::-1],
                                                   mode="bilinear")[:, 0] > 0.5).numpy()} if "masks" in det else {})
    with atomic_path(args.out) as tmp:
        draw(pil, det, names, args.min_score).save(tmp, format="PNG")
    kept = int((det["scores"] >= args.min_score).sum())
    for k in range(min(5, len(det["scores"]))):
        print(f"  {names[int(det['labels'][k])]:24s} {float(det['scores'][k]):.3f}  box {[round(v) for v in det['boxes'][k].tolist()]}")
    print(f"{kept} detections ≥ {args.min_score} drawn -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
