"""Runs you can trust: resume never misreports its settings, one run per folder, Ctrl-C, durable atomic writes,
numbers in YAML, range checks."""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
import yaml

from shared.engine import ConfigError, TrainConfig, Trainer, TrainingInterrupted, load_checkpoint, load_config
from shared.engine.cli import train_main
from shared.engine.rundir import RunDir, RunDirError
from shared.engine.schedule import warmup_step_lambda
from shared.io import atomic_write_text, remove_stale_temporaries

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToyDataset, ToyModel, collate  # noqa: E402

ROOT = Path(__file__).parents[3]


def _cfg(out, **kw):
    base = dict(out_dir=str(out), max_steps=4, batch_size=4, lr=0.05, weight_decay=0.01, warmup_steps=3,
                lr_steps=[8], ckpt_every=1000, log_every=1, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def _train(out, model=None, **kw):
    return Trainer(_cfg(out, **kw), model or ToyModel(), ToyDataset(), collate).train()


# ---------------------------------------------------------------- 1. resume never misreports its settings
def test_resume_with_result_changing_keys_is_refused_before_anything_is_written(tmp_path):
    _train(tmp_path, max_steps=4)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != ".lock"}
    with pytest.raises(ConfigError) as e:
        _train(tmp_path, max_steps=8, lr=0.1, batch_size=8)
    msg = str(e.value)
    assert "lr: 0.05 -> 0.1" in msg and "batch_size: 4 -> 8" in msg and "step 4" in msg
    assert "max_steps" not in msg  # extending a run is allowed
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file() and p.name != ".lock"}
    assert after == before  # config.yaml, last.pt, metrics.jsonl untouched
    # allowed keys only: resumes (extend + cadence + progress)
    hist = _train(tmp_path, max_steps=6, log_every=2, progress=False)
    assert [r["step"] for r in hist] == [6]


def test_resume_changes_allow_applies_and_records_them(tmp_path):
    _train(tmp_path, max_steps=4)
    hist = _train(tmp_path, max_steps=10, lr=0.1, weight_decay=0.02, resume_changes="allow")
    f = warmup_step_lambda(3, 0.001, [8], 0.1)
    # the new base lr really drives the optimiser from step 5 on (the old code restored 0.05 from the checkpoint)
    assert [r["lr"] for r in hist] == pytest.approx([0.1 * f(s) for s in range(5, 11)])
    assert [r["lr"] for r in hist][-1] == pytest.approx(0.01)
    state = load_checkpoint(tmp_path / "last.pt")
    assert state["optimizer"]["param_groups"][0]["weight_decay"] == 0.02
    assert state["run_config"]["lr"] == 0.1
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["lr"] == 0.1  # what is in force
    records = [json.loads(x) for x in (tmp_path / "history.jsonl").read_text().splitlines()]
    assert len(records) == 1 and records[0]["step"] == 4
    assert records[0]["changes"] == {"lr": [0.05, 0.1], "weight_decay": [0.01, 0.02], "max_steps": [4, 10],
                                     "resume_changes": ["refuse", "allow"]}


def test_resume_without_changes_is_bit_exact(tmp_path):
    """Re-applying the config's hyperparameters after loading the optimiser changes nothing when nothing changed."""
    full = _train(tmp_path / "full", max_steps=10)
    _train(tmp_path / "cut", max_steps=4)
    resumed = _train(tmp_path / "cut", max_steps=10)
    assert [r["loss_mse"] for r in resumed] == [r["loss_mse"] for r in full[4:]]
    assert [r["lr"] for r in resumed] == [r["lr"] for r in full[4:]]
    assert not (tmp_path / "cut" / "history.jsonl").exists() or "max_steps" in (
        tmp_path / "cut" / "history.jsonl").read_text()


@dataclass
class ToyRun:
    """A two-section config as the adapters have (the engine finds the TrainConfig field)."""
    width: int = 16
    train: TrainConfig = field(default_factory=lambda: _cfg("unset"))


