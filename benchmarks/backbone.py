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
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import AMP_DTYPES, autocast, device_name, timed  # noqa: E402

from backbone import BackboneOptions, ClipBackbone, build_backbone  # noqa: E402
from backbone.sliding import window_origins  # noqa: E402


def variant(bb: ClipBackbone, **opts) -> ClipBackbone:
    """Another feature extractor over the same CLIP weights (no copy)."""
    return ClipBackbone(bb.clip, bb.name, bb.spec.family, BackboneOptions(**opts))


def num_windows(bb: ClipBackbone, height: int, width: int, stride: int) -> int:
    ph, pw = bb.spec.padded_size(height, width, sliding=True)
    win, align = bb.spec.native_size, bb.extractor.token_stride
    return len(window_origins(ph, win[0], stride, align)) * len(window_origins(pw, win[1], stride, align))


def max_rel_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest |a − b| over every output map, relative to that map's largest |b|."""
    return max(((a[k].float() - b[k].float()).abs().max() / b[k].float().abs().max().clamp_min(1e-12)).item()
               for k in b)


def sliding_vs_single(bb: ClipBackbone, images: torch.Tensor, stride: int, window_batch: int, repeats: int,
                      dtype: torch.dtype | None) -> dict:
    """Seconds per call of the batched sliding forward (``window_batch`` windows per network call) and of the
    reference's one-window-at-a-time loop on ``images``, and how far their outputs differ."""
    device = images.device
    batched = variant(bb, window_stride=stride, window_batch_size=window_batch)
    single = variant(bb, window_stride=stride, window_batch_size=1)

    def run(m):
        with torch.no_grad(), autocast(device, dtype):
            return m(images)

    t_batched = timed(lambda: run(batched), repeats, device)
    t_single = timed(lambda: run(single), repeats, device)
    return {"batched_s": t_batched, "sequential_s": t_single,
            "max_rel_diff": max_rel_diff(run(batched), run(single))}


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
    dtype = AMP_DTYPES[args.dtype]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(args.model, device=device)
    clip, spec = bb.clip, bb.spec

    def run(fn):
        with torch.no_grad(), autocast(device, dtype):
            return fn()

    native = torch.randn(args.batch, 3, *spec.native_size, device=device)
    big = torch.randn(args.batch, 3, *args.size, device=device)
    t_trunk = timed(lambda: run(lambda: clip.encode_image(native)), args.repeats, device)
    t_pyr = timed(lambda: run(lambda: bb(native)), args.repeats, device)
    r = sliding_vs_single(bb, big, args.stride, args.window_batch, args.repeats, dtype)
    ph, pw = spec.padded_size(*args.size, sliding=True)
    print(f"device: {device_name(device)}  dtype: {args.dtype}  model: {args.model}  batch: {args.batch}")
    print(f"native {spec.native_size[0]}x{spec.native_size[1]}: encode_image {t_trunk * 1e3:.1f} ms, "
          f"pyramid {t_pyr * 1e3:.1f} ms  -> pyramid / trunk = {t_pyr / t_trunk:.2f}")
    print(f"sliding {args.size[0]}x{args.size[1]} (padded {ph}x{pw}), stride {args.stride}, "
          f"{num_windows(bb, *args.size, args.stride)} windows/image: batched({args.window_batch}) "
          f"{r['batched_s'] * 1e3:.1f} ms, one-by-one {r['sequential_s'] * 1e3:.1f} ms "
          f"-> batched / one-by-one = {r['batched_s'] / r['sequential_s']:.2f}  (max rel diff {r['max_rel_diff']:.2e})")


if __name__ == "__main__":
    main()
