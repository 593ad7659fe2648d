"""Deterministic, resumable, rank-sharded batch order: batch k is a function of (seed, k, rank) only."""
from __future__ import annotations

import torch


class ResumableBatchSampler(torch.utils.data.Sampler):
    """Yields, for steps ``start_step`` … ``max_steps − 1``, this rank's list of ``(index, sample_seed)``.

    The global stream is the concatenation of per-epoch permutations (seeded by ``seed + epoch``); global step k
    takes positions [k·B·W, (k+1)·B·W) and rank r the r-th block of B. ``sample_seed`` lets datasets draw their
    augmentation from a per-sample generator, so batches do not depend on worker assignment or on resuming.
    """

    def __init__(self, dataset_len: int, batch_size: int, seed: int, rank: int = 0, world_size: int = 1,
                 start_step: int = 0, max_steps: int = 0):
        if dataset_len < 1:
            raise ValueError("the training dataset is empty")
        self.n, self.bs, self.seed, self.rank, self.world = dataset_len, batch_size, seed, rank, world_size
        self.start_step, self.max_steps = start_step, max_steps
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(self.seed + epoch))}
        return self._perms[epoch]

    def batch(self, step: int) -> list[tuple[int, int]]:
        start = (step * self.world + self.rank) * self.bs
        out = []
        for pos in range(start, start + self.bs):
            epoch, i = divmod(pos, self.n)
            out.append((int(self._perm(epoch)[i]), (self.seed * 1_000_003 + pos) % 2**63))
        return out

    def __iter__(self):
        for step in range(self.start_step, self.max_steps):
            yield self.batch(step)

    def __len__(self) -> int:
        return max(self.max_steps - self.start_step, 0)
