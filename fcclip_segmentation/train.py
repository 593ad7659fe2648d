"""``python -m fcclip_segmentation.train --config CFG [key=value ...]`` — train FC-CLIP (single process or torchrun)."""
from __future__ import annotations

import sys
from pathlib import Path

from shared.engine import Trainer, config_to_dict, init_distributed, seed_everything
from shared.engine.cli import train_main
from shared.io import atomic_write_json

from .builder import build_model, evaluate, set_vocabulary
from .config import FCCLIPConfig
from .data import collate

NO_DECAY = ("logit_scale", "void_embedding.weight")  # the reference decays both (bug 12)


def param_groups(model):
    decay = [p for n, p in model.named_parameters() if p.requires_grad and not n.endswith(NO_DECAY)]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and n.endswith(NO_DECAY)]
    return [{"params": decay}, {"params": rest, "weight_decay": 0.0}]


def train(cfg: FCCLIPConfig) -> dict:
    dist = init_distributed()
    seed_everything(cfg.train.seed)
    model, train_ds = build_model(cfg)
    names = train_ds.class_names

    def use_train_vocabulary(m):
        set_vocabulary(m, names, train_ds.is_thing, names, cfg.text_cache)

    use_train_vocabulary(model)
    out = Path(cfg.train.out_dir)

    def periodic_eval(m, step):
        metrics = evaluate(m, cfg, names, out / f"eval_{step}", dist.rank, dist.world_size, progress=False)
        use_train_vocabulary(m)
        return metrics

    Trainer(cfg.train, model, train_ds, collate, evaluate=periodic_eval, param_groups=param_groups,
            metadata={"fcclip_config": config_to_dict(cfg)}, run_config=cfg).train()
    metrics = evaluate(model, cfg, names, out / "eval_final", dist.rank, dist.world_size)
    if dist.is_main:
        atomic_write_json(out / "eval_final.json", metrics)
        if cfg.train.export_pretrained:
            from .pretrained import export_pretrained

            export_pretrained(model, cfg, names, train_ds.is_thing, out / "pretrained")
            print(f"pretrained folder -> {out / 'pretrained'}")
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                       if not isinstance(v, (dict, list))))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return train_main(FCCLIPConfig, train, "python -m fcclip_segmentation.train", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
