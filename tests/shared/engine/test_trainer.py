"""The shared engine: schedule, configs, resume, atomic checkpoints, DDP sync."""
import json
import os
import signal
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch

from shared.engine import (CheckpointError, ConfigError, TrainConfig, Trainer, TrainingInterrupted, load_checkpoint,
                           load_config, save_checkpoint, save_config, scale_lr, warmup_step_lambda)

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToyDataset, ToyModel, collate  # noqa: E402
from torchrun_helpers import RECORD_ADAMW_DIGESTS, torchrun  # noqa: E402


def test_warmup_step_schedule_hand_values():
    f = warmup_step_lambda(warmup_steps=10, warmup_ratio=0.001, milestones=[20, 30], gamma=0.1)
    assert f(0) == pytest.approx(0.001)
    assert f(5) == pytest.approx(1 - 0.5 * 0.999)
    assert f(10) == 1.0 and f(19) == 1.0
    assert f(20) == pytest.approx(0.1) and f(30) == pytest.approx(0.01)
    assert scale_lr(1e-4, 16, 64) == pytest.approx(2.5e-5) and scale_lr(1e-4, 16, None) == 1e-4


@dataclass
class Inner:
    lr: float = 0.1
    steps: list[int] = field(default_factory=list)


@dataclass
class Outer:
    name: str = "x"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)
    size: tuple[int, int] = (1, 2)
    opt: int | None = None


