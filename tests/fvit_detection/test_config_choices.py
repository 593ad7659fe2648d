"""Enum-like options and the output folder are checked when the config is read: one line naming the key, the value
and the allowed values (or the folder), exit 2, before any model or dataset is built."""
import pytest

import fvit_detection.eval as ev
import fvit_detection.train as tr

CONFIG = "fvit_detection/configs/synthetic_tiny.yaml"


@pytest.fixture
def nothing_built(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("built a model or dataset despite a bad config")

    for name in ("build_model", "build_dataset"):
        monkeypatch.setattr(tr, name, fail)
    monkeypatch.setattr(ev, "load_trained", fail)


@pytest.mark.parametrize("override,expected", [
    ("train.amp=fp32", "train.amp='fp32' is not one of ['none', 'bf16', 'fp16']"),
    ("model.norm=batch", "model.norm='batch' is not one of ['bn', 'gn']"),
    ("model.rpn_norm=syncbn", "model.rpn_norm='syncbn' is not one of ['none', 'bn', 'gn']"),
    ("model.window_placement=centre", "model.window_placement='centre' is not one of ['aligned', 'reference']"),
    ("data.format=voc", "data.format='voc' is not one of ['lvis', 'coco']"),
    ("data.on_bad_record=ignore", "data.on_bad_record='ignore' is not one of ['error', 'skip']"),
    ("eval.iou_types=[bbox,keypoints]", "eval.iou_types[1]='keypoints' is not one of ['bbox', 'segm']"),
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
