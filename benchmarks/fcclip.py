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
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import AMP_DTYPES, device_name, step_functions, sync, timed  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from backbone import build_backbone  # noqa: E402
from backbone.profile import backbone_info  # noqa: E402
from backbone.text import TextClassifier  # noqa: E402
from fcclip_segmentation.modeling.fcclip import FCCLIP, FCCLIPModelConfig  # noqa: E402

TINY_HEADS = dict(hidden_dim=64, num_queries=16, encoder_layers=2, decoder_layers=4, num_heads=4, dim_feedforward=128,
                  encoder_feedforward_dim=128, train_num_points=2048)


def build(cfg: FCCLIPModelConfig, size: int, batch_size: int, device: torch.device,
          classes: int = 133) -> tuple[FCCLIP, dict]:
    """Random-init FC-CLIP of ``cfg`` (``cfg.pretrained`` ignored: no download) with ``classes`` random unit-vector
    class embeddings (the first 80 "things"), and a training batch of ``batch_size`` random ``size``² images with
    6 stripe masks each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(cfg.backbone, mode=cfg.backbone_mode, window_placement=cfg.window_placement,
                            window_batch_size=cfg.window_batch_size,
                            reference_skip_pos_embed=cfg.reference_skip_pos_embed)
    model = FCCLIP(cfg, bb, classes).to(device)
    clf = TextClassifier([f"class {i}" for i in range(classes)],
                         F.normalize(torch.randn(classes, bb.spec.embed_dim), dim=-1), torch.arange(classes), "max")
    model.set_vocabulary(clf, torch.arange(classes) < 80, torch.ones(classes, dtype=torch.bool))
    s = size
    images = torch.randn(batch_size, 3, s, s, device=device)
    targets = []
    for _ in range(batch_size):
        m = torch.zeros(6, s, s, device=device)
        for k in range(6):
            m[k, (k * s) // 6:((k + 1) * s) // 6] = 1
        targets.append({"masks": m, "labels": torch.randint(0, classes, (6,), device=device)})
    return model, {"images": images, "image_sizes": [(s, s)] * batch_size, "targets": targets}


def deform_attention_share(model: FCCLIP, infer, device: torch.device) -> float:
    """Fraction of one ``infer()`` call spent inside the pixel decoder's multi-scale deformable attention modules
    (transformers' pure-PyTorch op; timed with CUDA synchronisation around each call)."""
    spent: list[float] = []

    def pre(*_):
        sync(device)
        spent.append(-time.perf_counter())

    def post(*_):
        sync(device)
        spent.append(time.perf_counter())

    mods = [m for m in model.pixel_decoder.modules() if "DeformableAttention" in type(m).__name__]
    if not mods:
        raise RuntimeError("no deformable-attention module found in the pixel decoder")
    hooks = [h for m in mods for h in (m.register_forward_pre_hook(pre), m.register_forward_hook(post))]
    try:
        sync(device)
        t0 = time.perf_counter()
        infer()
        sync(device)
        total = time.perf_counter() - t0
    finally:
        for h in hooks:
            h.remove()
    return sum(spent) / total


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
    dtype = AMP_DTYPES[args.amp]
    torch.manual_seed(0)
    win = backbone_info(args.model)["image_size"][0]
    cfg = FCCLIPModelConfig(backbone=args.model, train_window_stride=win, test_window_stride=win // 3,
                            position_compensation_size=args.size, **({} if args.paper_heads else TINY_HEADS))
    model, batch = build(cfg, args.size, args.batch, device, args.classes)
    train_step, infer = step_functions(model, batch, dtype, device)
    t_infer = timed(infer, args.repeats, device)
    deform = deform_attention_share(model, infer, device)
    t_train = timed(train_step, args.repeats, device)
    print(f"device: {device_name(device)}  model: {args.model}  input {args.size}x{args.size}  batch {args.batch}  "
          f"amp {args.amp}  heads {'paper' if args.paper_heads else 'tiny'}")
    print(f"eval: {args.batch / t_infer:.2f} img/s (test stride {model.cfg.test_window_stride}); deformable "
          f"attention {deform:.0%} of eval time")
    print(f"train step (stride {model.cfg.train_window_stride}): {t_train * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
