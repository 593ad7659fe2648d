"""F-ViT speed and memory: training step time, inference images/s, peak memory, backbone share of the time.

    python benchmarks/fvit.py                                           # CPU: ViTamin-Tiny at 256²
    python benchmarks/fvit.py --model ViTamin-L-336 --size 896 --batch 2 --amp bf16   # the paper setting, GPU
Random-init weights (no download); the vocabulary is 1203 random unit vectors (LVIS-sized); the heads have the
paper's sizes (FPN 256, 1000 proposals, 512 sampled RoIs per image), which dominate on a CPU with a tiny backbone.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.backbone import num_windows  # noqa: E402
from benchmarks.timing import (AMP_DTYPES, autocast, device_name, peak_memory_gib, reset_peak_memory,  # noqa: E402
                               step_functions, timed)
import torch.nn.functional as F  # noqa: E402

from fvit_detection.modeling.detector import FViT, FViTModelConfig  # noqa: E402


def build(cfg: FViTModelConfig, size: int, batch_size: int, device: torch.device,
          classes: int = 1203) -> tuple[FViT, dict]:
    """Random-init F-ViT of ``cfg`` (``cfg.pretrained`` is ignored: no download) with ``classes`` random unit-vector
    class embeddings, and a training batch of ``batch_size`` random ``size``² images with 8 boxes + masks each."""
    from fvit_detection.builder import build_model
    from fvit_detection.config import FViTConfig

    model = build_model(FViTConfig(model=dataclasses.replace(cfg, pretrained=None))).to(device)
    bb = model.backbone
    d = bb.spec.embed_dim
    model.roi_heads.set_vocabulary(F.normalize(torch.randn(classes + 1, d), dim=-1), torch.arange(classes) % 4 == 0)
    s = size
    images = torch.randn(batch_size, 3, s, s, device=device)
    targets = []
    for _ in range(batch_size):
        xy = torch.rand(8, 2, device=device) * s * 0.7
        wh = torch.rand(8, 2, device=device) * s * 0.3 + 16
        m = torch.zeros(8, s, s, dtype=torch.uint8, device=device)
        boxes = torch.cat([xy, xy + wh], 1).clamp(max=s - 1)
        for k, b in enumerate(boxes.long().tolist()):
            m[k, b[1]:b[3], b[0]:b[2]] = 1
        targets.append({"boxes": boxes, "labels": torch.randint(0, classes, (8,), device=device), "masks": m})
    return model, {"images": images, "image_sizes": [(s, s)] * batch_size, "targets": targets}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViTamin-Tiny")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--stride", type=int, default=None, help="window stride (default: half the window, as F-ViT)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--classes", type=int, default=1203)
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    p.add_argument("--score-thresh", type=float, default=0.05,
                   help="test score threshold; random weights give flat scores that would send every one of the "
                        "1000×1203 candidates through NMS at the paper's 1e-4")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    dtype = AMP_DTYPES[args.amp]
    torch.manual_seed(0)
    cfg = FViTModelConfig(backbone=args.model, score_thresh=args.score_thresh,
                          window_stride=args.stride or bb_half(args.model))
    model, batch = build(cfg, args.size, args.batch, device, args.classes)
    bb, images, s = model.backbone, batch["images"], args.size
    train_step, infer = step_functions(model, batch, dtype, device)

    def backbone_only():
        with torch.no_grad(), autocast(device, dtype):
            bb(images)

    reset_peak_memory(device)
    t_train = timed(train_step, args.repeats, device)
    mem_train = peak_memory_gib(device) or float("nan")
    reset_peak_memory(device)
    t_infer = timed(infer, args.repeats, device)
    mem_infer = peak_memory_gib(device) or float("nan")
    t_bb = timed(backbone_only, args.repeats, device)
    name = device_name(device)
    print(f"device: {name}  model: {args.model}  input {s}x{s}  batch {args.batch}  amp {args.amp}  "
          f"windows/image {num_windows(bb, s, s, bb.options.window_stride[0])}")
    print(f"train step: {t_train * 1e3:.0f} ms ({args.batch / t_train:.2f} img/s), peak mem {mem_train:.2f} GiB")
    print(f"inference: {args.batch / t_infer:.2f} img/s, peak mem {mem_infer:.2f} GiB; "
          f"backbone share of inference time {t_bb / t_infer:.0%}")


def bb_half(name: str) -> int:
    from backbone.profile import backbone_info

    return backbone_info(name)["image_size"][0] // 2


if __name__ == "__main__":
    main()
