"""Test 4 (synthetic world beats the majority answer), test 5 (resume; the multi-process runs are in tests/dist), test 6 (bad data)."""
import json
import warnings
from pathlib import Path

import pytest
import torch


warnings.filterwarnings("ignore", message="No pretrained configuration")
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "llava_lmm" / "configs"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from shared.synthetic import generate_world

    return generate_world(tmp_path_factory.mktemp("llava_world"), seed=0, num_train=96, num_val=30, image_size=128)


def _args(world, out, *extra, stage1=False):
    from llava_lmm.config import parse_args

    if stage1:
        return parse_args(["--config", str(CONFIGS / "synthetic_tiny_stage1.yaml"), "--data_path",
                           str(world.llava_pretrain), "--image_folder", str(world.images), "--output_dir", str(out),
                           "--tokenizer_corpus", str(world.llava_instruct_train), *extra])
    return parse_args(["--config", str(CONFIGS / "synthetic_tiny_stage2.yaml"), "--data_path",
                       str(world.llava_instruct_train), "--image_folder", str(world.images), "--output_dir",
                       str(out), *extra])


@pytest.fixture(scope="module")
def stage1(world, tmp_path_factory):
    from llava_lmm.train import train

    out = tmp_path_factory.mktemp("stage1")
    train(*_args(world, out, "--max_steps", "3", stage1=True))
    return out


def test_stage1_outputs(stage1):
    sd = torch.load(stage1 / "mm_projector.bin", weights_only=True)
    assert sorted(sd) == ["model.mm_projector.0.bias", "model.mm_projector.0.weight", "model.mm_projector.2.bias",
                          "model.mm_projector.2.weight"]
    assert (stage1 / "base_lm" / "tokenizer.json").is_file()
    m = json.loads((stage1 / "train_metrics.json").read_text())
    assert m["steps"] == 3 and m["truncated"] == 0 and m["mismatched"] == 0
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(stage1)  # the stage's rule: square (resize + centre crop), no padding
    assert type(proc).__name__ == "LlavaProcessor" and proc.image_processor.do_pad is False


@pytest.mark.slow
def test_synthetic_world_beats_majority(tmp_path):
    """The demo's setting (its LLaVA world, stage 1 + 150 steps of stage 2) with a random-init tower."""
    from llava_lmm.demo import run_pipeline
    from shared.synthetic import generate_world

    world = generate_world(tmp_path / "world", seed=0, num_train=160, num_val=40, image_size=128)
    m = run_pipeline(world, tmp_path, seed=0)
    print(json.dumps(m))
    assert m["num_val_questions"] == 120 and m["tower"] == "random-init"
    # measured on world seeds 0 / 1 / 2: 0.625 / 0.600 / 0.633 against the global majority answer's 0.11 and the
    # per-kind majority's 0.43-0.45: the model learns the answer vocabulary and prior of each question kind ...
    assert m["val_accuracy"] >= m["majority_accuracy"] + 0.3, m
    assert m["val_accuracy"] >= m["per_type_majority_accuracy"] + 0.05, m
    # ... and reads the image for the scene question (which ground class is missing): 0.950 / 0.825 / 1.000 with
    # the image, at most 0.450 with another val image or a blank one; the object questions stay near their priors
    ground = m["accuracy_by_question_kind"]["ground"]
    assert ground["num"] == 40 and ground["image"] >= 0.7, ground
    assert ground["image"] >= max(ground["shuffled_image"], ground["blank_image"]) + 0.3, ground
    assert set(m["accuracy_by_question_kind"]) == {"count", "presence", "colour", "shape", "side", "ground"}


