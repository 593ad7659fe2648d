"""``python -m fcclip_segmentation.scripts.check_pos_embed --checkpoint CKPT [--dataset ade20k_panoptic_val]
[--max-images N] [--config CFG] [--data-root DIR] [--out DIR] [key=value ...]``

Does a converted Sliding FC-CLIP checkpoint need ViTamin's trunk position embedding skipped? The reference adds it
only when the timm trunk has an ``is_pos_embed`` attribute: released timm has none (the embedding is skipped,
``model.reference_skip_pos_embed=true``), the authors' own timm fork had it (added). This evaluates the checkpoint
both ways in one run — the model is built and loaded once, only the backbone option is switched — and prints both
PQs (and mIoU); the way the checkpoint was trained scores clearly higher (paper: ADE20K PQ 27.3).

Defaults: the reference evaluation config (``configs/reference_vitamin_l_336_eval.yaml``) and ``ade20k_150`` (the
reference's names ``ade20k_panoptic_val`` / ``openvocab_ade20k_panoptic_val`` work too) under ``--data-root``
(default ``$DETECTRON2_DATASETS`` or ``data``); ``--dataset ''`` uses the config's ``data.val_*``. Panoptic and
semantic tasks only, unless ``eval.tasks=…`` is given. Results: ``<out>/pos_embed_{added,skipped}/metrics.json``
and ``<out>/check_pos_embed.json`` (``<out>`` defaults to ``<checkpoint folder>/eval/check_pos_embed_<dataset>``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fcclip_segmentation.evaluation import evaluate
from fcclip_segmentation.config import FCCLIPConfig
from fcclip_segmentation.data import dataset_overrides
from fcclip_segmentation.eval import load_trained
from shared.engine import init_distributed, load_config
from shared.engine.cli import eval_output_dir
from shared.io import atomic_write_json

DEFAULT_CONFIG = Path(__file__).parents[1] / "configs" / "reference_vitamin_l_336_eval.yaml"
SETTINGS = (("pos_embed_added", False), ("pos_embed_skipped", True))  # (name, reference_skip_pos_embed)
SHOWN = ("PQ_all", "PQ_things", "PQ_stuff", "mIoU")


def _fmt(v) -> str:
    return f"{v:10.4f}" if isinstance(v, float) else f"{'-':>10s}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.scripts.check_pos_embed", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="a checkpoint of this repo (convert reference ones first)")
    p.add_argument("--config", default=str(DEFAULT_CONFIG))
    p.add_argument("--dataset", default="ade20k_150", help="registered evaluation set ('' = the config's data.val_*)")
    p.add_argument("--data-root", help="root of the datasets (default: $DETECTRON2_DATASETS or data)")
    p.add_argument("--max-images", type=int, help="evaluate the first N images only")
    p.add_argument("--out", help="output folder (default: <checkpoint folder>/eval/check_pos_embed_<dataset>)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides")
    args = p.parse_args(argv)
    if args.max_images is not None and args.max_images < 1:
        p.error("--max-images must be at least 1")
    try:
        cfg = load_config(FCCLIPConfig, args.config,
                          (dataset_overrides(args.dataset, args.data_root) if args.dataset else [])
                          + ["eval.tasks=[panoptic,semantic]"]
                          + ([f"eval.max_images={args.max_images}"] if args.max_images else [])
                          + list(args.overrides))
        dist = init_distributed()
        model, train_names = load_trained(cfg, args.checkpoint)
        if not model.backbone.extractor.has_pos_embed:
            raise ValueError(f"backbone {cfg.model.backbone} has no trunk position embedding: nothing to compare")
        model = model.to(dist.device)
        out = eval_output_dir(args.out, args.checkpoint, f"check_pos_embed_{args.dataset or 'val'}")
        results = {}
        for name, skip in SETTINGS:
            model.backbone.options.reference_skip_pos_embed = skip  # read at every forward
            metrics = evaluate(model, cfg, train_names, out / name, dist.rank, dist.world_size)
            if dist.is_main:
                atomic_write_json(out / name / "metrics.json", metrics)
                results[name] = metrics
    except Exception as e:  # noqa: BLE001 — a user's error is one line (shared.errors), anything else re-raised
        from shared.cli import report_user_error

        if not report_user_error(e):
            raise
        return 2
    if not dist.is_main:
        return 0
    summary = {"checkpoint": args.checkpoint, "dataset": args.dataset or "data.val_*",
               "num_images": results[SETTINGS[0][0]]["num_images"],
               **{name: {k: results[name].get(k) for k in SHOWN} for name, _ in SETTINGS}}
    atomic_write_json(out / "check_pos_embed.json", summary)
    print(f"{summary['dataset']}, {summary['num_images']} images, {args.checkpoint}")
    print(f"{'trunk pos_embed':40s}" + "".join(f"{k:>10s}" for k in SHOWN))
    for name, skip in SETTINGS:
        print(f"{name[10:]:8s}(reference_skip_pos_embed={str(skip).lower():5s})"
              + "".join(_fmt(results[name].get(k)) for k in SHOWN))
    (added, _), (skipped, _) = SETTINGS
    pq_added, pq_skipped = results[added].get("PQ_all"), results[skipped].get("PQ_all")
    if isinstance(pq_added, float) and isinstance(pq_skipped, float) and pq_added != pq_skipped:
        skip = pq_skipped > pq_added
        print(f"higher PQ with the position embedding {'skipped' if skip else 'added'}: evaluate this checkpoint "
              f"with model.reference_skip_pos_embed={str(skip).lower()}")
    print(f"results -> {out / 'check_pos_embed.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
