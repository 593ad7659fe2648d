"""Enum-like options and the output folder are checked when the config is read: one line naming the key, the value
and the allowed values (or the folder), exit 2, before any model or dataset is built."""
import pytest

import fcclip_segmentation.eval as ev
import fcclip_segmentation.train as tr

CONFIG = "fcclip_segmentation/configs/synthetic_tiny.yaml"


@pytest.fixture
def nothing_built(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("built a model or dataset despite a bad config")

    monkeypatch.setattr(tr, "build_model", fail)
    monkeypatch.setattr(ev, "load_trained", fail)


@pytest.mark.parametrize("override,expected", [
    ("train.amp=fp32", "train.amp='fp32' is not one of ['none', 'bf16', 'fp16']"),
    ("train.resume_changes=maybe", "train.resume_changes='maybe' is not one of ['refuse', 'allow']"),
    ("model.backbone_mode=tiled", "model.backbone_mode='tiled' is not one of ['sliding', 'interpolate']"),
    ("model.res5=avgpool", "model.res5='avgpool' is not one of ['maxpool', 'subsample']"),
    ("model.window_placement=centre", "model.window_placement='centre' is not one of ['aligned', 'reference']"),
    ("data.test_pad=white", "data.test_pad='white' is not one of ['mean', 'black']"),
    ("eval.tasks=[panoptic,depth]", "eval.tasks[1]='depth' is not one of ['panoptic', 'semantic', 'instance']"),
])
def test_train_and_eval_refuse_a_bad_choice_before_building(nothing_built, tmp_path, capsys, override, expected):
    out = tmp_path / "run"
    assert tr.main(["--config", CONFIG, f"train.out_dir={out}", override]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {CONFIG}: {expected}"]
    assert not out.exists()
    assert ev.main(["--config", CONFIG, "--checkpoint", str(tmp_path / "last.pt"), override]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {CONFIG}: {expected}"]


def test_train_refuses_an_unwritable_output_folder_before_building(nothing_built, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "a_file" / "run"  # a folder below a file (root may write anywhere, so no chmod)
    assert tr.main(["--config", CONFIG, f"train.out_dir={out}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: train.out_dir {out.resolve()} is not writable: Not a directory"]
