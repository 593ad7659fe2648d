"""``python -m backbone.pretrain`` — contrastive pre-training of a CLIP (image + text tower) on a caption table.

    python -m backbone.pretrain --world outputs/clip_world --out outputs/world_clip [--model ViTamin-Tiny]
        [--steps 150 --batch-size 64 --lr 1e-3 --warmup 10 --seed 0] [--eval-world outputs/world] [--no-resume]

Trains open_clip's own model (``open_clip.create_model``), tokenizer and ``ClipLoss`` on ``<world>/captions/
train.tsv`` (the synthetic world's image–caption pairs; paths relative to the world folder), with AdamW and
open_clip_train's warm-up + cosine schedule. ``<out>/last.pt`` is written every ``--ckpt-every`` steps and at the
end; rerunning the same command resumes from it (the batch order is a function of the seed and the step).
The result is ``<out>/world_clip.safetensors``: the full CLIP state dict with open_clip's key names, loadable by
``build_backbone(name, pretrained=PATH)`` and by the LLaVA tower loader (``vision_tower_weights``).

Zero-shot check: each object of the evaluation world's val split (never trained on) is cropped as the captions
crop objects and classified among all thing classes by the text tower (FC-CLIP's 14 prompts); accuracy over all
crops and over the crops of the novel classes is reported against chance (1 / number of classes), for the
trained and for the random-init model. Written to ``<out>/metrics.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from shared.io import atomic_path, atomic_write_json

DEFAULT_MODEL = "ViTamin-Tiny"
WEIGHTS_FILE = "world_clip.safetensors"


@dataclass
class PretrainConfig:
    world: str
    out: str
    model: str = DEFAULT_MODEL
    steps: int = 150
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 10
    seed: int = 0
    ckpt_every: int = 50
    resume: bool = True
    eval_world: str | None = None  # default: ``world``
    progress: bool = True


def _no_decay(name: str, p: torch.Tensor) -> bool:
    # open_clip_train's rule: gains, biases and the temperature are not weight-decayed
    return p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name


def load_pairs(world: Path, preprocess, tokenizer) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """All (image, tokens) pairs of ``<world>/captions/train.tsv``, preprocessed once (fp16 images)."""
    from shared.image import read_image
    from shared.synthetic.captions import read_table

    table = world / "captions" / "train.tsv"
    if not table.is_file():
        raise FileNotFoundError(f"{table}: no caption table (write the world with python -m shared.synthetic)")
    rows = read_table(table)
    if not rows:
        raise ValueError(f"{table}: no image–caption pairs")
    images = []
    for path, _ in rows:
        f = world / path
        if not f.is_file():
            raise FileNotFoundError(f"{table}: image {path} not found under {world}")
        images.append(preprocess(read_image(f)).half())
    captions = [c for _, c in rows]
    return torch.stack(images), tokenizer(captions), captions


def batch_indices(step: int, batch_size: int, n: int, seed: int) -> torch.Tensor:
    """The sample indices of ``step``: epoch-wise permutations seeded by (seed, epoch), read at the step's offset."""
    perms: dict[int, torch.Tensor] = {}
    out = []
    for g in range(step * batch_size, (step + 1) * batch_size):
        epoch, pos = divmod(g, n)
        if epoch not in perms:
            perms[epoch] = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        out.append(int(perms[epoch][pos]))
    return torch.tensor(out)


def crop_eval_set(world: Path, preprocess) -> tuple[torch.Tensor, torch.Tensor, list[str], list[bool]]:
    """Crops of the val objects of ``world`` (as the captions crop them): images, labels, class names, novel flags."""
    from shared.image import read_image
    from shared.io import load_json
    from shared.synthetic import WorldPaths
    from shared.synthetic.captions import crop_box

    paths = WorldPaths.from_dir(world)
    inst = load_json(paths.instances_val, "COCO instances (val)")  # COCO: file_name inside images/val2017/
    manifest = load_json(paths.manifest, "synthetic world manifest")
    cats = sorted(inst["categories"], key=lambda c: c["id"])
    label = {c["id"]: k for k, c in enumerate(cats)}
    novel = set(manifest.get("novel_classes", []))
    images = {im["id"]: im for im in inst["images"]}
    crops, labels = [], []
    for a in inst["annotations"]:
        im = images[a["image_id"]]
        x0, y0, x1, y1 = crop_box(a["bbox"], min(im["width"], im["height"]))
        crops.append(preprocess(read_image(paths.images_val / im["file_name"]).crop((x0, y0, x1, y1))))
        labels.append(label[a["category_id"]])
    names = [c["name"] for c in cats]
    return torch.stack(crops), torch.tensor(labels), names, [n in novel for n in names]


