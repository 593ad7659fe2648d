"""The README's main job: world + world CLIP + one step per subproject → summary.json with the ablations."""
import json
from pathlib import Path

import pytest

import apps.demo as demo
from shared.demo_step import DemoStep, ablation_table


@pytest.mark.slow
def test_demo_writes_summary(tmp_path):
    # the subprojects' steps train for minutes and are tested in their own suites; CI runs the full demo
    assert [s.name for s in demo.STEPS] == ["world_clip", "backbone", "fvit_detection", "fcclip_segmentation",
                                                "llava_lmm"]
    summary = demo.run_demo(tmp_path, seed=0, steps=["backbone"])
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert [s["name"] for s in on_disk["steps"]] == ["backbone"]
    bb = on_disk["steps"][0]
    assert bb["status"] == "ok" and bb["metrics"]["res4_vs_trunk_max_abs_diff"] < 1e-5
    assert bb["metrics"]["sliding_shapes"]["res4"] == [64, 16, 24]
    assert (tmp_path / "backbone" / "features.safetensors").is_file()


def test_failing_step_is_recorded_and_earlier_steps_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "STEPS", [DemoStep("ok", lambda ctx: {"value": 1}), DemoStep("boom", lambda ctx: 1 / 0)])
    with pytest.raises(SystemExit, match="boom"):
        demo.run_demo(tmp_path, seed=1, num_train=2, num_val=1, image_size=64)
    steps = json.loads((tmp_path / "summary.json").read_text())["steps"]
    assert steps[0] == {"name": "ok", "status": "ok", "seconds": steps[0]["seconds"],
                        "cpu_seconds": steps[0]["cpu_seconds"], "metrics": {"value": 1}}
    assert steps[1]["status"] == "failed" and "ZeroDivisionError" in steps[1]["error"]
    with pytest.raises(SystemExit, match="unknown demo step"):
        demo.run_demo(tmp_path, steps=["nope"])


def _step(name, metrics):
    return {"name": name, "status": "ok", "seconds": 1.0, "metrics": metrics}


def test_ablations_table_and_targets():
    steps = [
        _step("world_clip", {"zero_shot": {"accuracy": 0.5, "accuracy_novel": 0.4, "chance": 0.125},
                             "zero_shot_random_init": {"accuracy": 0.1, "accuracy_novel": 0.0, "chance": 0.125}}),
        _step("backbone", {}),
        _step("fvit_detection", {"bbox_AP_novel": 0.30, "segm_AP_novel": 0.2,
                                 "random_text_for_novel": {"bbox_AP_novel": 0.26, "segm_AP_novel": 0.1}}),
        _step("fcclip_segmentation", {"held_out": {"ensemble": {"held_out": {"PQ": 0.3, "mIoU": 0.4}},
                                                   "in_vocabulary_only": {"held_out": {"PQ": 0.1, "mIoU": None}}}}),
        {"name": "llava_lmm", "status": "failed", "seconds": 1.0, "error": "boom"},
    ]
    ab = demo.ablations(steps)
    assert list(ab) == ["world_clip", "fvit_detection", "fcclip_segmentation"]  # failed steps report nothing
    assert ab["world_clip"]["with"] == [0.5, 0.4] and ab["world_clip"]["met"] is True  # 0.5 ≥ 3 · 0.125
    assert ab["fvit_detection"]["without"] == [0.26, 0.1] and ab["fvit_detection"]["met"] is False  # 0.04 < 0.08
    assert ab["fcclip_segmentation"]["met"] is True  # 0.2 ahead
    steps[0]["metrics"]["zero_shot"]["accuracy"] = 0.37  # < 3 · 0.125
    assert demo.ablations(steps)["world_clip"]["met"] is False
    # LLaVA: ahead of the blank image AND of another image, each by 10 points
    steps[-1] = _step("llava_lmm", {"val_accuracy": 0.60, "blank_image_accuracy": 0.45, "shuffled_image_accuracy": 0.52})
    llava = demo.ablations(steps)["llava_lmm"]
    assert llava["with"] == [0.60, 0.60] and llava["without"] == [0.45, 0.52] and llava["met"] is False  # 0.08 < 0.1
    steps[-1]["metrics"]["shuffled_image_accuracy"] = 0.49
    assert demo.ablations(steps)["llava_lmm"]["met"] is True
    steps[-1]["metrics"]["blank_image_accuracy"] = 0.55  # the blank image alone is within 10 points
    assert demo.ablations(steps)["llava_lmm"]["met"] is False
    table = ablation_table(ab).splitlines()
    assert len(table) == 4 and table[0].split()[:4] == ["step", "metric", "with", "without"]
    assert "0.300 / 0.200" in table[2] and "0.260 / 0.100" in table[2] and " NO " in table[2]
    assert "0.100 / -" in table[3]  # a metric without ground truth prints as "-"


@pytest.mark.parametrize("step", ["world_clip", "fvit_detection", "fcclip_segmentation", "llava_lmm"])
def test_demo_target_met_in_the_ci_run(step):
    """CI runs ``python -m apps.demo`` (outputs/demo) before pytest: its ablations must meet the targets."""
    summary = Path(__file__).resolve().parents[2] / "outputs" / "demo" / "summary.json"
    if not summary.is_file():
        pytest.skip("no outputs/demo/summary.json: run python -m apps.demo first (CI does)")
    ab = json.loads(summary.read_text())["ablations"]
    assert ab[step]["met"] is True, ablation_table(ab)


def test_the_providing_steps_weights_reach_later_steps(tmp_path, monkeypatch):
    """A step's ``provides_pretrained`` file is every later step's ``ctx.pretrained``; a rerun that skips the step
    uses the file an earlier run left (as ``--steps fvit_detection`` after a full demo uses the world CLIP)."""
    seen = []

    def provide(ctx):
        ctx.out_dir.mkdir(parents=True, exist_ok=True)
        (ctx.out_dir / "w.safetensors").write_bytes(b"w")
        seen.append(("first", ctx.pretrained))
        return {}

    monkeypatch.setattr(demo, "STEPS", [DemoStep("first", provide, provides_pretrained="w.safetensors"),
                                        DemoStep("later", lambda ctx: seen.append(("later", ctx.pretrained)) or {})])
    demo.run_demo(tmp_path, seed=0, num_train=2, num_val=1, image_size=64)
    weights = str(tmp_path / "first" / "w.safetensors")
    assert seen == [("first", None), ("later", weights)]
    seen.clear()
    demo.run_demo(tmp_path, seed=0, steps=["later"], num_train=2, num_val=1, image_size=64)
    assert seen == [("later", weights)]


def test_target_rules_at_their_edges():
    from shared.demo_step import Target

    a = {"with": [0.31, 0.2], "without": [0.22, None], "chance": 0.1}
    assert Target("ahead_by", 0.08).met(a) is True and Target("ahead_by", 0.091).met(a) is False
    assert Target("ahead_by", 0.0).describe() == "ahead by > 0" and Target("ahead_by", 0.0).met(
        {"with": [0.2], "without": [0.2]}) is False  # ahead at all: a tie is not
    assert Target("times_chance", 3.0).met(a) is True and Target("times_chance", 3.2).met(a) is False
    assert Target("each_ahead_by", 0.05).met(a) is None  # a missing "without" value: not decided
    assert Target("each_ahead_by", 0.05).describe() == "each ahead by >= 0.05"