def test_resume_continues_same_loss_curve(world, stage1, tmp_path):
    from llava_lmm.train import train

    common = ["--model_name_or_path", str(stage1 / "base_lm"), "--logging_steps", "1", "--per_device_train_batch_size",
              "4", "--learning_rate", "1e-3", "--save_strategy", "steps", "--save_steps", "3"]
    full = train(*_args(world, tmp_path / "a", *common, "--max_steps", "6"))
    assert (tmp_path / "a" / "checkpoint-3").is_dir() and (tmp_path / "a" / "checkpoint-6").is_dir()
    from transformers import AutoProcessor

    for folder in (tmp_path / "a", tmp_path / "a" / "checkpoint-3"):  # the final folder and each checkpoint
        proc = AutoProcessor.from_pretrained(folder)
        assert proc.image_processor.do_pad is True and proc.chat_template == proc.tokenizer.chat_template
    card = (tmp_path / "a" / "README.md").read_text()  # the model card: data and the run's numbers
    assert "pipeline_tag: image-text-to-text" in card and f"data_path: `{world.llava_instruct_train}`" in card
    assert f"| train_loss | {full['train_loss']:.4f} |" in card and "| steps | 6 |" in card
    # a run interrupted after step 3: only checkpoint-3 is in its output dir; the same command resumes from it
    import shutil

    shutil.copytree(tmp_path / "a" / "checkpoint-3", tmp_path / "b" / "checkpoint-3")
    resumed = train(*_args(world, tmp_path / "b", *common, "--max_steps", "6"))
    assert resumed["resumed_from"].endswith("checkpoint-3") and resumed["steps"] == 6
    assert len(full["losses"]) == 6
    torch.testing.assert_close(torch.tensor(resumed["losses"][-3:]), torch.tensor(full["losses"][3:]), rtol=1e-4, atol=1e-4)


# ----------------------------------------------------------------------------- test 6: bad inputs
def _write(path, obj):
    path.write_text(json.dumps(obj))
    return path


