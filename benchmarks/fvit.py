"""F-ViT speed and memory: training step time, inference images/s, peak memory, backbone share of the time.

    python benchmarks/fvit.py                                           # CPU: ViTamin-Tiny at 256²
    python benchmarks/fvit.py --model ViTamin-L-336 --size 896 --batch 2 --amp bf16   # the paper setting, GPU
Random-init weights (no download); the vocabulary is 1203 random unit vectors (LVIS-sized); the heads have the
paper's sizes (FPN 256, 1000 proposals, 512 sampled RoIs per image), which dominate on a CPU with a tiny backbone.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import device_name, step_functions, timed  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from backbone import build_backbone  # noqa: E402
from fvit_detection.modeling.detector import FViT, FViTModelConfig  # noqa: E402





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
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(args.model, device=device, window_stride=args.stride or bb_half(args.model))
    model = FViT(FViTModelConfig(backbone=args.model, score_thresh=args.score_thresh), bb).to(device)
    d = bb.spec.embed_dim
    model.roi_heads.set_vocabulary(F.normalize(torch.randn(args.classes + 1, d), dim=-1),
                                   torch.arange(args.classes) % 4 == 0)
    s = args.size
    images = torch.randn(args.batch, 3, s, s, device=device)
    targets = []
    for _ in range(args.batch):
        xy = torch.rand(8, 2, device=device) * s * 0.7
        wh = torch.rand(8, 2, device=device) * s * 0.3 + 16
        m = torch.zeros(8, s, s, dtype=torch.uint8, device=device)
        boxes = torch.cat([xy, xy + wh], 1).clamp(max=s - 1)
        for k, b in enumerate(boxes.long().tolist()):
            m[k, b[1]:b[3], b[0]:b[2]] = 1
        targets.append({"boxes": boxes, "labels": torch.randint(0, args.classes, (8,), device=device), "masks": m})
    batch = {"images": images, "image_sizes": [(s, s)] * args.batch, "targets": targets}
    train_step, infer = step_functions(model, batch, dtype, device)

    def backbone_only():
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            bb(images)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_train = timed(train_step, args.repeats, device)
    mem_train = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t_infer = timed(infer, args.repeats, device)
    mem_infer = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    t_bb = timed(backbone_only, args.repeats, device)
    name = device_name(device)
    print(f"device: {name}  model: {args.model}  input {s}x{s}  batch {args.batch}  amp {args.amp}  "
          f"windows/image {n_windows(bb, s)}")
    print(f"train step: {t_train * 1e3:.0f} ms ({args.batch / t_train:.2f} img/s), peak mem {mem_train:.2f} GiB")
    print(f"inference: {args.batch / t_infer:.2f} img/s, peak mem {mem_infer:.2f} GiB; "
          f"backbone share of inference time {t_bb / t_infer:.0%}")


def bb_half(name: str) -> int:
    from backbone.profile import backbone_info

    return backbone_info(name)["image_size"][0] // 2


def n_windows(bb, size: int) -> int:
    from backbone.sliding import window_origins

    stride = bb.options.window_stride or bb.spec.native_size
    return len(window_origins(size, bb.spec.native_size[0], stride[0], bb.extractor.token_stride)) ** 2


if __name__ == "__main__":
    main()
