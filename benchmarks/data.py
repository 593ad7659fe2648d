"""CPU data path, old vs new side by side in one run (issue #20), on real-size synthetic data (``coco_like``):

- training loaders, images/s per core (one thread, no workers): FC-CLIP at 1344 and 1024, F-ViT at 896 with masks;
  the old path is the pre-#20 transform (``benchmarks/data_reference.py``) swapped into the same dataset classes;
  every sample of the two paths is compared (image, masks, labels, boxes, size);
- LVIS evaluation of 2,000 LVIS-shaped images (1203 categories, 300 detections with masks per image): seconds and
  peak RSS, each path in its own subprocess (so their memory does not mix; torch is imported in both, as in the
  eval CLI); metrics compared;
- LLaVA record encoding, old vs one-pass (``benchmarks/data_llava.py``, its keys ``llava_*``).

    python benchmarks/data.py                          # full run
    python benchmarks/data.py --quick --json OUT.json  # ≤ 8 min on 2 cores

Writes ``*_speedup`` (new ÷ old), images/s, seconds, peak RSS and one ``*_identical`` boolean per comparison.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
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
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
# (key, which dataset, crop size): the configs' training sizes
LOADERS = (("fcclip", "fcclip", 1344), ("fcclip_1024", "fcclip", 1024), ("fvit", "fvit", 896))


# --- loaders --------------------------------------------------------------------------------------------------------
def _old_lsj(inst, rng, size, scale_range=(0.1, 2.0), flip_prob=0.5, min_box_size=0.01, return_boxes=True,
             mask_canvas=None):
    """The pre-#20 LSJ behind the new call signature (the extra options only saved work)."""
    from benchmarks import data_reference

    return data_reference.large_scale_jitter(inst, rng, size, scale_range, flip_prob, min_box_size)


@contextlib.contextmanager
def old_data_path():
    """Swap the pre-#20 transforms into both dataset modules (and back)."""
    from benchmarks import data_reference
    from fcclip_segmentation.data import dataset as fcclip_ds
    from fvit_detection.data import dataset as fvit_ds

    swaps = {"large_scale_jitter": _old_lsj, "normalize_and_pad": data_reference.normalize_and_pad,
             "pad_masks": data_reference.pad_masks}
    saved = [(m, k, getattr(m, k)) for m in (fcclip_ds, fvit_ds) for k in swaps]
    try:
        for m, k, _ in saved:
            setattr(m, k, swaps[k])
        yield
    finally:
        for m, k, v in saved:
            setattr(m, k, v)


def build_loader_dataset(which: str, paths: coco_like.CocoLikePaths, size: int):
    """The training dataset of ``which`` ("fcclip" / "fvit" with masks) at crop ``size``."""
    if which == "fcclip":
        from fcclip_segmentation.data.dataset import PanopticDataset

        return PanopticDataset(paths.panoptic_json, paths.panoptic_pngs, paths.images, True, size, CLIP_MEAN,
                               CLIP_STD)
    from fvit_detection.data.dataset import DetectionDataset

    return DetectionDataset(paths.instances_json, paths.images, True, size, CLIP_MEAN, CLIP_STD, with_masks=True)


def _same_sample(a: dict, b: dict) -> bool:
    ta, tb = a["target"], b["target"]
    return (a["image_size"] == b["image_size"] and a["image"].dtype == b["image"].dtype
            and bool((a["image"] == b["image"]).all()) and ta.keys() == tb.keys()
            and all(ta[k].dtype == tb[k].dtype and ta[k].shape == tb[k].shape and bool((ta[k] == tb[k]).all())
                    for k in ta))


