"""``python -m shared.synthetic --out DIR`` — write the synthetic world."""
from __future__ import annotations

import argparse
import sys

from .world import generate_world, load_manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.synthetic", description=__doc__)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--num-train", type=int, default=32)
    p.add_argument("--num-val", type=int, default=12)
    p.add_argument("--size", type=int, default=128, help="image side in pixels (square images)")
    args = p.parse_args(argv)
    paths = generate_world(args.out, seed=args.seed, num_train=args.num_train, num_val=args.num_val,
                           image_size=args.size)
    m = load_manifest(paths.root)
    print(f"synthetic world (seed {m['seed']}): {m['num_train']} train / {m['num_val']} val images of "
          f"{m['image_size']}px, {len(m['thing_classes'])} thing + {len(m['stuff_classes'])} stuff classes, "
          f"novel: {', '.join(m['novel_classes'])} -> {paths.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
