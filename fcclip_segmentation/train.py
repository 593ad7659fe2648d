"""``python -m fcclip_segmentation.train --config CFG [key=value ...]`` — train FC-CLIP (single process or torchrun)."""
from __future__ import annotations

import sys
from pathlib import Path

from torch import nn

from shared.engine import Trainer, config_to_dict, init_distributed, scale_lr, seed_everything
from shared.engine.cli import train_main
from shared.io import atomic_write_json

from .builder import build_dataset, build_model, set_vocabulary
from .config import FCCLIPConfig, OptimizerConfig
from .data import check_training_classes, collate
from .evaluation import evaluate

# the normalisation layers of detectron2's get_default_optimizer_params / FC-CLIP's build_optimizer (subclasses
# count: timm's LayerNorm2d, NaiveSyncBatchNorm)
NORM_TYPES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.GroupNorm, nn.InstanceNorm1d,
              nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.LocalResponseNorm)
# build_optimizer also exempts Swin's position tables by parameter name
NO_DECAY_NAMES = ("relative_position_bias_table", "absolute_pos_embed")


def param_groups(model: nn.Module, opt: OptimizerConfig, lr: float, weight_decay: float) -> list[dict]:
    """FC-CLIP's ``build_optimizer`` groups (see ``OptimizerConfig``) for the trainable parameters, merged by
    (lr, weight decay), base-lr groups first; each group lists its ``param_names``."""
    names = {n for n, p in model.named_parameters() if p.requires_grad}
    unknown = sorted(set(opt.no_weight_decay) - names)
    if unknown:
        raise ValueError(f"optimizer.no_weight_decay: {unknown} are not trainable parameters of the model")
    groups: dict[tuple[float, float], dict] = {}
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        for param_name, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:  # a shared parameter joins the group of its first module
                continue
            seen.add(id(p))
            full = f"{module_name}.{param_name}" if module_name else param_name
            group_lr = lr * opt.backbone_lr_multiplier if "backbone" in module_name else lr
            wd = weight_decay
            if any(k in param_name for k in NO_DECAY_NAMES) or full in opt.no_weight_decay:
                wd = 0.0
            if isinstance(module, NORM_TYPES):
                wd = opt.weight_decay_norm
            if isinstance(module, nn.Embedding):
                wd = opt.weight_decay_embed
            g = groups.setdefault((group_lr, wd), {"params": [], "param_names": [], "lr": group_lr,
                                                   "weight_decay": wd})
            g["params"].append(p)
            g["param_names"].append(full)
    # the trainer logs the lr of the first group
    return sorted(groups.values(), key=lambda g: g["lr"] != lr)


def train(cfg: FCCLIPConfig) -> dict:
    dist = init_distributed()
    seed_everything(cfg.train.seed)
    model, names = build_model(cfg)
    train_ds = build_dataset(cfg, train=True, spec=model.backbone.spec)
    check_training_classes(train_ds.class_names, names, cfg.data.train_json, cfg.data.train_class_names)

    def use_train_vocabulary(m):
        set_vocabulary(m, names, train_ds.is_thing, names, cfg.text_cache)

    use_train_vocabulary(model)
    out = Path(cfg.train.out_dir)

    def periodic_eval(m, step):
        metrics = evaluate(m, cfg, names, out / f"eval_{step}", dist.rank, dist.world_size, progress=False)
        use_train_vocabulary(m)
        return metrics

    lr = scale_lr(cfg.train.lr, cfg.train.batch_size * dist.world_size, cfg.train.base_batch_size)  # as the trainer

    def groups(m):
        return param_groups(m, cfg.optimizer, lr, cfg.train.weight_decay)

    Trainer(cfg.train, model, train_ds, collate, evaluate=periodic_eval, param_groups=groups,
            metadata={"fcclip_config": config_to_dict(cfg)}, run_config=cfg).train()
    metrics = evaluate(model, cfg, names, out / "eval_final", dist.rank, dist.world_size)
    if dist.is_main:
        atomic_write_json(out / "eval_final.json", metrics)
        if cfg.train.export_pretrained:
            from .pretrained import export_pretrained

            export_pretrained(model, cfg, names, train_ds.is_thing, out / "pretrained",
                              [c["id"] for c in train_ds.categories], metrics=metrics)
            print(f"pretrained folder -> {out / 'pretrained'}")
        print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items()
                       if not isinstance(v, (dict, list))))
    return metrics


def main(argv: list[str] | None = None) -> int:
    return train_main(FCCLIPConfig, train, "python -m fcclip_segmentation.train", __doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