def _toy_train(cfg, model=None):
    return Trainer(cfg.train, model or ToyModel(), ToyDataset(), collate, run_config=cfg).train()


def test_cli_refuses_changed_model_key_with_exit_2_and_keeps_config_yaml(tmp_path, capsys):
    args = ["--config", str(_toy_yaml(tmp_path)), f"train.out_dir={tmp_path / 'run'}"]
    assert train_main(ToyRun, _toy_train, "toy", None, args) == 0
    saved = (tmp_path / "run" / "config.yaml").read_text()
    called = []
    assert train_main(ToyRun, lambda c: called.append(c), "toy", None, args + ["width=32", "train.seed=3"]) == 2
    err = capsys.readouterr().err
    assert "width: 16 -> 32" in err and "train.seed: 0 -> 3" in err and "train.resume_changes=allow" in err
    assert not called and (tmp_path / "run" / "config.yaml").read_text() == saved


def _toy_yaml(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    f = tmp_path / "toy.yaml"
    f.write_text(yaml.safe_dump({"train": {"max_steps": 3, "batch_size": 4, "lr": 0.05, "warmup_steps": 0,
                                           "ckpt_every": 1000, "progress": False}}))
    return f


# ---------------------------------------------------------------- 2. one run per folder
HOLDER = r"""
import sys, time
from shared.engine import TrainConfig
from shared.engine.rundir import RunDir
RunDir.open(TrainConfig(out_dir=sys.argv[1], resume=False))
print("locked", flush=True)
time.sleep(120)
"""


def test_second_process_is_refused_naming_the_holder_and_kill_9_leaves_no_stale_lock(tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True,
                              env=env, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "locked"
        t0 = time.monotonic()
        with pytest.raises(RunDirError) as e:
            _train(tmp_path)
        assert time.monotonic() - t0 < 5
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(e.value) and "started" in str(e.value)
        assert not (tmp_path / "last.pt").exists()
        called = []  # the CLI refuses before building anything, exit 2
        args = ["--config", str(_toy_yaml(tmp_path / "cfg")), f"train.out_dir={tmp_path}"]
        assert train_main(ToyRun, lambda c: called.append(c), "toy", None, args) == 2 and not called
        assert f"pid {holder.pid}" in capsys.readouterr().err
    finally:
        holder.kill()  # SIGKILL: no cleanup code runs in the holder
        holder.wait()
    assert (tmp_path / ".lock").exists()  # the file stays; the lock died with the process
    assert _train(tmp_path, max_steps=2)[-1]["step"] == 2


def test_the_same_process_reenters_and_releases_its_folder(tmp_path):
    cfg = _cfg(tmp_path)
    outer = RunDir.open(cfg)
    Trainer(cfg, ToyModel(), ToyDataset(), collate).train()  # inside the CLI's hold: no self-deadlock
    fd = os.open(tmp_path / ".lock", os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):  # still held by ``outer`` (another open file conflicts)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        outer.close()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released
    finally:
        os.close(fd)


# ---------------------------------------------------------------- 3. Ctrl-C
def _signalling_model(n_signals):
    model, calls = ToyModel(), []
    forward = model.forward

    def forward_then_signal(batch):
        calls.append(1)
        if len(calls) == 3:
            for _ in range(n_signals):
                os.kill(os.getpid(), signal.SIGINT)
        return forward(batch)

    model.forward = forward_then_signal
    return model, calls


def test_ctrl_c_checkpoints_after_the_step_and_exits_130(tmp_path, capsys):
    model, calls = _signalling_model(1)
    previous = signal.getsignal(signal.SIGINT)
    args = ["--config", str(_toy_yaml(tmp_path)), f"train.out_dir={tmp_path / 'run'}", "train.max_steps=8"]
    assert train_main(ToyRun, lambda c: _toy_train(c, model), "toy", None, args) == 130
    assert signal.getsignal(signal.SIGINT) == previous and len(calls) == 3
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 3
    assert "after step 3" in capsys.readouterr().err


def test_second_ctrl_c_aborts_at_once(tmp_path):
    model, calls = _signalling_model(2)
    with pytest.raises(KeyboardInterrupt):
        Trainer(_cfg(tmp_path, max_steps=8), model, ToyDataset(), collate).train()
    assert len(calls) == 3 and not (tmp_path / "last.pt").exists()  # no step finished, nothing written
    with pytest.raises(TrainingInterrupted) as e:  # the folder was released: a rerun works
        Trainer(_cfg(tmp_path, max_steps=8), _signalling_model(1)[0], ToyDataset(), collate).train()
    assert e.value.signum == signal.SIGINT


# ---------------------------------------------------------------- 4. umask, durability, stale temporaries
@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        _train(tmp_path / "run", max_steps=1)
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == mode
    for name in ("last.pt", "config.yaml"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == mode, name


def test_atomic_write_fsyncs_file_before_rename_and_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))),
                                                  real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", str(b))), real_replace(a, b)))
    atomic_write_text(tmp_path / "m.json", "{}")
    kinds = [k for k, _ in events]
    assert kinds == ["fsync", "replace", "fsync"]
    assert Path(events[0][1]).name.startswith(".m.json.") and events[1][1] == str(tmp_path / "m.json")
    assert events[2][1] == str(tmp_path)


