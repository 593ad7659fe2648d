"""End-to-end F-ViT on the synthetic world: learning, exact resume, eval/predict entry points."""
import json

import pytest

from demo_runs import ci_demo_run
from fvit_helpers import make_config
from fvit_detection.builder import build_model
from fvit_detection.evaluation import evaluate
from fvit_detection.train import train
from shared.engine import seed_everything



@pytest.mark.slow
def test_few_hundred_steps_learn_base_classes(fvit_world, tmp_path):
    cfg = make_config(fvit_world, tmp_path)
    seed_everything(cfg.train.seed)
    untrained, _ = evaluate(build_model(cfg), cfg, progress=False)
    metrics = ci_demo_run("fvit_detection", tmp_path, fvit_world)  # CI: the demo's run of this setting
    if metrics is None:
        metrics = train(cfg)
        assert json.loads((tmp_path / "eval_final.json").read_text()) == metrics
    # Bar: 300 steps on 31 images of a random-init frozen ViTamin-Tiny reached bbox AP_base ≈ 0.26 (AP50_base
    # ≈ 0.62) in our runs (the demo's run on the world CLIP: 0.38) while the untrained detector scores ≈ 0.0; 0.12
    # leaves room for CPU-to-CPU numeric drift yet cannot be reached by chance (random boxes score < 0.03).
    assert untrained["bbox_AP_base"] < 0.05
    assert metrics["bbox_AP_base"] > 0.12 and metrics["bbox_AP50_base"] > 0.3
    assert metrics["segm_AP_base"] > 0.12
    # the eval entry point on the final checkpoint reproduces the numbers
    from fvit_detection.eval import main as eval_main

    config = tmp_path / "config.yaml"
    assert eval_main(["--config", str(config), "--checkpoint", str(tmp_path / "last.pt"), "--out",
                      str(tmp_path / "ev")]) == 0
    again = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert again["bbox_AP_base"] == pytest.approx(metrics["bbox_AP_base"], abs=1e-6)
    from fvit_detection.predict import main as predict_main

    img = fvit_world.images_val / "000001.jpg"
    assert predict_main(["--config", str(config), "--checkpoint", str(tmp_path / "last.pt"), "--image", str(img),
                         "--classes", "red circle;blue square;purple star", "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").stat().st_size > 0


def _losses(path):
    rows = [json.loads(x) for x in (path / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in rows if "loss" in r]


def test_kill_and_resume_reproduces_losses(fvit_world, tmp_path):
    quick = ["train.log_every=1", "eval.max_images=1", "train.warmup_steps=2", "train.lr_steps=[4]"]
    train(make_config(fvit_world, tmp_path / "full", "train.max_steps=6", *quick))
    train(make_config(fvit_world, tmp_path / "cut", "train.max_steps=3", *quick))
    train(make_config(fvit_world, tmp_path / "cut", "train.max_steps=6", *quick))
    full, cut = _losses(tmp_path / "full"), _losses(tmp_path / "cut")
    assert [s for s, _ in cut] == list(range(1, 7))
    assert cut[3:] == full[3:]
