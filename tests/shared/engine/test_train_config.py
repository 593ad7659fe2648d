"""``TrainConfig``: the resumable fields are marked on the fields, choices are checked with the config, no import
circle between the run folder and the trainer, and an unwritable run folder is one line before any work."""
import ast
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest
import yaml

from shared.engine import ConfigError, TrainConfig, load_config
from shared.engine.cli import train_main
from shared.engine.train_config import resumable_keys

ENGINE = Path(__file__).parents[3] / "shared" / "engine"


def test_resumable_fields_are_those_that_do_not_change_the_weights():
    # the hand-kept list these marks replace (cadence, run length, progress, workers, paths, speed switches)
    assert resumable_keys(TrainConfig()) == {
        "max_steps", "log_every", "ckpt_every", "keep_every", "eval_every", "progress", "num_workers", "resume",
        "resume_changes", "out_dir", "export_pretrained", "tf32", "fused_adamw", "pin_memory", "compile",
        "channels_last"}

    @dataclass
    class Run:
        width: int = 16
        train: TrainConfig = field(default_factory=TrainConfig)

    keys = resumable_keys(Run())
    assert "train.max_steps" in keys and "train.lr" not in keys and "width" not in keys and len(keys) == 16


@dataclass
class Choices:
    mode: Literal["a", "b"] = "a"
    modes: list[Literal["x", "y"]] = field(default_factory=lambda: ["x"])
    maybe: Literal["p", "q"] | None = None
    train: TrainConfig = field(default_factory=TrainConfig)


@pytest.mark.parametrize("override,expected", [
    ("mode=c", "mode='c' is not one of ['a', 'b']"),
    ("modes=[y,z]", "modes[1]='z' is not one of ['x', 'y']"),
    ("maybe=r", "maybe='r' is not one of ['p', 'q']"),
    ("train.amp=fp32", "train.amp='fp32' is not one of ['none', 'bf16', 'fp16']"),
    ("train.keep_every=3", "train.keep_every=3 must be a multiple of train.ckpt_every=500 (snapshots are taken when "
                           "a checkpoint is written)")])
def test_a_bad_choice_is_an_error_naming_key_value_and_choices(override, expected):
    with pytest.raises(ConfigError) as e:
        load_config(Choices, None, [override])
    assert str(e.value) == f"defaults: {expected}"
    assert load_config(Choices, None, ["mode=b", "modes=[y,x]", "maybe=q", "train.amp=bf16"]).modes == ["y", "x"]


def test_a_train_config_built_in_code_is_checked_too():
    with pytest.raises(ConfigError, match=r"^amp='fp32' is not one of \['none', 'bf16', 'fp16'\]$"):
        TrainConfig(amp="fp32")


def test_the_run_folder_does_not_import_the_trainer():
    imported = set()
    for node in ast.walk(ast.parse((ENGINE / "rundir.py").read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert "trainer" not in imported and "fcntl" not in imported and "filelock" in imported


NO_POSIX = """
import signal, sys
sys.modules["fcntl"] = None  # as on Windows: no fcntl, no SIGUSR1
del signal.SIGUSR1
import shared.engine, shared.pretrained
print(shared.engine.trainer.STOP_SIGNALS)
"""


def test_the_engine_and_pretrained_folders_import_without_fcntl_or_sigusr1():
    r = subprocess.run([sys.executable, "-W", "ignore", "-c", NO_POSIX], capture_output=True, text=True, timeout=120,
                       cwd=ENGINE.parents[1], env={**os.environ, "PYTHONPATH": str(ENGINE.parents[1])})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "(<Signals.SIGTERM: 15>, <Signals.SIGINT: 2>)"


def test_an_unwritable_run_folder_is_one_line_before_any_work(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"train": {"progress": False}}))
    called = []
    out = tmp_path / "a_file" / "run"  # a folder below a file: root can write anywhere, so not a chmod
    assert train_main(Choices, called.append, "toy", None, ["--config", str(cfg), f"train.out_dir={out}"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"error: train.out_dir {out} is not writable: Not a directory"]
    assert not called
