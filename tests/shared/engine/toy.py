"""A toy regression task for engine tests: dropout + per-sample noise, so RNG state matters."""
import numpy as np
import torch
from torch import nn

W_TRUE = torch.tensor([[1.5, -2.0, 0.5, 3.0]])


class ToyDataset(torch.utils.data.Dataset):
    def __init__(self, n=64):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 4, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, item):
        idx, seed = item
        noise = np.random.default_rng(seed).normal(0, 0.01)
        x = self.x[idx]
        return {"x": x, "y": (x @ W_TRUE.t()).squeeze() + noise}


def collate(samples):
    return {"x": torch.stack([s["x"] for s in samples]), "y": torch.stack([s["y"] for s in samples]).float()}


class ToyModel(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(4, 16), nn.Dropout(0.1), nn.Linear(16, 1))

    def forward(self, batch):
        pred = self.net(batch["x"]).squeeze(-1)
        return {"loss_mse": ((pred - batch["y"]) ** 2).mean()}
