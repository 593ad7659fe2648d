"""The engine's speed switches (``train.tf32 / fused_adamw / pin_memory / compile / channels_last``): CPU results
unchanged, channels-last reaching the model, and a run resumable with the switches changed."""
import json

import torch
from torch import nn

from shared.engine import TrainConfig, Trainer


class ConvDataset(torch.utils.data.Dataset):
    def __len__(self):
        return 16

    def __getitem__(self, item):
        idx, _ = item
        g = torch.Generator().manual_seed(idx)
        return {"images": torch.randn(3, 8, 8, generator=g), "y": torch.tensor(float(idx % 3))}


def collate(samples):
    return {"images": torch.stack([s["images"] for s in samples]), "y": torch.stack([s["y"] for s in samples])}


class ConvModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 1)
        self.layouts: list[bool] = []  # was each batch (and the weight) channels-last?

    def forward(self, batch):
        x = batch["images"]
        cl = torch.channels_last
        self.layouts.append(x.is_contiguous(memory_format=cl) and self.conv.weight.is_contiguous(memory_format=cl))
        pred = self.head(self.conv(x).mean((2, 3))).squeeze(-1)
        return {"loss_mse": ((pred - batch["y"]) ** 2).mean()}


def _run(tmp_path, **kw):
    cfg = TrainConfig(out_dir=str(tmp_path), max_steps=kw.pop("max_steps", 3), batch_size=4, lr=1e-2, warmup_steps=0,
                      log_every=1, ckpt_every=100, progress=False, **kw)
    model = ConvModel()
    history = Trainer(cfg, model, ConvDataset(), collate).train()
    return [r["loss"] for r in history], model.layouts


def test_channels_last_reaches_the_model_and_keeps_the_losses(tmp_path):
    plain, layouts = _run(tmp_path / "a")
    cl, cl_layouts = _run(tmp_path / "b", channels_last=True)
    assert layouts == [False] * 3 and cl_layouts == [True] * 3
    torch.testing.assert_close(torch.tensor(cl), torch.tensor(plain), rtol=1e-5, atol=1e-6)
    # the CUDA-only switches change nothing on the CPU: bit-identical losses
    off, _ = _run(tmp_path / "c", tf32=False, fused_adamw=False, pin_memory=False)
    assert off == plain


def test_speed_switches_may_change_on_resume(tmp_path):
    _run(tmp_path, max_steps=2)
    losses, layouts = _run(tmp_path, max_steps=4, channels_last=True, fused_adamw=False, tf32=False)
    assert len(losses) == 2 and layouts == [True, True]  # resumed at step 2, not refused as a changed run
    steps = [json.loads(x)["step"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines() if "loss" in x]
    assert steps == [1, 2, 3, 4]
