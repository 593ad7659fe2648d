"""A bad choice or an unwritable output folder is one line and exit 2 before any model is loaded (``train``,
``eval answer``)."""
import json

import pytest

import llava_lmm.eval as ev
import llava_lmm.train as tr


@pytest.fixture
def nothing_loaded(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("loaded a model despite a bad argument")

    for name in ("build_tokenizer", "build_model"):
        monkeypatch.setattr(tr, name, fail)
    monkeypatch.setattr(ev, "load_model", fail)


def _data(tmp_path):
    (tmp_path / "data.json").write_text("[]")
    return ["--data_path", str(tmp_path / "data.json")]


@pytest.mark.parametrize("flag,value,expected", [
    ("--stage", "pretrain", "argument --stage: invalid choice: 'pretrain' (choose from 'stage1', 'full', 'lora')"),
    ("--resume_changes", "yes",
     "argument --resume_changes/--resume-changes: invalid choice: 'yes' (choose from 'refuse', 'allow')")])
def test_train_refuses_a_bad_choice_on_the_command_line(nothing_loaded, tmp_path, capsys, flag, value, expected):
    with pytest.raises(SystemExit) as e:
        tr.main(_data(tmp_path) + ["--output_dir", str(tmp_path / "run"), flag, value])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: {expected} (--help lists the arguments)"]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key,value,expected", [
    ("image_aspect_ratio", "wide", "--image_aspect_ratio must be one of square | pad, got 'wide'"),
    ("template", "v2", "--template must be one of plain | v1 | vicuna_v1 | llava_v1, got 'v2'"),
    ("on_bad_image", "ignore", "--on_bad_image must be one of error | skip, got 'ignore'")])
def test_train_refuses_a_bad_choice_in_the_config_file(nothing_loaded, tmp_path, capsys, key, value, expected):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"{key}: {value}\n")
    with pytest.raises(SystemExit) as e:
        tr.main(["--config", str(cfg), "--output_dir", str(tmp_path / "run")] + _data(tmp_path))
    assert e.value.code == 2 and capsys.readouterr().err.strip().splitlines() == [f"error: {expected}"]


def test_train_refuses_an_unwritable_output_dir(nothing_loaded, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    out = tmp_path / "a_file" / "run"  # a folder below a file (root may write anywhere, so no chmod)
    assert tr.main(_data(tmp_path) + ["--output_dir", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --output_dir {out} is not writable: Not a directory"]


def test_eval_answer_refuses_an_unwritable_out(nothing_loaded, tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"question_id": 1, "image": "0.png", "text": "What colour?"}) + "\n")
    out = tmp_path / "a_file" / "answers.jsonl"
    assert ev.main(["answer", "--model", str(tmp_path), "--questions", str(q), "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: --out {out} is not writable: File exists ({out.parent})"]


def test_eval_answer_refuses_an_answer_file_another_run_is_writing(monkeypatch, tmp_path, capsys):
    import os

    from shared.engine.rundir import RunLock

    class Loaded(Exception):
        pass

    def load_model(*a, **k):
        raise Loaded

    monkeypatch.setattr(ev, "load_model", load_model)
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"question_id": 1, "image": "0.png", "text": "What colour?"}) + "\n")
    out = tmp_path / "answers" / "a.jsonl"
    args = ["answer", "--model", str(tmp_path), "--questions", str(q)]
    with RunLock(out.parent, "--out", for_file=out.name):  # another `eval answer` writing a.jsonl
        assert ev.main(args + ["--out", str(out)]) == 2  # refused before the model loads
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {out} is in use by pid {os.getpid()} on host ")
        assert err[0].endswith("one run per file — wait for it to end, stop it, or choose another --out")
        with pytest.raises(Loaded):  # another answer file in the same folder is free
            ev.main(args + ["--out", str(out.with_name("b.jsonl"))])
    with pytest.raises(Loaded):  # released by the other run: this one goes on
        ev.main(args + ["--out", str(out)])
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.jsonl", "b.jsonl"]  # the lock files go with the runs
