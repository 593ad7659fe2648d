"""``python -m fcclip_segmentation.eval --config CFG --checkpoint CKPT [--dataset NAME] [--out DIR] [key=value ...]``

Panoptic sets: PNG + json predictions, PQ/SQ/RQ (all / things / stuff, panopticapi semantics), mIoU, and mask/box
AP when ``data.val_instances`` is set. Semantic-only sets: mIoU (+ fwIoU, mACC, pACC, per-class IoU). Any
vocabulary: the val class-name file (``data.val_class_names``) defines it; classes sharing a synonym with the
training vocabulary are "seen" (α), the others "unseen" (β). The training vocabulary comes from
``data.train_class_names`` (else ``data.train_json``'s categories): no training data is needed.

``--dataset NAME[,NAME…]`` picks registered sets (``--list-datasets``) under ``--data-root`` (default
``$DETECTRON2_DATASETS`` or ``data``), laid out as the reference's datasets folder, evaluated one after the other with
one model (results in ``<out>/<name>/``); without it the config's ``data.val_*`` fields are used. Overrides
given after it still win. Without ``--out`` results go next to the checkpoint: ``<checkpoint folder>/eval/<name>/``
(``<name>``: the registered set, else the val json's / label folder's name). Output folders are held for the run
(one evaluation per folder, stale temporaries of a killed one removed) and checked writable before the model loads.
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
from .config import FCCLIPConfig
from .data import EVAL_DATASETS, dataset_overrides, training_class_names
from .evaluation import evaluate
from .modeling.fcclip import check_class_count


def load_trained(cfg: FCCLIPConfig, checkpoint: str):
    """(model with the checkpoint's weights, training class names); the training set is not read. The checkpoint
    is checked against the training vocabulary before the (slow) CLIP model loads."""
    state = load_checkpoint(checkpoint)
    if "model" not in state:
        raise CheckpointError(f"{checkpoint}: no 'model' entry (not a checkpoint of this repo's trainer)")
    check_class_count(state["model"], len(training_class_names(cfg.data.train_class_names, cfg.data.train_json)),
                      checkpoint)
    model, train_names = build_model(cfg)
    model.load_checkpoint_state_dict(state["model"], checkpoint)
    return model, train_names


def _list_datasets() -> str:
    return "\n".join(f"  {name:22s} {ds.task:9s} {ds.images}  ({', '.join(ds.aliases)})"
                     for name, ds in EVAL_DATASETS.items())


def _out_dir(out: str | None, checkpoint: str, name: str | None, cfg: FCCLIPConfig, many: bool) -> Path:
    """--out as given for one set, ``<out>/<name>`` for several; without --out ``<checkpoint folder>/eval/<name>``."""
    name = name or Path(cfg.data.val_sem_seg if cfg.data.val_task == "semantic" else cfg.data.val_json).stem
    if out and many:
        return Path(out) / name
    return eval_output_dir(out, checkpoint, name)


def _print(metrics: dict) -> None:
    for k, v in metrics.items():
        if not isinstance(v, (dict, list)):
            print(f"{k:>10s}: {v:.4f}" if isinstance(v, float) else f"{k:>10s}: {v}")


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main

    return run_main(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.eval", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config")
    p.add_argument("--checkpoint")
    p.add_argument("--dataset", help="registered evaluation set(s), comma-separated: the model is built once "
                                     "(see --list-datasets)")
    p.add_argument("--data-root", help="root of the datasets (default: $DETECTRON2_DATASETS or data)")
    p.add_argument("--list-datasets", action="store_true", help="print the registered sets and exit")
    p.add_argument("--out", help="output folder (default: <checkpoint folder>/eval/<dataset>)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. data.val_json=... eval.max_images=50")
    args = p.parse_args(argv)
    if args.list_datasets:
        print(_list_datasets())
        return 0
    if not args.config or not args.checkpoint:
        p.error("--config and --checkpoint are required")
    names = [n.strip() for n in args.dataset.split(",") if n.strip()] if args.dataset else [None]
    # every set is checked before the (slow) model is built
    configs = [load_config(FCCLIPConfig, args.config, (dataset_overrides(n, args.data_root) if n else [])
                           + list(args.overrides)) for n in names]
    outs = [_out_dir(args.out, args.checkpoint, n, c, many=len(names) > 1) for n, c in zip(names, configs)]
    dist = init_distributed()
    locks = []  # one evaluation per output folder, held before the model loads (writable, stale temporaries gone)
    try:
        for out in outs:
            locks.append(hold_run_folder(out, dist.is_main, "--out"))
        model, train_names = load_trained(configs[0], args.checkpoint)
        model = model.to(dist.device)
        results = {}
        for name, cfg, out in zip(names, configs, outs):
            metrics = evaluate(model, cfg, train_names, out, dist.rank, dist.world_size)
            if dist.is_main:
                atomic_write_json(out / "metrics.json", metrics)
                print(f"== {name or 'data.val_*'} ==")
                _print(metrics)
                print(f"metrics -> {out / 'metrics.json'}")
                results[name or "val"] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    except BaseException:
        for lock in locks:
            if lock is not None:
                lock.discard()  # a folder this run created and wrote nothing into goes again
        raise
    finally:
        for lock in locks:
            if lock is not None:
                lock.release()
    if dist.is_main and len(names) > 1:
        keys = ("PQ_all", "mIoU", "segm_AP")
        print(f"{'dataset':22s}" + "".join(f"{k:>10s}" for k in keys))
        for name, m in results.items():
            print(f"{name:22s}" + "".join(f"{m[k]:10.4f}" if k in m else f"{'-':>10s}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