def test_missing_and_corrupt_images(world, stage1, tmp_path):
    """A text file renamed .jpg and a missing file are found by the up-front pass, before the model is built:
    one error naming both (record, path tried), or with on_bad_image skip both records left out and counted."""
    from llava_lmm.train import train
    from shared.formats.validate import DatasetError

    recs = json.loads(Path(world.llava_instruct_train).read_text())[:4]
    imgs = tmp_path / "imgs"
    (imgs / "train2017").mkdir(parents=True)  # the records name train2017/<file>
    for r in recs[:4]:
        (imgs / r["image"]).write_bytes((Path(world.images) / r["image"]).read_bytes())
    (imgs / recs[1]["image"]).write_bytes(b"not a jpeg")  # corrupt
    recs[2]["image"] = "train/missing.jpg"  # missing
    data = _write(tmp_path / "d.json", recs)
    out = tmp_path / "out"
    base = ["--model_name_or_path", str(stage1 / "base_lm"), "--data_path", str(data), "--image_folder", str(imgs),
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--group_by_modality_length", "false"]
    with pytest.raises(DatasetError) as e:
        train(*_args(world, out, *base))
    msg = str(e.value)
    assert f"#1 record {recs[1]['id']!r}: image {recs[1]['image']!r}: not an image PIL can read" in msg
    assert f"#2 record {recs[2]['id']!r}: image 'train/missing.jpg': file not found: {imgs / 'train/missing.jpg'}" in msg
    assert "--on_bad_image skip" in msg
    assert not (out / "model.safetensors").exists() and not (out / "config.json").exists()  # nothing half-written
    m = train(*_args(world, out, *base, "--on_bad_image", "skip"))
    assert m["steps"] == 2 and m["skipped"] == 2


def test_bad_image_found_before_the_model_is_built(world, tmp_path, capsys, monkeypatch):
    """The CLI: exit 2 and one message naming the file, without building the model."""
    import llava_lmm.train as T

    recs = json.loads(Path(world.llava_instruct_train).read_text())[:2]
    imgs = tmp_path / "imgs"
    (imgs / "train2017").mkdir(parents=True)
    (imgs / recs[0]["image"]).write_text("a text file, renamed .jpg\n")
    (imgs / recs[1]["image"]).write_bytes((Path(world.images) / recs[1]["image"]).read_bytes())
    monkeypatch.setattr(T, "build_model", lambda *a, **k: pytest.fail("the model was built before the data check"))
    rc = T.main(["--config", str(CONFIGS / "synthetic_tiny_stage2.yaml"), "--data_path",
                 str(_write(tmp_path / "d.json", recs)), "--image_folder", str(imgs), "--output_dir",
                 str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "\nerror: " in "\n" + err and "Traceback" not in err
    assert f"record {recs[0]['id']!r}: image {recs[0]['image']!r}: not an image PIL can read" in err


@pytest.mark.parametrize("records,msg", [
    ([{"id": "x", "image": "a.jpg", "conversations": [{"from": "human", "value": "<image>hi"},
                                                      {"from": "gpt", "value": "o"},
                                                      {"from": "human", "value": "<image>"}, {"from": "gpt", "value": "p"}]}],
     r"'<image>' in turns \[0, 2\]"),
    ([{"id": "y", "image": "", "conversations": [{"from": "human", "value": "<image> hi"}, {"from": "gpt", "value": "o"}]}],
     "'image' must be a file path"),
    ([{"id": "z", "conversations": []}], "missing or empty"),
    ([{"id": "w", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]}], "wrong role order"),
])
def test_bad_records_named(tmp_path, records, msg):
    from llava_lmm.data.dataset import load_llava_json
    from shared.formats.validate import DatasetError

    p = _write(tmp_path / "bad.json", records)
    with pytest.raises(DatasetError, match=msg) as e:
        load_llava_json(p)
    assert "bad.json" in str(e.value) and records[0]["id"] in str(e.value)


def test_oversize_and_bad_config(world, stage1, tmp_path):
    from llava_lmm.train import train
    from shared.formats.validate import DatasetError

    with pytest.raises(DatasetError, match=r"model_max_length 40 cannot hold an image in the first turn \(26 text "
                                           r"tokens before it \+ 64 image tokens\); raise --model_max_length"):
        train(*_args(world, tmp_path / "o", "--model_name_or_path", str(stage1 / "base_lm"), "--model_max_length",
                     "40", "--max_steps", "1"))
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 0.1\n")
    from llava_lmm.config import parse_args

    with pytest.raises(SystemExit, match="bad.yaml: unknown key"):
        parse_args(["--config", str(bad), "--data_path", str(world.llava_pretrain)])
    with pytest.raises(SystemExit, match="data_path not found"):
        parse_args(["--data_path", str(tmp_path / "nope.json")])
    (tmp_path / "trunc.json").write_text('[{"id": "a", "conv')
    with pytest.raises(ValueError, match="trunc.json"):
        from llava_lmm.data.dataset import load_llava_json
        load_llava_json(tmp_path / "trunc.json")


def _turns(*values):
    return [{"from": "human" if j % 2 == 0 else "gpt", "value": v} for j, v in enumerate(values)]


def test_records_checked_in_one_pass_listed_or_skipped(world, tmp_path):
    """Every bad record of the file in one error (index, id, problem; images opened), or skipped and counted;
    what the reference trains on is kept and counted in the notes."""
    from llava_lmm.data.dataset import LazySupervisedDataset, load_llava_json
    from shared.formats.validate import DatasetError

    good = json.loads(Path(world.llava_instruct_train).read_text())[:3]
    kept_too = [{"id": "empty", "conversations": _turns("hi", "")},  # the reference masks it: trained on, masked
                {"id": "odd", "conversations": _turns("a", "b", "c")},
                {"id": "gpt-first", "conversations": [{"from": "gpt", "value": "a"}, {"from": "human", "value": "b"},
                                                      {"from": "gpt", "value": "c"}]}]
    bad = [{"id": "noimg", "image": "train/none.jpg", "conversations": _turns("<image>\nq", "a")},
           {"id": "role", "conversations": [{"from": "human", "value": "a"}, {"from": "human", "value": "b"}]}]
    bad += [{"id": f"n{k}", "conversations": "nope"} for k in range(20)]
    p = _write(tmp_path / "mixed.json", good + kept_too + bad)
    with pytest.raises(DatasetError) as e:
        load_llava_json(p)
    msg = str(e.value)
    assert msg.splitlines()[0].startswith(f"{p}: 21 bad records") and "--on_bad_record skip" in msg
    assert "#7 record 'role': wrong role order — turn 1 is 'human'" in msg and msg.splitlines()[-1].strip() == "… and 1 more"
    kept = load_llava_json(p, "skip")
    assert [r["id"] for r in kept] == [r["id"] for r in good + kept_too] + ["noimg"]

    class Tok:
        model_max_length = 64

        def convert_tokens_to_ids(self, t):
            return 7

    with pytest.raises(DatasetError, match=r"#3 record 'noimg': image 'train/none.jpg': file not found: .*none.jpg"):
        LazySupervisedDataset(_write(tmp_path / "img.json", good + bad[:1]), Tok(), None, world.images)
    ds = LazySupervisedDataset(p, Tok(), None, world.images, on_bad_record="skip")
    assert ds.skipped == 22 and len(ds) == len(good) + len(kept_too)
    assert ds.notes == {"empty turn": 1, "ends with a human turn": 1, "first turn from gpt dropped": 1}


@pytest.mark.parametrize("flag,value,expected", [
    ("--learning_rate", "0", "--learning_rate must be > 0"), ("--per_device_train_batch_size", "0", "> 0"),
    ("--max_steps", "0", "--max_steps must be > 0 (or -1"), ("--warmup_steps", "-1", "warmup_steps"),
    ("--save_steps", "0", "--save_steps must be > 0"), ("--logging_steps", "0", "logging_steps")])
def test_out_of_range_arguments_exit_2_naming_them(world, tmp_path, capsys, flag, value, expected):
    from llava_lmm.config import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(["--data_path", str(world.llava_pretrain), "--output_dir", str(tmp_path), flag, value])
    assert e.value.code == 2 and expected in capsys.readouterr().err


def test_yaml_exponent_numbers_are_numbers(world, tmp_path):
    from llava_lmm.config import parse_args

    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: 2e-5\nweight_decay: 1e-2\n")
    _, _, t = parse_args(["--config", str(cfg), "--data_path", str(world.llava_pretrain), "--output_dir",
                          str(tmp_path)])
    assert t.learning_rate == 2e-5 and t.weight_decay == 0.01


def test_second_run_on_a_busy_output_dir_is_refused_naming_the_holder(world, tmp_path, capsys):
    import os

    from llava_lmm.train import main
    from shared.engine.rundir import RunLock

    out = tmp_path / "run"
    out.mkdir()
    argv = ["--config", str(CONFIGS / "synthetic_tiny_stage1.yaml"), "--data_path", str(world.llava_pretrain),
            "--image_folder", str(world.images), "--output_dir", str(out), "--tokenizer_corpus",
            str(world.llava_instruct_train), "--max_steps", "1"]
    with RunLock(out):  # another run holds the folder (flock conflicts across open files, also in one process)
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"pid {os.getpid()}" in err and "--output_dir" in err
    assert not (out / "mm_projector.bin").exists()  # refused before any work
    assert main(argv) == 0 and (out / "mm_projector.bin").exists()  # the lock died with its holder


def test_resume_with_changed_settings_is_refused_before_work_unless_allowed(world, tmp_path, capsys):
    from llava_lmm.train import main

    out = tmp_path / "run"
    base = ["--config", str(CONFIGS / "synthetic_tiny_stage1.yaml"), "--data_path", str(world.llava_pretrain),
            "--image_folder", str(world.images), "--output_dir", str(out), "--tokenizer_corpus",
            str(world.llava_instruct_train), "--save_strategy", "steps", "--save_steps", "2"]
    assert main(base + ["--max_steps", "2"]) == 0
    stored = (out / "run_args.json").read_text()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".lock"}
    assert main(base + ["--max_steps", "3", "--learning_rate", "0.5", "--seed", "7"]) == 2
    err = capsys.readouterr().err
    assert "training.learning_rate: 0.001 -> 0.5" in err and "training.seed: 0 -> 7" in err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir() if p.name != ".lock"} == before  # nothing written
    assert (out / "run_args.json").read_text() == stored
    assert main(base + ["--max_steps", "3", "--save_steps", "3"]) == 0  # extending a run / cadence may change
    assert main(base + ["--max_steps", "4", "--learning_rate", "0.5", "--resume_changes", "allow"]) == 0
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert history == [{"step": 3, "changes": {"training.learning_rate": [0.001, 0.5]}}]
    assert json.loads((out / "run_args.json").read_text())["training"]["learning_rate"] == 0.5
