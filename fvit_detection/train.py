"""``python -m fvit_detection.train --config CFG [key=value ...]`` — train F-ViT (single process or torchrun)."""
from __future__ import annotations

import sys
from pathlib import Path

from shared.engine import Trainer, config_to_dict, init_distributed, seed_everything
from shared.engine.cli import train_main
from shared.io import atomic_write_json

from .builder import build_dataset, build_model, novel_mask, set_vocabulary
from .data import collate
from .config import FViTConfig
from .evaluation import evaluate


def param_groups(model):
    """The learned temperature gets no weight decay (the reference decays it; README, *Deviations from the
    reference*)."""
    temp = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith("roi_heads.temperature")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith("roi_heads.temperature")]
    return [{"params": rest}, {"params": temp, "weight_decay": 0.0}]


def train(cfg: FViTConfig) -> dict:
    dist = init_distributed()
    seed_everything(cfg.train.seed)
    model = build_model(cfg)
    train_ds = build_dataset(cfg, train=True, spec=model.backbone.spec)
    set_vocabulary(model, train_ds.class_names, novel_mask(cfg.data.train_ann, train_ds.class_names, cfg),
                   cfg.text_cache)
    out = Path(cfg.train.out_dir)

    def periodic_eval(m, step):
        metrics, _ = evaluate(m, cfg, dist.rank, dist.world_size, progress=False)
        set_vocabulary(m, train_ds.class_names, novel_mask(cfg.data.train_ann, train_ds.class_names, cfg),
                       cfg.text_cache)
        return metrics

    Trainer(cfg.train, model, train_ds, collate, evaluate=periodic_eval, param_groups=param_groups,
            metadata={"fvit_config": config_to_dict(cfg)}, run_config=cfg).train()
    metrics, results = evaluate(model, cfg, dist.rank, dist.world_size)
    if dist.is_main:
        atomic_write_json(out / "eval_final.json", metrics)
        results.write_json(out / "results_final.json")
        if cfg.train.export_pretrained:
            from .pretrained import export_pretrained

            export_pretrained(model, cfg, train_ds.class_names, out / "pretrained",
                              [c["id"] for c in train_ds.categories])
            print(f"pretrained folder -> {out / 'pretrained'}")
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return train_main(FViTConfig, train, "python -m fvit_detection.train", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