def compare_loader(ds, num_images: int, rounds: int) -> dict:
    """Images per CPU-second of ``ds`` with the old and the new transforms (one torch thread, so per core;
    process CPU time, which other processes on the machine barely change; ``rounds`` alternating passes over the
    same (index, seed) items, the best pass of each path counted), and whether every sample is identical."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    items = [(i % len(ds), 1000 + i) for i in range(num_images)]
    best = {"old": math.inf, "new": math.inf}
    identical = True
    try:
        ds[items[0]]  # warm-up (imports, caches)
        for _ in range(rounds):
            for path in ("old", "new"):
                with old_data_path() if path == "old" else contextlib.nullcontext():
                    t = time.process_time()
                    for item in items:
                        ds[item]
                    best[path] = min(best[path], time.process_time() - t)
        for item in items:  # outside the timing: the same samples, bit for bit
            new = ds[item]
            with old_data_path():
                old = ds[item]
            identical = identical and _same_sample(old, new)
    finally:
        torch.set_num_threads(threads)
    old_rate, new_rate = num_images / best["old"], num_images / best["new"]
    return {"old_img_s": old_rate, "new_img_s": new_rate, "speedup": new_rate / old_rate, "identical": identical,
            "images": num_images}


# --- LVIS evaluation ------------------------------------------------------------------------------------------------
def peak_rss_gib() -> float:
    """This process's peak resident set size so far: Linux's VmHWM (of this program's memory map only: the
    ``ru_maxrss`` of a child keeps the parent's peak from before its exec), else ``ru_maxrss``."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**20  # kB
    scale = 2**30 if sys.platform == "darwin" else 2**20  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def lvis_eval(path: str, gt_file: str, detections: str) -> dict:
    """Gather LVIS-shaped detections (as the eval loop would: one image at a time) and evaluate them with the
    ``old`` path (a dict per detection; ``data_reference.evaluate_lvis``) or the ``new`` one (columns;
    ``fvit_detection.metrics``): metrics, seconds (wall and CPU) to gather and to evaluate, peak RSS."""
    import torch  # noqa: F401  (the eval CLI has it loaded: both paths pay for it alike)

    base = peak_rss_gib()
    t0 = time.perf_counter()
    if path == "old":
        from benchmarks.data_reference import evaluate_lvis

        results = []
        for image_id, xyxy, scores, cats, rles in coco_like.read_lvis_like_detections(detections):
            for k in range(len(scores)):  # what results_records made of each detection
                x0, y0, x1, y1 = xyxy[k].tolist()
                results.append({"image_id": image_id, "category_id": int(cats[k]),
                                "bbox": [x0, y0, x1 - x0, y1 - y0], "score": float(scores[k]),
                                "segmentation": {"size": [int(s) for s in rles[k]["size"]],
                                                 "counts": rles[k]["counts"].decode("ascii")}})
    else:
        from fvit_detection.metrics import DetectionResults, evaluate_lvis

        results = DetectionResults()
        for image_id, xyxy, scores, cats, rles in coco_like.read_lvis_like_detections(detections):
            b = xyxy.astype(np.float64)  # what add_detections makes of a detector's xyxy float32 boxes
            results.add(image_id, np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1), scores, cats, rles)
    t1, c1 = time.perf_counter(), time.process_time()
    metrics = evaluate_lvis(gt_file, results, ("bbox", "segm"))
    t2, c2 = time.perf_counter(), time.process_time()
    return {"metrics": metrics, "gather_s": t1 - t0, "eval_s": t2 - t1, "eval_cpu_s": c2 - c1,
            "peak_rss_gib": peak_rss_gib(), "rss_before_gib": base, "detections": len(results)}


