"""Memory of the training sets' records, old layout (the json's dicts in Python lists and dicts,
``benchmarks/dataset_reference.py``) vs packed (``shared.packed.PackedList``), side by side in one run:

- F-ViT: an LVIS-v1-train-shaped json (``coco_like.write_lvis_like_gt``: 1203 categories, ~12 polygon annotations
  of 16–40 vertices per image, LVIS image fields) read by ``DetectionDataset`` with masks, as the LVIS configs train;
- FC-CLIP: a COCO-panoptic-train-shaped json (COCO image fields, ~11 segments with bbox and area per image) read by
  ``PanopticDataset``.

Image and PNG files are empty (the datasets only check that they exist; no pixel is read). Each (dataset, layout)
runs in its own process (same imports for both layouts), which reports the RSS growth of building the dataset, then
forks N workers that each read every record once, as DataLoader workers do over an epoch (F-ViT: the image record and
``_instances`` on a 1×1 image, so every polygon goes through pycocotools; FC-CLIP: the record's fields that
``__getitem__`` reads), and, once all have read, the memory they added: the sum of the workers' private (USS)
growth, and the growth of the total PSS of parent and workers. Linux only (``/proc/<pid>/smaps_rollup``).

    python benchmarks/dataset_memory.py            # 20,000 images each, 4 workers (≈ 2 min on 2 cores)
    python benchmarks/dataset_memory.py --quick    # 5,000 images each
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import numpy as np  # noqa: E402

from benchmarks import coco_like  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MEAN = STD = (0.5, 0.5, 0.5)
COCO_PANOPTIC_CATEGORIES = 133  # 80 things + 53 stuff
SEGMENTS_PER_IMAGE = 11  # COCO panoptic train: 1.3M segments / 118k images


# --- data -----------------------------------------------------------------------------------------------------------
def _touch(folder: Path, names) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).touch()


def write_lvis_train_like(root: Path, num_images: int) -> Path:
    """LVIS-v1-train-shaped json under ``root`` (images ``train2017/<id>.jpg``, empty files)."""
    ann = coco_like.write_lvis_like_gt(root / "lvis_v1_train.json", num_images, seed=0, split="train2017")
    _touch(root / "train2017", (f"{k + 1:012d}.jpg" for k in range(num_images)))
    return ann


def write_panoptic_train_like(root: Path, num_images: int, seed: int = 0) -> Path:
    """COCO-panoptic-train-shaped json under ``root`` (``images/``, ``panoptic/``: empty files)."""
    rng = np.random.default_rng(seed)
    cats = [{"id": i + 1, "name": f"c{i}", "supercategory": "s", "isthing": int(i < 80), "color": [i, i, i]}
            for i in range(COCO_PANOPTIC_CATEGORIES)]
    images, anns = [], []
    for k in range(num_images):
        h, w = coco_like.IMAGE_SIZES[k % len(coco_like.IMAGE_SIZES)]
        name = f"{k + 1:012d}"
        images.append({"license": k % 8 + 1, "file_name": name + ".jpg",
                       "coco_url": f"http://images.cocodataset.org/train2017/{name}.jpg", "height": h, "width": w,
                       "date_captured": "2013-11-14 16:28:13",
                       "flickr_url": f"http://farm{k % 9 + 1}.staticflickr.com/{k + 1}/{k + 1:010d}_z.jpg",
                       "id": k + 1})
        n = max(1, int(rng.poisson(SEGMENTS_PER_IMAGE)))
        xy = rng.uniform(0, 1, (n, 4)) * [w / 2, h / 2, w / 2, h / 2]
        segments = [{"id": int(s), "category_id": int(c), "iscrowd": int(r < 0.01),
                     "bbox": [int(x), int(y), int(bw) + 1, int(bh) + 1], "area": int(bw * bh * 0.6) + 1}
                    for s, c, r, (x, y, bw, bh) in zip(rng.integers(1, 2**24, n), rng.integers(1, 134, n),
                                                       rng.random(n), xy)]
        anns.append({"segments_info": segments, "file_name": name + ".png", "image_id": k + 1})
    path = root / "panoptic_train2017.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": cats}))
    _touch(root / "images", (im["file_name"] for im in images))
    _touch(root / "panoptic", (a["file_name"] for a in anns))
    return path


# --- measurement (in a child process per dataset and layout) --------------------------------------------------------
def smaps_rollup(pid: int | str = "self") -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup`` in bytes (Rss, Pss, Private_Clean, Private_Dirty, …). Linux ≥ 4.14 only."""
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, value = line.split(":", 1)
        if value.strip().endswith("kB"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _private(m: dict[str, int]) -> int:
    return m["Private_Clean"] + m["Private_Dirty"]


def _build(which: str, layout: str, root: Path):
    from benchmarks.dataset_reference import ListDetectionDataset, ListPanopticDataset
    from fcclip_segmentation.data.dataset import PanopticDataset
    from fvit_detection.data.dataset import DetectionDataset

    if which == "fvit":
        cls = ListDetectionDataset if layout == "old" else DetectionDataset
        return cls(root / "lvis_v1_train.json", root, True, 1024, MEAN, STD, with_masks=True)
    cls = ListPanopticDataset if layout == "old" else PanopticDataset
    return cls(root / "panoptic_train2017.json", root / "panoptic", root / "images", True, 1024, MEAN, STD)


def _read_every_record(which: str, ds) -> int:
    """What ``__getitem__`` reads of each record, without decoding any file; returns the instances seen."""
    n = 0
    if which == "fvit":
        tiny = np.zeros((1, 1, 3), np.uint8)  # masks decoded on a 1×1 canvas: every polygon is read
        for i in range(len(ds)):
            ds.image_path(ds.images[i])
            n += len(ds._instances(i, tiny).labels)
        return n
    for rec in ds.records:
        _ = rec["image"]["file_name"], rec["png"]
        n += len([(s["id"], s["category_id"]) for s in rec["segments"] if not s.get("iscrowd", 0)])
    return n


def measure_child(which: str, layout: str, root: Path, workers: int) -> dict:
    """Build one dataset, fork ``workers`` readers; memory in bytes, seconds."""
    import gc
    import multiprocessing as mp

    import benchmarks.dataset_reference  # noqa: F401  (both layouts' classes: the same imports before the baseline)
    from shared.packed import PackedList

    gc.collect()
    rss_before = smaps_rollup()["Rss"]
    t = time.perf_counter()
    ds = _build(which, layout, root)
    build_s = time.perf_counter() - t
    gc.collect()
    parent_before = smaps_rollup()
    ctx = mp.get_context("fork")
    ready, go = ctx.Queue(), ctx.Event()

    def work():
        start = smaps_rollup()
        t0 = time.perf_counter()
        n = _read_every_record(which, ds)
        ready.put((os.getpid(), start, n, time.perf_counter() - t0))
        go.wait()

    procs = [ctx.Process(target=work, daemon=True) for _ in range(workers)]
    for p in procs:
        p.start()
    reports = [ready.get() for _ in procs]  # every worker has read everything and is still alive
    after = {pid: smaps_rollup(pid) for pid, *_ in reports}
    parent_after = smaps_rollup()
    go.set()
    for p in procs:
        p.join()
    return {"build_s": build_s, "rss_growth": parent_before["Rss"] - rss_before, "rss": parent_before["Rss"],
            "packed_bytes": sum(v.nbytes for v in vars(ds).values() if isinstance(v, PackedList)),
            "records": len(ds), "instances": reports[0][2], "read_s": max(r[3] for r in reports),
            "workers_uss_growth": sum(_private(after[pid]) - _private(start) for pid, start, *_ in reports),
            "pss_growth": parent_after["Pss"] + sum(a["Pss"] for a in after.values()) - parent_before["Pss"]}


# --- driver -------------------------------------------------------------------------------------------------------
def run(which: str, layout: str, root: Path, workers: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--child", which, layout, str(root),
                          "--workers", str(workers)], env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"{which}/{layout} child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="5,000 images per dataset instead of 20,000")
    ap.add_argument("--images", type=int, help="images per dataset (overrides --quick)")
    ap.add_argument("--workers", type=int, default=4, help="forked readers per layout (default 4)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--child", nargs=3, metavar=("WHICH", "LAYOUT", "ROOT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not Path("/proc/self/smaps_rollup").is_file():
        print("error: this benchmark reads /proc/<pid>/smaps_rollup (Linux 4.14 or later)", file=sys.stderr)
        return 2
    if args.child:
        which, layout, root = args.child
        print(json.dumps(measure_child(which, layout, Path(root), args.workers)))
        return 0
    n = args.images or (5000 if args.quick else 20000)
    results: dict = {"images": n, "workers": args.workers}
    mib = 2**20
    with tempfile.TemporaryDirectory(prefix="dataset-memory-") as tmp:
        for which, title in (("fvit", "F-ViT, LVIS-v1-train-shaped json, masks"),
                             ("fcclip", "FC-CLIP, COCO-panoptic-train-shaped json")):
            root = Path(tmp) / which
            root.mkdir()
            t = time.perf_counter()
            ann = write_lvis_train_like(root, n) if which == "fvit" else write_panoptic_train_like(root, n)
            made = time.perf_counter() - t
            old, new = run(which, "old", root, args.workers), run(which, "new", root, args.workers)
            assert old["records"] == new["records"] and old["instances"] == new["instances"]
            results[which] = {"old": old, "new": new, "json_bytes": ann.stat().st_size}
            print(f"\n{title}: {new['records']:,} images, {new['instances']:,} instances, json "
                  f"{ann.stat().st_size / mib:.0f} MiB (written in {made:.0f} s); {args.workers} forked workers "
                  f"each reading every record once")
            print(f"  {'':44s} {'old (dicts)':>12s} {'new (packed)':>12s} {'old ÷ new':>10s}")
            for key, label, scale, fmt in (
                    ("build_s", "build the dataset (s)", 1, ".1f"),
                    ("rss_growth", "main process: RSS growth of building (MiB)", mib, ".0f"),
                    ("workers_uss_growth", f"{args.workers} workers: private (USS) growth, sum (MiB)", mib, ".0f"),
                    ("pss_growth", "parent + workers: total PSS growth (MiB)", mib, ".0f"),
                    ("read_s", "one worker reading every record (s)", 1, ".1f")):
                a, b = old[key] / scale, new[key] / scale
                ratio = f"{a / b:.1f}×" if b > 0 else "—"
                print(f"  {label:44s} {a:12{fmt}} {b:12{fmt}} {ratio:>10s}")
            print(f"  {'packed buffer (MiB)':44s} {'':12s} {new['packed_bytes'] / mib:12.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
