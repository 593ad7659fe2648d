"""``python -m fcclip_segmentation.eval --config CFG --checkpoint CKPT [--out DIR] [key=value ...]``

Panoptic PNG + json predictions, PQ/SQ/RQ (all / things / stuff, panopticapi semantics), mIoU, and mask/box AP when
``data.val_instances`` is set. Any vocabulary: the val class-name file (``data.val_class_names``) defines it; classes
sharing a synonym with the training vocabulary are "seen" (α), the others "unseen" (β).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared.engine import CheckpointError, ConfigError, init_distributed, load_checkpoint, load_config
from shared.io import atomic_write_json

from .builder import build_model, evaluate
from .config import FCCLIPConfig


def load_trained(cfg: FCCLIPConfig, checkpoint: str):
    """(model with the checkpoint's weights, training class names)."""
    model, train_ds = build_model(cfg)
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise CheckpointError(f"{checkpoint}: no 'model' entry (not a checkpoint of this repo's trainer)")
    model.load_checkpoint_state_dict(state["model"], checkpoint)
    return model, train_ds.class_names


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", help="output folder (default: <train.out_dir>/eval)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.val_json=... eval.max_images=50")
    args = p.parse_args(argv)
    try:
        cfg = load_config(FCCLIPConfig, args.config, args.overrides)
        dist = init_distributed()
        model, train_names = load_trained(cfg, args.checkpoint)
        out = Path(args.out or Path(cfg.train.out_dir) / "eval")
        metrics = evaluate(model.to(dist.device), cfg, train_names, out, dist.rank, dist.world_size)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if dist.is_main:
        atomic_write_json(out / "metrics.json", metrics)
        for k, v in metrics.items():
            print(f"{k:>10s}: {v:.4f}" if isinstance(v, float) else f"{k:>10s}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
