"""The README's main job: world + one step per subproject → summary.json."""
import json

import pytest

import shared.demo as demo


@pytest.mark.slow
def test_demo_writes_summary(tmp_path):
    # the subprojects' steps train for minutes and are tested in their own suites; CI runs the full demo
    assert [name for name, _ in demo.STEPS] == ["backbone", "fvit_detection", "fcclip_segmentation", "llava_lmm"]
    summary = demo.run_demo(tmp_path, seed=0, steps=["backbone"])
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert [s["name"] for s in on_disk["steps"]] == ["backbone"]
    bb = on_disk["steps"][0]
    assert bb["status"] == "ok" and bb["metrics"]["res4_vs_trunk_max_abs_diff"] < 1e-5
    assert bb["metrics"]["sliding_shapes"]["res4"] == [64, 16, 24]
    assert (tmp_path / "backbone" / "features.safetensors").is_file()


def test_failing_step_is_recorded_and_earlier_steps_kept(tmp_path, monkeypatch):
    monkeypatch.setattr(demo, "STEPS", [("ok", "tests_demo_steps:ok"), ("boom", "tests_demo_steps:boom")])
    import sys
    import types

    mod = types.ModuleType("tests_demo_steps")
    mod.ok = lambda ctx: {"value": 1}
    mod.boom = lambda ctx: 1 / 0
    monkeypatch.setitem(sys.modules, "tests_demo_steps", mod)
    with pytest.raises(SystemExit, match="boom"):
        demo.run_demo(tmp_path, seed=1, num_train=2, num_val=1, image_size=64)
    steps = json.loads((tmp_path / "summary.json").read_text())["steps"]
    assert steps[0] == {"name": "ok", "status": "ok", "seconds": steps[0]["seconds"], "metrics": {"value": 1}}
    assert steps[1]["status"] == "failed" and "ZeroDivisionError" in steps[1]["error"]
    with pytest.raises(SystemExit, match="unknown demo step"):
        demo.run_demo(tmp_path, steps=["nope"])
