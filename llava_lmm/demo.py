"""The LLaVA demo step: stage 1 + stage 2 on the synthetic world (ViTamin-Tiny: the demo's world CLIP when
``ctx.pretrained`` is set, else random-init; a tiny random Llama),
then held-out short-answer accuracy against the majority-answer baselines and against the same model shown, instead
of each picture, a blank (mean-colour) image or another val image (shuffled): the model reads the image only where the
true images beat both. Accuracy is also reported per question kind (``shared.synthetic.llava.QUESTION_KINDS``).

The shared world (32 train images) is too small for a language model to learn the answer format and the
visual facts, so this step generates its own larger LLaVA world (same generator, same seed) in its folder.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from shared.demo_step import DemoStep, Target

CONFIGS = Path(__file__).parent / "configs"


def qa_pairs(records: list[dict]) -> list[tuple[str, str, str]]:
    """(image, question, answer) of every turn of the image records (each asked on its own, with the image)."""
    out = []
    for r in records:
        if not r.get("image"):
            continue
        c = r["conversations"]
        for k in range(0, len(c), 2):
            out.append((r["image"], c[k]["value"].replace("<image>", "").strip(), c[k + 1]["value"]))
    return out


def write_blank_image(folder: Path, processor, size: int) -> str:
    """A uniform image of the processor's mean colour (zero after normalisation); returns its file name."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), tuple(int(round(255 * m)) for m in processor.image_mean)).save(folder / "blank.png")
    return "blank.png"


def shuffled_images(images: list[str]) -> dict[str, str]:
    """Each distinct image → the next one in sorted order (no image maps to itself when there are two or more)."""
    uniq = sorted(set(images))
    return {im: uniq[(k + 1) % len(uniq)] for k, im in enumerate(uniq)}


def accuracy_by_kind(questions: list[dict], gt: dict, runs: dict[str, list[dict]]) -> dict[str, dict]:
    """{kind: {"num", <run>: accuracy, ...}} for each ``question_kind`` of the questions; ``runs``: name → answers."""
    from shared.synthetic.llava import question_kind

    from .metrics import exact_match_score

    kinds: dict[str, set] = {}
    for q in questions:
        kinds.setdefault(question_kind(q["text"]) or "other", set()).add(q["question_id"])
    return {k: {"num": len(ids), **{name: exact_match_score([a for a in ans if a["question_id"] in ids], gt)["accuracy"]
                                    for name, ans in runs.items()}} for k, ids in sorted(kinds.items())}


def run_pipeline(world, out_dir: Path, seed: int = 0, stage1_steps: int = 20, stage2_steps: int = 150,
                 stage: str = "full", extra_stage2: list[str] = (), vision_tower_weights: str | None = None) -> dict:
    from shared.io import atomic_write_json

    from .config import parse_args
    from .eval import generate_answers, write_jsonl
    from .pretrained import load_model
    from .metrics import exact_match_score, majority_baselines
    from .train import train

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    s1, s2 = out_dir / "stage1", out_dir / "stage2"
    tower = ["--vision_tower_weights", str(vision_tower_weights)] if vision_tower_weights else []
    m1 = train(*parse_args([
        "--config", str(CONFIGS / "synthetic_tiny_stage1.yaml"), "--data_path", str(world.llava_pretrain),
        "--tokenizer_corpus", str(world.llava_instruct_train), "--image_folder", str(world.images),
        "--output_dir", str(s1), "--max_steps", str(stage1_steps), "--seed", str(seed), *tower]))
    m2 = train(*parse_args([
        "--config", str(CONFIGS / "synthetic_tiny_stage2.yaml"), "--model_name_or_path", str(s1 / "base_lm"),
        "--pretrain_mm_mlp_adapter", str(s1 / "mm_projector.bin"), "--data_path", str(world.llava_instruct_train),
        "--image_folder", str(world.images), "--output_dir", str(s2), "--max_steps", str(stage2_steps),
        "--seed", str(seed), "--stage", stage, *tower, *extra_stage2]))
    t_train = time.perf_counter() - t0
    val = qa_pairs(json.loads(Path(world.llava_instruct_val).read_text()))
    train_qa = qa_pairs(json.loads(Path(world.llava_instruct_train).read_text()))
    questions = [{"question_id": i, "image": im, "text": q} for i, (im, q, _) in enumerate(val)]
    model, tok, proc, meta = load_model(s2)

    def ask(qs: list[dict], folder) -> list[dict]:
        return generate_answers(model, tok, proc, qs, folder, meta["template"], meta["image_aspect_ratio"],
                                batch_size=32, max_new_tokens=8)

    blank_dir = out_dir / "blank_image"  # image ablation: the same questions about a blank image ...
    blank = write_blank_image(blank_dir, proc, model.config.vision_config.image_size)
    other = shuffled_images([q["image"] for q in questions])  # ... and about another val image (in-distribution)
    runs = {"image": ask(questions, world.images),
            "blank_image": ask([dict(q, image=blank) for q in questions], blank_dir),
            "shuffled_image": ask([dict(q, image=other[q["image"]]) for q in questions], world.images)}
    write_jsonl(out_dir / "val_answers.jsonl", runs["image"])
    gt = {i: a for i, (_, _, a) in enumerate(val)}
    acc = {name: exact_match_score(ans, gt)["accuracy"] for name, ans in runs.items()}
    base = majority_baselines([(q, a) for _, q, a in train_qa], [(q, a) for _, q, a in val])
    metrics = {"val_accuracy": acc["image"], "blank_image_accuracy": acc["blank_image"],
               "shuffled_image_accuracy": acc["shuffled_image"], "num_val_questions": len(questions), **base,
               "accuracy_by_question_kind": accuracy_by_kind(questions, gt, runs),
               "stage1_loss_first_last": [m1["losses"][0], m1["losses"][-1]] if m1["losses"] else None,
               "stage2_loss_first_last": [m2["losses"][0], m2["losses"][-1]] if m2["losses"] else None,
               "stage1_steps": m1["steps"], "stage2_steps": m2["steps"], "train_seconds": round(t_train, 1),
               "model": str(s2), "tower": str(vision_tower_weights or "random-init")}
    atomic_write_json(out_dir / "metrics.json", metrics)
    return metrics


def run(ctx) -> dict:
    from shared.synthetic import generate_world

    world = generate_world(Path(ctx.out_dir) / "world", seed=ctx.seed, num_train=160, num_val=40, image_size=128)
    return run_pipeline(world, Path(ctx.out_dir), ctx.seed, vision_tower_weights=getattr(ctx, "pretrained", None))


def ablation(metrics: dict) -> dict | None:
    """Held-out accuracy with the true image vs a blank image and vs another val image."""
    if "blank_image_accuracy" not in metrics:
        return None
    return {"metric": "held-out short-answer accuracy", "with": [metrics["val_accuracy"]] * 2,
            "without": [metrics["blank_image_accuracy"], metrics.get("shuffled_image_accuracy")],
            "without_is": "blank image / another val image"}


# target: accuracy ahead by 10 points of both the blank image's and another image's (measured values: README.md)
STEP = DemoStep("llava_lmm", run, ablation, Target("each_ahead_by", 0.10))
