"""Backbone overheads, measured side by side in one run.

1. pyramid extraction (``ClipBackbone`` at the native size) ÷ the bare trunk forward (``encode_image``);
2. sliding windows batched ÷ one window at a time, on a larger input (outputs checked equal).

    python benchmarks/backbone.py                                   # ViTamin-S, 448², stride 112, CPU
    python benchmarks/backbone.py --model ViTamin-L-336 --size 1344 1344 --stride 112 --dtype bf16   # GPU
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import device_name, timed  # noqa: E402

from backbone import BackboneOptions, ClipBackbone, build_backbone  # noqa: E402
from backbone.sliding import window_origins  # noqa: E402




def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ViTamin-S")
    p.add_argument("--size", type=int, nargs=2, default=(448, 448), metavar=("H", "W"))
    p.add_argument("--stride", type=int, default=112, help="sliding-window stride (pixels)")
    p.add_argument("--batch", type=int, default=1, help="images per batch")
    p.add_argument("--window-batch", type=int, default=16, help="windows per network call when batched")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default="fp32", help="autocast dtype")
    args = p.parse_args()

    device = torch.device(args.device)
    dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(args.model, device=device)
    clip, spec = bb.clip, bb.spec

    def variant(**opts) -> ClipBackbone:
        return ClipBackbone(clip, args.model, spec.family, BackboneOptions(**opts))

    def run(fn):
        with torch.no_grad(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            return fn()

    native = torch.randn(args.batch, 3, *spec.native_size, device=device)
    big = torch.randn(args.batch, 3, *args.size, device=device)
    t_trunk = timed(lambda: run(lambda: clip.encode_image(native)), args.repeats, device)
    t_pyr = timed(lambda: run(lambda: bb(native)), args.repeats, device)
    batched = variant(window_stride=args.stride, window_batch_size=args.window_batch)
    single = variant(window_stride=args.stride, window_batch_size=1)
    t_batched = timed(lambda: run(lambda: batched(big)), args.repeats, device)
    t_single = timed(lambda: run(lambda: single(big)), args.repeats, device)
    a, b = run(lambda: batched(big)), run(lambda: single(big))
    max_diff = max((a[k] - b[k]).abs().max().item() for k in a)
    ph, pw = spec.padded_size(*args.size, sliding=True)
    n_win = len(window_origins(ph, spec.native_size[0], args.stride, bb.extractor.token_stride)) * len(
        window_origins(pw, spec.native_size[1], args.stride, bb.extractor.token_stride))
    name = device_name(device)
    print(f"device: {name}  dtype: {args.dtype}  model: {args.model}  batch: {args.batch}")
    print(f"native {spec.native_size[0]}x{spec.native_size[1]}: encode_image {t_trunk * 1e3:.1f} ms, "
          f"pyramid {t_pyr * 1e3:.1f} ms  -> pyramid / trunk = {t_pyr / t_trunk:.2f}")
    print(f"sliding {args.size[0]}x{args.size[1]} (padded {ph}x{pw}), stride {args.stride}, {n_win} windows/image: "
          f"batched({args.window_batch}) {t_batched * 1e3:.1f} ms, one-by-one {t_single * 1e3:.1f} ms "
          f"-> batched / one-by-one = {t_batched / t_single:.2f}  (max |diff| {max_diff:.2e})")


if __name__ == "__main__":
    main()
