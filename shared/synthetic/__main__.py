"""Write the synthetic "shapes" world: images, COCO instances, LVIS v1 (+ OV-LVIS train), OV-COCO lists,
COCO panoptic, LLaVA json and class-name files, all deterministic in the seed.

    python -m shared.synthetic --out outputs/world [--seed 0] [--num-train 32] [--num-val 12] [--size 128]
"""
from __future__ import annotations

import argparse
import sys

from .world import MIN_IMAGE_SIZE, generate_world, load_manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.synthetic", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="output folder (created; existing files are overwritten)")
    p.add_argument("--seed", type=int, default=0, help="same seed → byte-identical files (default: 0)")
    p.add_argument("--num-train", type=int, default=32, help="train images (default: 32)")
    p.add_argument("--num-val", type=int, default=12, help="val images (default: 12)")
    p.add_argument("--size", type=int, default=128,
                   help=f"side of the square images in pixels, ≥ {MIN_IMAGE_SIZE} (default: 128)")
    args = p.parse_args(argv)
    if args.num_train < 1 or args.num_val < 1:
        p.error("--num-train and --num-val must be ≥ 1")
    if args.size < MIN_IMAGE_SIZE:
        p.error(f"--size must be ≥ {MIN_IMAGE_SIZE}")
    paths = generate_world(args.out, seed=args.seed, num_train=args.num_train, num_val=args.num_val,
                           image_size=args.size)
    m = load_manifest(paths.root)
    tr, va = m["splits"]["train"], m["splits"]["val"]
    print(f"synthetic world (seed {m['seed']}) -> {paths.root}\n"
          f"  train: {tr['images']} images, {tr['annotations']} objects; val: {va['images']} images, "
          f"{va['annotations']} objects; {m['image_size']}×{m['image_size']} px\n"
          f"  {len(m['thing_classes'])} thing + {len(m['stuff_classes'])} stuff classes; "
          f"novel (LVIS rare): {', '.join(m['novel_classes'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