@torch.no_grad()
def zero_shot_accuracy(clip_model, tokenizer, crops, labels, names, novel) -> dict:
    """Top-1 accuracy of crops classified among ``names`` (FC-CLIP prompts), overall and on the novel classes."""
    from .text import build_text_classifier

    was = clip_model.training
    clip_model.eval()
    clf = build_text_classifier(clip_model, names, templates="fcclip", reduce="mean", tokenizer=tokenizer)
    pred = clf.logits(clip_model.encode_image(crops.float())).argmax(-1)
    clip_model.train(was)
    hit = (pred == labels).float()
    is_novel = torch.tensor(novel)[labels]
    return {"accuracy": hit.mean().item(),
            "accuracy_novel": hit[is_novel].mean().item() if is_novel.any() else None,
            "chance": 1.0 / len(names), "num_crops": len(labels), "num_novel_crops": int(is_novel.sum())}


def save_weights(clip_model, path: Path, meta: dict) -> None:
    """The full CLIP state dict (open_clip key names) as safetensors."""
    from safetensors.torch import save_file

    sd = {k: v.detach().contiguous() for k, v in clip_model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata={k: str(v) for k, v in meta.items()})


def pretrain(cfg: PretrainConfig) -> dict:
    """Train, write ``world_clip.safetensors`` + ``metrics.json`` into ``cfg.out``; returns the metrics."""
    import open_clip
    from open_clip_train.scheduler import cosine_lr
    from tqdm import tqdm

    from . import tiny
    from .weights import create_clip_model

    if cfg.steps < 1 or cfg.batch_size < 2:
        raise ValueError(f"need steps ≥ 1 and batch_size ≥ 2 (contrastive), got {cfg.steps}, {cfg.batch_size}")
    t0 = time.perf_counter()
    world, out = Path(cfg.world), Path(cfg.out)
    eval_world = Path(cfg.eval_world or cfg.world)
    tiny.register()
    torch.manual_seed(cfg.seed)
    model, _ = create_clip_model(cfg.model, None)
    tokenizer = open_clip.get_tokenizer(cfg.model)
    pp = model.visual.preprocess_cfg
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False, mean=pp["mean"], std=pp["std"])
    images, tokens, _ = load_pairs(world, preprocess, tokenizer)
    crops, labels, names, novel = crop_eval_set(eval_world, preprocess)
    before = zero_shot_accuracy(model, tokenizer, crops, labels, names, novel)

    params = list(model.named_parameters())
    optimizer = torch.optim.AdamW(
        [{"params": [p for n, p in params if _no_decay(n, p)], "weight_decay": 0.0},
         {"params": [p for n, p in params if not _no_decay(n, p)], "weight_decay": cfg.weight_decay}],
        lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    schedule = cosine_lr(optimizer, cfg.lr, cfg.warmup, cfg.steps)
    loss_fn = open_clip.ClipLoss()
    ckpt = out / "last.pt"
    start, losses = 0, []
    if cfg.resume and ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["config"]["steps"] != cfg.steps or state["config"]["model"] != cfg.model:
            raise ValueError(f"{ckpt}: written for model {state['config']['model']} / {state['config']['steps']} "
                             f"steps, not {cfg.model} / {cfg.steps}; pass --no-resume or another --out")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, losses = state["step"], list(state["losses"])

    def save_checkpoint(step: int) -> None:
        with atomic_path(ckpt) as tmp:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step,
                        "losses": losses, "config": asdict(cfg)}, tmp)

    model.train()
    bar = tqdm(range(start, cfg.steps), desc="world CLIP", initial=start, total=cfg.steps, disable=not cfg.progress)
    for step in bar:
        lr = schedule(step)
        idx = batch_indices(step, cfg.batch_size, len(tokens), cfg.seed)
        image_features, text_features, logit_scale = model(images[idx].float(), tokens[idx])[:3]
        loss = loss_fn(image_features, text_features, logit_scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():  # open_clip_train's clamp: temperature at most 100
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        bar.set_postfix(loss=f"{losses[-1]:.3f}", lr=f"{lr:.2e}")
        if (step + 1) % cfg.ckpt_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(step + 1)
    bar.close()

    after = zero_shot_accuracy(model, tokenizer, crops, labels, names, novel)
    weights = out / WEIGHTS_FILE
    save_weights(model, weights, {"model": cfg.model, "steps": cfg.steps, "seed": cfg.seed,
                                  "captions": str(world / "captions" / "train.tsv")})
    metrics = {"model": cfg.model, "weights": str(weights), "steps": cfg.steps, "pairs": len(tokens),
               "batch_size": cfg.batch_size, "loss_first_last": [losses[0], losses[-1]] if losses else None,
               "zero_shot": after, "zero_shot_random_init": before, "seconds": round(time.perf_counter() - t0, 1)}
    atomic_write_json(out / "metrics.json", metrics)
    return metrics


DEMO_WORLD = {"num_train": 400, "num_val": 40, "image_size": 128}  # the caption corpus of the demo's pre-training


def demo(ctx) -> dict:
    """The demo's first step: a caption world of ``DEMO_WORLD`` (same seed, so its first train images are the
    demo world's train images and its val images the demo world's val images), then ``pretrain`` on it; the
    zero-shot crops are its val objects, never trained on."""
    from shared.synthetic import generate_world

    world = generate_world(Path(ctx.out_dir) / "world", seed=ctx.seed, **DEMO_WORLD)
    return pretrain(PretrainConfig(world=str(world.root), out=str(ctx.out_dir), seed=ctx.seed, resume=False))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m backbone.pretrain", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    d = PretrainConfig(world="", out="")
    p.add_argument("--world", required=True, help="synthetic world folder with captions/train.tsv")
    p.add_argument("--out", required=True, help=f"output folder ({WEIGHTS_FILE}, last.pt, metrics.json)")
    p.add_argument("--model", default=d.model, help=f"open_clip model name (default: {d.model})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"optimizer steps (default: {d.steps})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"pairs per step (default: {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr})")
    p.add_argument("--wd", type=float, default=d.weight_decay, help=f"weight decay (default: {d.weight_decay})")
    p.add_argument("--warmup", type=int, default=d.warmup, help=f"linear warm-up steps (default: {d.warmup})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"init and batch order (default: {d.seed})")
    p.add_argument("--ckpt-every", type=int, default=d.ckpt_every, help=f"steps between last.pt writes "
                   f"(default: {d.ckpt_every})")
    p.add_argument("--eval-world", help="world whose val objects are the zero-shot crops (default: --world)")
    p.add_argument("--no-resume", action="store_true", help="start over even if <out>/last.pt exists")
    a = p.parse_args(argv)
    cfg = PretrainConfig(world=a.world, out=a.out, model=a.model, steps=a.steps, batch_size=a.batch_size, lr=a.lr,
                         weight_decay=a.wd, warmup=a.warmup, seed=a.seed, ckpt_every=a.ckpt_every,
                         resume=not a.no_resume, eval_world=a.eval_world)
    try:
        m = pretrain(cfg)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    z, r = m["zero_shot"], m["zero_shot_random_init"]
    print(f"world CLIP -> {m['weights']} ({m['steps']} steps, {m['pairs']} pairs, {m['seconds']} s)\n"
          f"  zero-shot crop accuracy {z['accuracy']:.3f} (novel {z['accuracy_novel']:.3f}) vs chance "
          f"{z['chance']:.3f}; random-init {r['accuracy']:.3f} (novel {r['accuracy_novel']:.3f})")
    print(json.dumps({"zero_shot": z}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
