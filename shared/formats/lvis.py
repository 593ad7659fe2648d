"""The OV-LVIS converter: an LVIS v1 json without the annotations of rare categories, every category kept.

    python -m shared.formats.lvis --in lvis_v1_train.json --out lvis_v1_train_ov.json

This is how the OV-LVIS training file of F-ViT / CLIPSelf is made from LVIS v1 train (the reference only ships
it on a drive link): annotations whose category frequency is in ``drop_frequencies`` are removed; categories and
images are kept unchanged except that the dropped categories' ``image_count``/``instance_count`` become 0.
"""
from __future__ import annotations

import argparse
import copy
import sys

from shared.io import atomic_write_json, load_json


def make_ov_lvis_train(lvis: dict, drop_frequencies: tuple[str, ...] = ("r",), source: str = "lvis json") -> dict:
    """Return a copy of ``lvis`` without annotations of categories whose ``frequency`` is in ``drop_frequencies``."""
    for key in ("images", "annotations", "categories"):
        if key not in lvis:
            raise ValueError(f"{source}: missing top-level field {key!r} (is this an LVIS v1 json?)")
    dropped = set()
    for i, cat in enumerate(lvis["categories"]):
        if "frequency" not in cat or "id" not in cat:
            raise ValueError(f"{source}: categories[{i}] lacks 'id' or 'frequency' (LVIS v1 categories carry both)")
        if cat["frequency"] in drop_frequencies:
            dropped.add(cat["id"])
    for k, a in enumerate(lvis["annotations"]):
        if "category_id" not in a:
            raise ValueError(f"{source}: annotations[{k}] lacks 'category_id'")
    out = copy.deepcopy({k: v for k, v in lvis.items() if k != "annotations"})
    out["annotations"] = [copy.deepcopy(a) for a in lvis["annotations"] if a["category_id"] not in dropped]
    for cat in out["categories"]:
        if cat["id"] in dropped:
            cat["image_count"] = 0
            cat["instance_count"] = 0
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.formats.lvis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="src", required=True, help="LVIS v1 train json")
    p.add_argument("--out", required=True, help="output json (written atomically)")
    p.add_argument("--drop", nargs="+", default=["r"], help="frequencies whose annotations are removed (default: r)")
    args = p.parse_args(argv)
    try:
        out = make_ov_lvis_train(load_json(args.src, "LVIS json"), tuple(args.drop), source=args.src)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write_json(args.out, out, indent=None)
    print(f"kept {len(out['annotations'])} annotations, {len(out['categories'])} categories -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
