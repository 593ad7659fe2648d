"""A disk that fills during a checkpoint: one line naming the file and the cause ("No space left on device"), not
torch's ``inline_container.cc … unexpected pos``; the previous ``last.pt`` stays intact and resumable."""
import errno
import io
import sys
from pathlib import Path

import yaml

import shared.engine.checkpoint as checkpoint
from shared.engine import TrainConfig, Trainer, load_checkpoint
from shared.engine.cli import train_main

sys.path.insert(0, str(Path(__file__).parent))
from toy import ToyDataset, ToyModel, collate  # noqa: E402


class FillingFile(io.FileIO):
    """A file on a disk with ``room`` bytes left."""

    room = 3000

    def write(self, b):
        if self.tell() + len(b) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(b)


def _train(cfg: TrainConfig):
    return Trainer(cfg, ToyModel(), ToyDataset(), collate).train()


def test_disk_full_during_a_checkpoint_is_one_line_and_last_pt_stays_intact(tmp_path, monkeypatch, capsys):
    cfg = tmp_path / "toy.yaml"
    cfg.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "run"), "max_steps": 2, "batch_size": 4, "lr": 0.05,
                                   "warmup_steps": 0, "ckpt_every": 2, "progress": False}))
    assert train_main(TrainConfig, _train, "toy", None, ["--config", str(cfg)]) == 0
    before = (tmp_path / "run" / "last.pt").read_bytes()
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 2

    monkeypatch.setattr(checkpoint, "open", lambda path, mode: FillingFile(path, mode), raising=False)
    assert train_main(TrainConfig, _train, "toy", None, ["--config", str(cfg), "max_steps=4"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "inline_container" not in err
    assert err.strip().splitlines()[-1] == (f"error: cannot write {tmp_path / 'run' / 'last.pt'}: No space left on "
                                            f"device (last.pt left as it was)")
    assert (tmp_path / "run" / "last.pt").read_bytes() == before  # the step-2 checkpoint, whole
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    monkeypatch.undo()  # space again: the same command resumes from step 2
    assert train_main(TrainConfig, _train, "toy", None, ["--config", str(cfg), "max_steps=4"]) == 0
    assert load_checkpoint(tmp_path / "run" / "last.pt")["step"] == 4