def lvis_eval_in_subprocess(path: str, gt_file: str, detections: str, timeout: float = 900) -> dict:
    """``lvis_eval`` in a fresh interpreter (its peak RSS is its own)."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--lvis-child", path, gt_file, detections],
                         capture_output=True, text=True, env=env, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"lvis eval child ({path}) failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same_metrics(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k] == b[k] or (math.isnan(a[k]) and math.isnan(b[k])) for k in a)


def compare_lvis(gt_file: str, detections: str, repeats: int = 1) -> dict:
    """Each path ``repeats`` times, alternating, each run in its own process: the fastest run's seconds, the
    largest peak RSS; identical when every run's metrics equal the first old run's."""
    runs: dict[str, list] = {"old": [], "new": []}
    for _ in range(repeats):
        for path in ("old", "new"):
            runs[path].append(lvis_eval_in_subprocess(path, gt_file, detections))
    out: dict = {"identical": bool(runs["new"][0]["metrics"]) and all(
        _same_metrics(runs["old"][0]["metrics"], r["metrics"]) for r in runs["old"] + runs["new"])}
    for path, rs in runs.items():
        out[path] = {**{k: min(r[k] for r in rs) for k in ("gather_s", "eval_s", "eval_cpu_s", "rss_before_gib")},
                     "peak_rss_gib": max(r["peak_rss_gib"] for r in rs), "detections": rs[0]["detections"],
                     "metrics": rs[0]["metrics"]}
    return out


# --- the run --------------------------------------------------------------------------------------------------------
def measure(quick: bool = False, work_dir: str | Path | None = None, loader_images: int | None = None,
            rounds: int | None = None, loaders=LOADERS, lvis_images: int = 2000, image_sizes=coco_like.IMAGE_SIZES,
            llava: bool = True, log=print) -> dict:
    """Every comparison; returns the flat result dict (the json). Smaller arguments make a smoke run; ``llava``:
    include ``benchmarks/data_llava.py``'s figures."""
    loader_images = loader_images or (24 if quick else 48)
    rounds = rounds or 3
    lvis_repeats = 2 if quick else 3
    out: dict = {"quick": quick, "cpu_count": os.cpu_count(), "loader_images": loader_images,
                 "lvis_images": lvis_images}
    with tempfile.TemporaryDirectory(prefix="bench-data-", dir=work_dir) as tmp:
        t = time.perf_counter()
        paths = coco_like.write_coco_like(Path(tmp) / "coco", loader_images, seed=0, sizes=image_sizes)
        log(f"{loader_images} COCO-like images written ({time.perf_counter() - t:.0f} s)")
        for key, which, size in loaders:
            r = compare_loader(build_loader_dataset(which, paths, size), loader_images, rounds)
            out.update({f"{key}_loader_old_img_s": r["old_img_s"], f"{key}_loader_new_img_s": r["new_img_s"],
                        f"{key}_loader_speedup": r["speedup"], f"{key}_loader_identical": r["identical"]})
            log(f"{key} loader at {size}: {r['old_img_s']:.2f} -> {r['new_img_s']:.2f} img/s per core "
                f"({r['speedup']:.2f}x), identical={r['identical']}")
        gt_file, detections = coco_like.write_lvis_like(Path(tmp) / "lvis", lvis_images, seed=0)
        r = compare_lvis(str(gt_file), str(detections), 1 if lvis_images < 100 else lvis_repeats)
        for path in ("old", "new"):
            p = "" if path == "new" else "old_"
            out.update({f"lvis_eval_{p}s": r[path]["eval_s"], f"lvis_eval_{p}cpu_s": r[path]["eval_cpu_s"],
                        f"lvis_eval_{p}peak_rss_gib": r[path]["peak_rss_gib"], f"lvis_gather_{p}s": r[path]["gather_s"],
                        f"lvis_{p}rss_before_gib": r[path]["rss_before_gib"]})
        out["lvis_detections"] = r["new"]["detections"]
        out["lvis_eval_identical"] = r["identical"]
        out["lvis_metrics"] = r["new"]["metrics"]
        log(f"LVIS eval, {lvis_images} images / {r['new']['detections']} detections: "
            f"{r['old']['eval_s']:.1f} -> {r['new']['eval_s']:.1f} s ({r['old']['eval_cpu_s']:.1f} -> "
            f"{r['new']['eval_cpu_s']:.1f} CPU-s; gathering {r['old']['gather_s']:.1f} -> "
            f"{r['new']['gather_s']:.1f} s), "
            f"peak RSS {r['old']['peak_rss_gib']:.2f} -> {r['new']['peak_rss_gib']:.2f} GiB "
            f"(imports {r['new']['rss_before_gib']:.2f}), identical={r['identical']}")
    if llava:  # LLaVA record encoding (issue #20 item 3): benchmarks/data_llava.py, old vs one-pass encoder
        from benchmarks.data_llava import measure as measure_llava

        r = measure_llava(quick)
        out.update(r)
        log(f"LLaVA encoding: {r['llava_encode_speedup']:.2f}x (the slower tokenizer), "
            f"identical={r['llava_encode_identical']}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer loader images and LVIS runs (≤ 8 min on 2 cores)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--lvis-images", type=int, default=2000)
    p.add_argument("--lvis-child", nargs=3, metavar=("PATH", "GT", "DETECTIONS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.lvis_child:
        print(json.dumps(lvis_eval(*args.lvis_child)))
        return 0
    t = time.perf_counter()
    out = measure(args.quick, lvis_images=args.lvis_images)
    out["total_s"] = time.perf_counter() - t
    print(f"total {out['total_s']:.0f} s")
    if args.json:
        from shared.io import atomic_write_json

        atomic_write_json(args.json, out)
        print(f"-> {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
