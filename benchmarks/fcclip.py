"""FC-CLIP speed: eval images/s, one training step, and the share of the pure-PyTorch deformable attention.

    python benchmarks/fcclip.py                                   # CPU: ViTamin-Tiny, 256², tiny heads
    python benchmarks/fcclip.py --model ViTamin-L-336 --size 1344 --paper-heads --amp bf16   # the paper setting, GPU
Random-init weights (no download); 133 random "classes" with one synonym each.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import device_name, step_functions, timed  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from backbone import build_backbone  # noqa: E402
from backbone.text import TextClassifier  # noqa: E402
from fcclip_segmentation.modeling.fcclip import FCCLIP, FCCLIPModelConfig  # noqa: E402

TINY_HEADS = dict(hidden_dim=64, num_queries=16, encoder_layers=2, decoder_layers=4, num_heads=4, dim_feedforward=128,
                  encoder_feedforward_dim=128, train_num_points=2048)




def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViTamin-Tiny")
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--paper-heads", action="store_true", help="250 queries, 6+9 layers, 256-d (default: tiny heads)")
    p.add_argument("--classes", type=int, default=133)
    p.add_argument("--amp", choices=["none", "bf16", "fp16"], default="none")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args()
    device = torch.device(args.device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(args.amp)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(args.model, device=device)
    win = bb.spec.native_size[0]
    heads = {} if args.paper_heads else TINY_HEADS
    cfg = FCCLIPModelConfig(backbone=args.model, train_window_stride=win, test_window_stride=win // 3,
                            position_compensation_size=args.size, **heads)
    model = FCCLIP(cfg, bb, args.classes).to(device)
    d = bb.spec.embed_dim
    clf = TextClassifier([f"class {i}" for i in range(args.classes)], F.normalize(torch.randn(args.classes, d), dim=-1),
                         torch.arange(args.classes), "max")
    model.set_vocabulary(clf, torch.arange(args.classes) < 80, torch.ones(args.classes, dtype=torch.bool))
    s = args.size
    images = torch.randn(args.batch, 3, s, s, device=device)
    targets = []
    for _ in range(args.batch):
        m = torch.zeros(6, s, s, device=device)
        for k in range(6):
            m[k, (k * s) // 6:((k + 1) * s) // 6] = 1
        targets.append({"masks": m, "labels": torch.randint(0, args.classes, (6,), device=device)})
    batch = {"images": images, "image_sizes": [(s, s)] * args.batch, "targets": targets}
    train_step, infer = step_functions(model, batch, dtype, device)

    encoder = model.pixel_decoder.encoder
    spent = []
    pre = encoder.register_forward_pre_hook(lambda *a: spent.append(-time.perf_counter()))
    post = encoder.register_forward_hook(lambda *a: spent.append(time.perf_counter()))
    t_infer = timed(infer, args.repeats, device)
    deform = sum(spent[-2:]) if len(spent) >= 2 else float("nan")
    pre.remove(), post.remove()
    t_train = timed(train_step, args.repeats, device)
    name = device_name(device)
    print(f"device: {name}  model: {args.model}  input {s}x{s}  batch {args.batch}  amp {args.amp}  "
          f"heads {'paper' if args.paper_heads else 'tiny'}")
    print(f"eval: {args.batch / t_infer:.2f} img/s (test stride {win // 3}); deformable-attention encoder "
          f"{deform / t_infer:.0%} of eval time")
    print(f"train step (stride {win}): {t_train * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