def test_stale_temporaries_of_ours_are_removed_at_the_next_start(tmp_path):
    ours = [tmp_path / ".last.pt.k2_9xq7a.tmp", tmp_path / ".config.yaml.abcdefgh.tmp"]
    others = [tmp_path / ".notes.tmp", tmp_path / "data.tmp", tmp_path / ".x.toolong123.tmp"]
    for p in ours + others:
        p.write_bytes(b"half")
    _train(tmp_path, max_steps=1)
    assert not any(p.exists() for p in ours) and all(p.exists() for p in others)
    assert remove_stale_temporaries(tmp_path) == []


# ---------------------------------------------------------------- 6. numbers, 7. ranges
@dataclass
class Numbers:
    lr: float = 0.1
    steps: int = 1
    opt_lr: float | None = None
    pair: tuple[float, float] = (0.9, 0.999)
    name: str = "x"


def test_yaml_exponent_numbers_are_numbers_where_the_schema_wants_one(tmp_path):
    f = tmp_path / "n.yaml"
    f.write_text("lr: 1e-4\nsteps: 1e3\nopt_lr: 2E-5\npair: [9e-1, 1e0]\nname: 1e-4\n")
    cfg = load_config(Numbers, f)
    assert cfg == Numbers(1e-4, 1000, 2e-5, (0.9, 1.0), "1e-4")
    assert isinstance(cfg.lr, float) and isinstance(cfg.steps, int)
    assert load_config(Numbers, None, ["lr=5e-3", "opt_lr=+3e-2"]).lr == 5e-3
    for bad, msg in ((["steps=1.5e0"], "steps: expected an integer"), (["lr=1e-4x"], "lr: expected a number"),
                     (["lr=true"], "lr: expected a number")):
        with pytest.raises(ConfigError, match=msg):
            load_config(Numbers, None, bad)


@pytest.mark.parametrize("key,value,expected", [
    ("log_every", 0, "> 0"), ("batch_size", 0, "> 0"), ("ckpt_every", 0, "> 0"), ("max_steps", -5, "> 0"),
    ("warmup_steps", -1, ">= 0"), ("lr", 0, "> 0"), ("lr", -1e-4, "> 0")])
def test_out_of_range_values_are_config_errors_naming_the_key(tmp_path, capsys, key, value, expected):
    called = []
    args = ["--config", str(_toy_yaml(tmp_path)), f"train.out_dir={tmp_path / 'run'}", f"train.{key}={value}"]
    assert train_main(ToyRun, lambda c: called.append(c), "toy", None, args) == 2
    err = capsys.readouterr().err
    assert f"train.{key}: must be {expected}" in err and not called and not (tmp_path / "run").exists()
