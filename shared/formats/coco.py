"""COCO instances helpers (mask → json-safe RLE, mask → box) and the OV-COCO converter."""
from __future__ import annotations

import argparse
import sys

import numpy as np
from pycocotools import mask as mask_utils

from shared.io import atomic_write_json, load_json


def mask_to_rle(mask: np.ndarray) -> dict:
    """(H, W) bool → COCO RLE with ``counts`` as str (json-serialisable)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def mask_to_bbox(mask: np.ndarray) -> list[float]:
    """(H, W) bool → [x, y, w, h] of the tightest pixel box (COCO convention: w = x1 − x0 + 1)."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    return [float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1)]


def make_ov_coco(instances: dict, class_names: list[str], drop: list[str] = (), source: str = "instances json") -> dict:
    """OV-COCO file from a COCO instances json: keep the categories named in ``class_names`` (e.g. the 65 of the
    48/17 split) and their annotations, minus annotations of the categories in ``drop`` (the novel ones, for the
    training file). Images are kept.
    """
    for key in ("images", "annotations", "categories"):
        if key not in instances:
            raise ValueError(f"{source}: missing top-level field {key!r}")
    by_name = {c["name"]: c for c in instances["categories"]}
    missing = [n for n in list(class_names) + list(drop) if n not in by_name]
    if missing:
        raise ValueError(f"{source}: categories not found: {missing[:5]}")
    keep = {by_name[n]["id"] for n in class_names} - {by_name[n]["id"] for n in drop}
    cats = [c for c in instances["categories"] if c["name"] in set(class_names)]
    return {**{k: v for k, v in instances.items() if k not in ("annotations", "categories")},
            "categories": cats, "annotations": [a for a in instances["annotations"] if a["category_id"] in keep]}


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.formats.coco --in instances_train2017.json --classes 65.json [--drop novel.json] --out F``."""
    p = argparse.ArgumentParser(prog="python -m shared.formats.coco", description=make_ov_coco.__doc__)
    p.add_argument("--in", dest="src", required=True)
    p.add_argument("--classes", required=True, help="json list of the category names to keep")
    p.add_argument("--drop", help="json list of category names whose annotations are removed (novel)")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    try:
        out = make_ov_coco(load_json(args.src, "instances json"), load_json(args.classes, "class list"),
                           load_json(args.drop, "class list") if args.drop else [], source=args.src)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    atomic_write_json(args.out, out, indent=None)
    print(f"{len(out['categories'])} categories, {len(out['annotations'])} annotations -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
