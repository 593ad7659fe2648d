"""``python -m backbone {list,info,features}`` — inspect registry models and their feature pyramids."""
from __future__ import annotations

import argparse
import json
import sys
import warnings


def _cmd_list(args) -> None:
    from .registry import REGISTRY

    for name, e in REGISTRY.items():
        print(f"{name:24s} {e.family:9s} {e.note}")


def _cmd_info(args) -> None:
    from .profile import backbone_info

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info = backbone_info(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return
    print(f"{info['name']} ({info['family']}), native {info['image_size'][0]}×{info['image_size'][1]}, "
          f"CLIP embed {info['embed_dim']}")
    print(f"  params: image {info['params_image'] / 1e6:.2f} M, text {info['params_text'] / 1e6:.2f} M")
    print(f"  MACs:   image {info['macs_image'] / 1e9:.2f} G (+attention {info['macs_image_with_attention'] / 1e9:.2f} G), "
          f"text {info['macs_text'] / 1e9:.2f} G")
    for level, v in info["pyramid"].items():
        print(f"  {level:10s} channels {v['channels']:5d}  stride {v['stride']}")
    for w in info["warnings"]:
        print(f"  warning: {w}")


def _cmd_features(args) -> None:
    import torch

    from .factory import build_backbone
    from shared.image import read_image

    from .preprocess import to_tensor

    opts = {"mode": args.mode}
    if args.stride:
        opts["window_stride"] = args.stride
    bb = build_backbone(args.name, pretrained=args.pretrained, **opts)
    size = tuple(args.size) if args.size else bb.spec.native_size
    x = to_tensor(read_image(args.image), size, bb.spec.mean, bb.spec.std)
    with torch.no_grad():
        out = bb(x)
    print(f"{args.name} [{bb.weights}] mode={args.mode} input {tuple(x.shape)}")
    for k, v in out.items():
        print(f"  {k:10s} {tuple(v.shape)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backbone", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="registry names").set_defaults(fn=_cmd_list)
    pi = sub.add_parser("info", help="native size, embed dim, params, MACs and pyramid of a model")
    pi.add_argument("name")
    pi.add_argument("--json", action="store_true", help="print one JSON object")
    pi.set_defaults(fn=_cmd_info)
    pf = sub.add_parser("features", help="extract the pyramid of one image and print its shapes")
    pf.add_argument("name")
    pf.add_argument("--image", required=True)
    pf.add_argument("--size", type=int, nargs=2, metavar=("H", "W"), help="resize to H W (default: native size)")
    pf.add_argument("--mode", choices=["sliding", "interpolate"], default="sliding")
    pf.add_argument("--stride", type=int, help="sliding-window stride in pixels (default: the window size)")
    pf.add_argument("--pretrained", help="open_clip pretrained tag or local weights file (default: random init)")
    pf.set_defaults(fn=_cmd_features)
    args = p.parse_args(argv)
    try:
        args.fn(args)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
