"""Output folders of predict and eval: one run per folder (the holder named, before the model loads), a failed
start never blocks the corrected rerun, stale temporaries of a killed run are removed (ours only)."""
import json
import os
import socket

import pytest

import fvit_detection.eval as fvit_eval
from fvit_detection import FViT
from fvit_detection.predict import main as predict_main
from fvit_helpers import make_config
from shared.engine import save_config
from shared.engine.rundir import RunLock

OURS = [".results.json.k2_9xq7a.tmp", "vis/.000001.png.abcdefgh.tmp", ".progress.jsonl.a1b2c3d4.tmp"]
OTHERS = [".notes.tmp", "vis/keep.tmp", "vis/.x.toolong123.tmp"]  # not atomic_path's: left alone


@pytest.fixture(scope="module")
def pretrained(fvit_saved):
    return fvit_saved[1] / "pre"


@pytest.fixture
def loads(monkeypatch):
    """Every model load of the predict CLI, recorded."""
    seen = []
    real = FViT.from_pretrained.__func__
    monkeypatch.setattr(FViT, "from_pretrained",
                        classmethod(lambda cls, *a, **k: seen.append(a[0]) or real(cls, *a, **k)))
    return seen


def _args(pretrained, images, out, classes="red circle;green square"):
    return ["--pretrained", str(pretrained), "--images", *map(str, images), "--classes", classes, "--out", str(out),
            "--no-progress"]


def _progress(out):
    return [json.loads(x)["file_name"] for x in (out / "progress.jsonl").read_text().splitlines()]


def test_a_second_run_into_the_same_out_is_refused_naming_the_holder(fvit_world, tmp_path, loads, capsys):
    images = sorted(fvit_world.images_val.glob("*.jpg"))[:2]
    out = tmp_path / "out"
    with RunLock(out, "--out"):  # another predict holds the folder (the lock is per open file: also in-process)
        assert predict_main(_args(tmp_path / "any", images, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {out} is in use by pid {os.getpid()} on host "
                                               f"{socket.gethostname()} (started ")
    assert err[0].endswith("one run per folder — wait for it to end, stop it, or choose another --out")
    assert loads == [] and sorted(p.name for p in out.iterdir()) == [".lock"]  # before the model, no work done


def test_a_failed_start_does_not_block_the_corrected_rerun(pretrained, fvit_world, tmp_path, loads, capsys):
    images = sorted(fvit_world.images_val.glob("*.jpg"))[:1]
    out = tmp_path / "out"
    (tmp_path / "wrong").mkdir()  # a folder, but not a pretrained one
    assert predict_main(_args(tmp_path / "wrong", images, out)) == 2
    assert "not a pretrained folder (config.json missing)" in capsys.readouterr().err
    assert not out.exists()  # the folder it created (and locked) is gone again: nothing was written
    # a run that loaded its model but finished no image (killed) does not hold the folder to its settings either
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"model": "/elsewhere", "classes": ["green square"]}))
    assert predict_main(_args(pretrained, images, out, classes="red circle")) == 0
    settings = json.loads((out / "run.json").read_text())
    assert settings["model"] == str(pretrained.resolve()) and settings["classes"] == ["red circle"]
    assert _progress(out) == [p.name for p in images]
    # once images are done, other settings would mix two runs: refused, before the model loads
    assert predict_main(_args(pretrained, images, out, classes="green square")) == 2
    assert ("holds a run with other settings (1 image done): classes: ['red circle'] → ['green square']"
            in capsys.readouterr().err)
    assert len(loads) == 2 and _progress(out) == [p.name for p in images]


def test_stale_temporaries_of_a_killed_run_are_removed_ours_only(fvit_world, tmp_path, loads):
    images = sorted(fvit_world.images_val.glob("*.jpg"))[:1]
    out = tmp_path / "out"
    for name in OURS + OTHERS:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(b"half")
    assert predict_main(_args(tmp_path / "wrong", images, out)) == 2  # cleaned when the folder is taken
    assert not any((out / n).exists() for n in OURS) and all((out / n).exists() for n in OTHERS)
    assert out.is_dir()  # not created by this run: kept


def _eval_args(fvit_world, tmp_path):
    cfg = make_config(fvit_world, tmp_path / "run")
    save_config(cfg, tmp_path / "cfg.yaml")
    return ["--config", str(tmp_path / "cfg.yaml"), "--checkpoint", str(tmp_path / "run" / "last.pt")]


def test_eval_holds_its_output_folder_and_removes_stale_temporaries(fvit_world, tmp_path, monkeypatch, capsys):
    args = _eval_args(fvit_world, tmp_path)
    out = tmp_path / "ev"
    loaded = []
    real = fvit_eval.load_trained
    monkeypatch.setattr(fvit_eval, "load_trained", lambda *a: loaded.append(1) or real(*a))
    with RunLock(out, "--out"):
        assert fvit_eval.main(args + ["--out", str(out)]) == 2
    assert f"{out} is in use by pid {os.getpid()}" in capsys.readouterr().err and not loaded
    stale = [out / ".metrics.json.abcdefgh.tmp", out / "sub" / ".results.json.12345678.tmp"]
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("half")
    assert fvit_eval.main(args + ["--out", str(out)]) == 2  # no last.pt: fails at the checkpoint, after the clean-up
    assert "checkpoint not found" in capsys.readouterr().err and loaded == [1]
    assert not any(p.exists() for p in stale) and (out / "sub").is_dir()  # the folder was there before: kept