def test_config_yaml_overrides_and_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: y\ninner:\n  lr: 1\n  steps: [3, 4]\n")
    cfg = load_config(Outer, f, ["inner.lr=2", "flag=true", "size=[5, 6]", "opt=3"])
    assert cfg == Outer("y", True, Inner(2.0, [3, 4]), (5, 6), 3)
    assert isinstance(cfg.inner.lr, float)
    save_config(cfg, tmp_path / "saved.yaml")
    assert load_config(Outer, tmp_path / "saved.yaml") == cfg
    for bad, msg in ((["inner.lrr=1"], "inner.lrr"), (["inner.lr=abc"], "inner.lr"), (["flag"], "key=value"),
                     (["size=[1]"], "size"), (["name=3"], "name")):
        with pytest.raises(ConfigError, match=msg):
            load_config(Outer, f, bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    (tmp_path / "trunc.yaml").write_text("inner: [1, 2\n")
    with pytest.raises(ConfigError, match="trunc.yaml"):
        load_config(Outer, tmp_path / "trunc.yaml")


def _cfg(out, **kw):
    base = dict(out_dir=str(out), max_steps=12, batch_size=4, lr=0.05, weight_decay=0.01, warmup_steps=3,
                lr_steps=[8], ckpt_every=1000, log_every=1, progress=False)
    base.update(kw)
    return TrainConfig(**base)


def test_loss_decreases_and_kill_resume_is_exact(tmp_path):
    full = Trainer(_cfg(tmp_path / "full", max_steps=12), ToyModel(), ToyDataset(), collate).train()
    assert full[-1]["loss_mse"] < full[0]["loss_mse"] / 2
    # "killed" after step 5 (its checkpoint is the last thing it wrote), then resumed to 12 by a new process state
    Trainer(_cfg(tmp_path / "cut", max_steps=5), ToyModel(), ToyDataset(), collate).train()
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:  # steps a killed run logged after its checkpoint
        f.write(json.dumps({"step": 6, "loss": 9.0}) + "\n" + json.dumps({"step": 7, "loss": 9.0}) + "\n")
    torch.manual_seed(1234)  # whatever the new process does first must not matter
    resumed = Trainer(_cfg(tmp_path / "cut", max_steps=12), ToyModel(), ToyDataset(), collate).train()
    assert [r["step"] for r in resumed] == list(range(6, 13))
    assert [r["loss_mse"] for r in resumed] == [r["loss_mse"] for r in full[5:]]
    assert [r["lr"] for r in resumed] == [r["lr"] for r in full[5:]]
    lines = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == list(range(1, 13))


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_checkpoints_after_the_step_and_resume_is_exact(tmp_path, sig):
    """Preemption: a signal during step 4 lets step 4 finish, writes last.pt at 4 and stops; rerunning resumes."""
    full = Trainer(_cfg(tmp_path / "full"), ToyModel(), ToyDataset(), collate).train()
    model, calls = ToyModel(), []
    forward = model.forward

    def forward_then_signal(batch):
        calls.append(1)
        if len(calls) == 4:
            os.kill(os.getpid(), sig)
        return forward(batch)

    model.forward = forward_then_signal
    previous = signal.getsignal(sig)
    with pytest.raises(TrainingInterrupted, match="after step 4"):
        Trainer(_cfg(tmp_path / "cut"), model, ToyDataset(), collate).train()
    assert signal.getsignal(sig) == previous and len(calls) == 4  # handler restored, no step after the signal
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["step"] == 4
    resumed = Trainer(_cfg(tmp_path / "cut"), ToyModel(), ToyDataset(), collate).train()
    assert [r["loss_mse"] for r in resumed] == [r["loss_mse"] for r in full[4:]]


def test_history_holds_the_logged_records_only(tmp_path):
    hist = Trainer(_cfg(tmp_path, max_steps=7, log_every=3), ToyModel(), ToyDataset(), collate).train()
    assert [r["step"] for r in hist] == [3, 6, 7]
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines == hist


def test_keep_every_keeps_step_snapshots(tmp_path):
    Trainer(_cfg(tmp_path, max_steps=8, ckpt_every=2, keep_every=4), ToyModel(), ToyDataset(), collate).train()
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["last.pt", "step_0000004.pt", "step_0000008.pt"]
    assert load_checkpoint(tmp_path / "step_0000004.pt")["step"] == 4 and load_checkpoint(tmp_path / "last.pt")["step"] == 8
    with pytest.raises(ValueError, match="keep_every=3 must be a multiple of train.ckpt_every=2"):
        Trainer(_cfg(tmp_path, ckpt_every=2, keep_every=3), ToyModel(), ToyDataset(), collate)


def test_atomic_checkpoint_survives_crash(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_checkpoint(path, {"step": 1, "w": torch.ones(2)})

    def broken_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")


def test_checkpoint_of_another_model_is_refused(tmp_path):
    Trainer(_cfg(tmp_path, max_steps=2), ToyModel(), ToyDataset(), collate).train()
    other = torch.nn.Linear(4, 1)
    other.forward = lambda batch: {"loss": other.weight.sum()}
    with pytest.raises(CheckpointError, match="not a checkpoint of this model"):
        Trainer(_cfg(tmp_path, max_steps=4), other, ToyDataset(), collate).train()


def test_non_finite_loss_names_step(tmp_path):
    model = ToyModel()
    model.forward = lambda batch: {"loss_bad": torch.tensor(float("nan"), requires_grad=True)}
    with pytest.raises(FloatingPointError, match="step 1"):
        Trainer(_cfg(tmp_path, max_steps=2), model, ToyDataset(), collate).train()


DDP_SCRIPT = RECORD_ADAMW_DIGESTS + r"""
import json, os, signal, sys
sys.path.insert(0, {toy_dir!r})
from toy import ToyDataset, ToyModel, collate
from shared.engine import TrainConfig, Trainer, TrainingInterrupted
import shared.engine.trainer as tr

rank = int(os.environ["RANK"])
model = ToyModel()
seen = []
orig = model.forward
signal_at = int(os.environ.get("SIGNAL_RANK1_AT", "0"))  # preemption seen by rank 1 only
def forward(batch):
    seen.append(batch["x"][:, 0].tolist())
    if rank == 1 and len(seen) == signal_at:
        os.kill(os.getpid(), signal.SIGTERM)
    return orig(batch)
model.forward = forward
cfg = TrainConfig(out_dir={out!r}, max_steps=6, batch_size=4, lr=0.05, warmup_steps=0, ckpt_every=1000,
                  progress=False, log_every=1)
try:
    hist, status = Trainer(cfg, model, ToyDataset(), collate).train(), "done"
except TrainingInterrupted as e:
    hist, status = [], str(e)
json.dump({{"digests": digests, "seen": seen, "loss": [h["loss_mse"] for h in hist], "status": status}},
          open({out!r} + f"/rank{{rank}}.json", "w"))
"""


def _torchrun(tmp_path, **env):
    torchrun(DDP_SCRIPT.format(toy_dir=str(Path(__file__).parent), out=str(tmp_path)), tmp_path, timeout=300, **env)
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]


@pytest.mark.dist
def test_two_process_gloo_keeps_parameters_in_sync(tmp_path):
    r0, r1 = _torchrun(tmp_path)
    assert len(r0["digests"]) == 6 and r0["digests"] == r1["digests"]  # identical after every step
    assert r0["seen"] != r1["seen"]  # different shards
    assert r0["loss"] == r1["loss"] and r0["loss"][-1] < r0["loss"][0]


@pytest.mark.dist
def test_signal_on_one_rank_stops_every_rank_after_the_same_step(tmp_path):
    r0, r1 = _torchrun(tmp_path, SIGNAL_RANK1_AT="3")
    assert "after step 3" in r0["status"] and "after step 3" in r1["status"]
    assert len(r0["digests"]) == len(r1["digests"]) == 3 and r0["digests"] == r1["digests"]
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 3
