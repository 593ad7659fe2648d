"""``python -m fcclip_segmentation.eval --config CFG --checkpoint CKPT [--dataset NAME] [--out DIR] [key=value ...]``

Panoptic sets: PNG + json predictions, PQ/SQ/RQ (all / things / stuff, panopticapi semantics), mIoU, and mask/box
AP when ``data.val_instances`` is set. Semantic-only sets: mIoU (+ fwIoU, mACC, pACC, per-class IoU). Any
vocabulary: the val class-name file (``data.val_class_names``) defines it; classes sharing a synonym with the
training vocabulary are "seen" (α), the others "unseen" (β).

``--dataset NAME`` picks a registered set (``--list-datasets``) under ``--data-root`` (default
``$DETECTRON2_DATASETS`` or ``data``), laid out as the reference's datasets folder; without it the config's
``data.val_*`` fields are used. Overrides given after it still win.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.engine import CheckpointError, ConfigError, init_distributed, load_checkpoint, load_config
from shared.io import atomic_write_json

from .builder import build_model, evaluate
from .config import FCCLIPConfig
from .data import EVAL_DATASETS, dataset_overrides


def load_trained(cfg: FCCLIPConfig, checkpoint: str):
    """(model with the checkpoint's weights, training class names)."""
    model, train_ds = build_model(cfg)
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise CheckpointError(f"{checkpoint}: no 'model' entry (not a checkpoint of this repo's trainer)")
    model.load_checkpoint_state_dict(state["model"], checkpoint)
    return model, train_ds.class_names


def _list_datasets() -> str:
    return "\n".join(f"  {name:22s} {ds.task:9s} {ds.images}  ({', '.join(ds.aliases)})"
                     for name, ds in EVAL_DATASETS.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config")
    p.add_argument("--checkpoint")
    p.add_argument("--dataset", help="a registered evaluation set (see --list-datasets)")
    p.add_argument("--data-root", help="root of the datasets (default: $DETECTRON2_DATASETS or data)")
    p.add_argument("--list-datasets", action="store_true", help="print the registered sets and exit")
    p.add_argument("--out", help="output folder (default: <train.out_dir>/eval[_<dataset>])")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.val_json=... eval.max_images=50")
    args = p.parse_args(argv)
    if args.list_datasets:
        print(_list_datasets())
        return 0
    if not args.config or not args.checkpoint:
        p.error("--config and --checkpoint are required")
    try:
        registered = dataset_overrides(args.dataset, args.data_root) if args.dataset else []
        cfg = load_config(FCCLIPConfig, args.config, registered + list(args.overrides))
        dist = init_distributed()
        model, train_names = load_trained(cfg, args.checkpoint)
        out = Path(args.out or Path(cfg.train.out_dir) / (f"eval_{args.dataset}" if args.dataset else "eval"))
        metrics = evaluate(model.to(dist.device), cfg, train_names, out, dist.rank, dist.world_size)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if dist.is_main:
        atomic_write_json(out / "metrics.json", metrics)
        for k, v in metrics.items():
            if not isinstance(v, (dict, list)):
                print(f"{k:>10s}: {v:.4f}" if isinstance(v, float) else f"{k:>10s}: {v}")
        print(f"metrics -> {out / 'metrics.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
