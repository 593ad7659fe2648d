"""``python -m fvit_detection.eval --config CFG --checkpoint CKPT [key=value ...]`` — LVIS / OV-COCO evaluation.

Writes ``<out>/results.json`` (LVIS/COCO result format) and ``<out>/metrics.json`` (default ``<out>``:
``<checkpoint folder>/eval/<val annotation file name>``; held for the run — one evaluation per folder, stale
temporaries of a killed one removed — and checked writable before the model loads) and prints bbox (and segm)
AP, AP50, APr/APc/APf (LVIS federated semantics) or AP50 novel/base/all (OV-COCO). Under torchrun each rank
evaluates a shard of the images and rank 0 merges them.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.engine import CheckpointError, init_distributed, load_checkpoint, load_config
from shared.engine.cli import eval_output_dir
from shared.engine.rundir import hold_run_folder
from shared.io import atomic_write_json

from .builder import build_model
from .config import FViTConfig
from .evaluation import evaluate


def load_trained(cfg: FViTConfig, checkpoint: str):
    model = build_model(cfg)
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise CheckpointError(f"{checkpoint}: no 'model' entry (not a checkpoint of this repo's trainer)")
    model.load_checkpoint_state_dict(state["model"], checkpoint)
    return model


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main

    return run_main(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m fvit_detection.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True, help="last.pt written by fvit_detection.train")
    p.add_argument("--out", help="output folder (default: <checkpoint folder>/eval/<val annotation file name>)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.val_ann=... eval.max_images=100")
    args = p.parse_args(argv)
    cfg = load_config(FViTConfig, args.config, args.overrides)
    out = eval_output_dir(args.out, args.checkpoint, Path(cfg.data.val_ann).stem)
    dist = init_distributed()
    lock = hold_run_folder(out, dist.is_main, "--out")  # one eval per folder; writable, before the model loads
    try:
        model = load_trained(cfg, args.checkpoint).to(dist.device)
        metrics, results = evaluate(model, cfg, dist.rank, dist.world_size)
        if dist.is_main:
            results.write_json(out / "results.json")
            atomic_write_json(out / "metrics.json", metrics)
    except BaseException:
        if lock is not None:
            lock.discard()  # a folder this run created and wrote nothing into goes again
        raise
    finally:
        if lock is not None:
            lock.release()
    if dist.is_main:
        for k, v in metrics.items():
            print(f"{k:>12s}: {v:.4f}" if isinstance(v, float) else f"{k:>12s}: {v}")
        print(f"results -> {out / 'results.json'}, metrics -> {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
