"""The training loop shared by detection and segmentation: DDP, AMP, grad clip, schedule, atomic checkpoints,
exact resume, TensorBoard, progress bar, periodic evaluation, checkpoint-and-stop on SIGTERM / SIGUSR1 (cluster
preemption: the step in flight finishes, every rank agrees, ``last.pt`` is written, ``TrainingInterrupted`` raised).

Contract with an adapter: ``model(batch)`` in train mode returns a dict of scalar tensors; keys starting with
``loss`` are summed into the objective, all are logged. The dataset's ``__getitem__`` receives
``(index, sample_seed)`` and should draw its augmentation from ``sample_seed``. A model may define
``checkpoint_state_dict()`` / ``load_checkpoint_state_dict(sd, source)`` to leave frozen weights out of checkpoints.
"""
from __future__ import annotations

import json
import math
import os
import random
import shutil
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from shared.io import atomic_path

from .checkpoint import load_checkpoint, save_checkpoint
from .distributed import DistInfo, all_gather_objects, all_reduce_sum, barrier, init_distributed
from .rundir import RunDir
from .sampler import ResumableBatchSampler
from .schedule import build_scheduler, scale_lr
from .train_config import TrainConfig


def _to_device(x, device):
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=True)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_pos": int(pos), "numpy_gauss": [int(has_gauss), float(cached)], "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_gauss"][0], state["numpy_gauss"][1]))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class TrainingInterrupted(RuntimeError):
    """Training stopped on a signal after writing ``last.pt``; rerunning the same command resumes."""

    def __init__(self, message: str, signum: int = signal.SIGTERM):
        super().__init__(message)
        self.signum = signum


# Ctrl-C (SIGINT) as a scheduler's SIGTERM / SIGUSR1: finish the step, checkpoint, stop; a second Ctrl-C aborts
# (SIGUSR1 is POSIX-only: the module imports on Windows too)
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGUSR1", "SIGINT") if hasattr(signal, name))


def _truncate_log(path: Path, step: int) -> None:
    """Drop the records a killed run wrote after its last checkpoint, so a resumed run logs each step once."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = [x for x in lines if x.strip() and json.loads(x).get("step", 0) <= step]
    if len(keep) != len(lines):
        with atomic_path(path) as tmp:
            Path(tmp).write_text("".join(keep))


def _snapshot(src: Path, dst: Path) -> None:
    """``dst`` = the file ``src`` now is, without serialising the state again: a hard link (``last.pt`` is later
    replaced by a rename, which leaves the link intact), or a copy where links are not supported."""
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        with atomic_path(dst) as tmp:
            shutil.copyfile(src, tmp)


class Trainer:
    def __init__(self, cfg: TrainConfig, model: nn.Module, train_dataset, collate_fn: Callable,
                 evaluate: Callable[[nn.Module, int], dict] | None = None,
                 param_groups: Callable[[nn.Module], list[dict]] | None = None, metadata: dict | None = None,
                 run_config: Any = None):
        """``run_config``: the adapter's full config (holding ``cfg`` as a field); it is what a resume is compared
        with and what ``config.yaml`` shows. Default: ``cfg`` alone."""
        self.cfg, self.model, self.dataset, self.collate = cfg, model, train_dataset, collate_fn
        self.evaluate, self.param_groups = evaluate, param_groups
        self.metadata = metadata or {}  # stored in every checkpoint (e.g. the adapter's full config)
        self.run_config = cfg if run_config is None else run_config
        self.out_dir = Path(cfg.out_dir)
        self._stop_signal: int | None = None

    def _on_signal(self, signum, frame) -> None:
        if signum == signal.SIGINT and self._stop_signal is not None:
            raise KeyboardInterrupt  # a second Ctrl-C: abort now, without the checkpoint
        self._stop_signal = signum

    def _install_signal_handlers(self) -> dict:
        if threading.current_thread() is not threading.main_thread():
            return {}  # signals can only be caught on the main thread
        return {s: signal.signal(s, self._on_signal) for s in STOP_SIGNALS}

    # --- pieces --------------------------------------------------------------------------------
    def _model_state(self, model: nn.Module) -> dict:
        return model.checkpoint_state_dict() if hasattr(model, "checkpoint_state_dict") else model.state_dict()

    def _load_model_state(self, model: nn.Module, sd: dict, source: str) -> None:
        if hasattr(model, "load_checkpoint_state_dict"):
            model.load_checkpoint_state_dict(sd, source)
        else:
            from .checkpoint import check_state_dict_compatible

            check_state_dict_compatible(model, sd, source)
            model.load_state_dict(sd)

    def _save(self, dist: DistInfo, model, optimizer, scheduler, scaler, step: int) -> None:
        rng = all_gather_objects(_rng_state())  # every rank resumes its own random streams
        if dist.is_main:
            state = {"model": self._model_state(model), "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "step": step, "rng": rng,
                     "config": json.loads(json.dumps(asdict(self.cfg))), "metadata": self.metadata,
                     "run_config": json.loads(json.dumps(asdict(self.run_config)))}
            save_checkpoint(self.out_dir / "last.pt", state)
            if self.cfg.keep_every and step % self.cfg.keep_every == 0:
                _snapshot(self.out_dir / "last.pt", self.out_dir / f"step_{step:07d}.pt")
        barrier()  # no rank leaves (or exits, which makes torchrun stop the others) before the file is complete

    @staticmethod
    def _apply_config_hyperparameters(optimizer, scheduler, fresh: list[dict]) -> None:
        """After restoring optimiser/scheduler state: the hyperparameters of this run's config (``fresh``: the
        param groups as built from it), not the checkpoint's, with the lr at the restored step. Without config
        changes the values are identical (LambdaLR computes lr the same way)."""
        for group, new in zip(optimizer.param_groups, fresh):
            group.update({k: v for k, v in new.items() if k not in ("params", "lr")})
        scheduler.base_lrs = [g["initial_lr"] for g in optimizer.param_groups]
        for group, base, factor in zip(optimizer.param_groups, scheduler.base_lrs, scheduler.lr_lambdas):
            group["lr"] = base * factor(scheduler.last_epoch)
        scheduler._last_lr = [g["lr"] for g in optimizer.param_groups]

    # --- loop ----------------------------------------------------------------------------------
    def train(self) -> list[dict]:
        """Train to ``max_steps`` (resuming from ``last.pt``); returns this run's logged records (every ``log_every``
        steps and the last, as in ``metrics.jsonl``). Holds the run folder (``RunDir``) throughout."""
        dist = init_distributed()
        run = RunDir.open(self.run_config, is_main=dist.is_main)
        try:
            return self._train(dist, run)
        finally:
            run.close()

    def _train(self, dist: DistInfo, run: RunDir) -> list[dict]:
        cfg = self.cfg
        cuda = dist.device.type == "cuda"
        if cuda:
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.tf32
        model = self.model.to(dist.device)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if dist.world_size > 1 and cfg.sync_bn:
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        groups = self.param_groups(model) if self.param_groups else [
            {"params": [p for p in model.parameters() if p.requires_grad]}]
        if not any(p.requires_grad for g in groups for p in g["params"]):
            raise ValueError("the model has no trainable parameters")
        lr = scale_lr(cfg.lr, cfg.batch_size * dist.world_size, cfg.base_batch_size)
        if dist.is_main:  # the scaling rule, stated once: a different node count changes the global batch
            total = cfg.batch_size * dist.world_size
            print(f"global batch {total} ({cfg.batch_size}/process x {dist.world_size}), lr {lr:g}" + (
                f" = {cfg.lr:g} x {total}/{cfg.base_batch_size} (linear scaling from train.base_batch_size)"
                if cfg.base_batch_size else " (not scaled: train.base_batch_size unset)"), flush=True)
        optimizer = torch.optim.AdamW(groups, lr=lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
                                      fused=cfg.fused_adamw and cuda)
        scheduler = build_scheduler(optimizer, cfg.warmup_steps, cfg.warmup_ratio, cfg.lr_steps, cfg.lr_gamma)
        scaler = torch.amp.GradScaler(dist.device.type, enabled=cfg.amp == "fp16")
        fresh = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
        start = 0
        ckpt = self.out_dir / "last.pt"
        if cfg.resume and ckpt.is_file():
            state = load_checkpoint(ckpt)
            self._load_model_state(model, state["model"], str(ckpt))
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
            self._apply_config_hyperparameters(optimizer, scheduler, fresh)
            scaler.load_state_dict(state["scaler"])
            _set_rng_state(state["rng"][dist.rank] if dist.rank < len(state["rng"]) else state["rng"][0])
            start = state["step"]
            if dist.is_main:
                _truncate_log(self.out_dir / "metrics.jsonl", start)
                print(f"resumed from {ckpt} at step {start}", flush=True)
                for key, (old, new) in run.changes.items():
                    print(f"  changed from step {start} on: {key}: {old!r} -> {new!r}", flush=True)
        run.commit()
        if cfg.compile:
            model.compile()
        ddp = model
        if dist.world_size > 1:
            ddp = nn.parallel.DistributedDataParallel(
                model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None,
                find_unused_parameters=cfg.find_unused_parameters)
        sampler = ResumableBatchSampler(len(self.dataset), cfg.batch_size, cfg.seed, dist.rank, dist.world_size,
                                        start, cfg.max_steps)
        # own generator: creating the iterator must not consume the global RNG (it would shift a resumed run)
        loader = torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, collate_fn=self.collate,
                                             num_workers=cfg.num_workers, pin_memory=cfg.pin_memory and cuda,
                                             generator=torch.Generator().manual_seed(cfg.seed))
        writer = log_file = bar = None
        if dist.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            from torch.utils.tensorboard import SummaryWriter
            from tqdm import tqdm

            writer = SummaryWriter(str(self.out_dir / "tb"))
            log_file = open(self.out_dir / "metrics.jsonl", "a")
            bar = tqdm(total=cfg.max_steps, initial=start, desc="train", disable=not cfg.progress, dynamic_ncols=True,
                       mininterval=0.1 if sys.stderr.isatty() else 30.0)  # logs stay readable off a terminal
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(cfg.amp)
        history: list[dict] = []
        model.train()
        previous_handlers = self._install_signal_handlers()
        try:
            for step, batch in enumerate(loader, start=start):
                batch = _to_device(batch, dist.device)
                if cfg.channels_last and isinstance(batch, dict) and getattr(batch.get("images"), "ndim", 0) == 4:
                    batch["images"] = batch["images"].contiguous(memory_format=torch.channels_last)
                with torch.autocast(dist.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                    out = ddp(batch)
                loss = sum(v for k, v in out.items() if k.startswith("loss"))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], cfg.grad_clip)
                scaler.step(optimizer)
                scaler.update()
                scheduler.step()
                # one collective and one host sync per step: the loss terms (averaged) and the stop flag (any rank
                # caught a signal); every rank then sees the same values, so a non-finite loss stops all ranks
                keys = list(out)
                summed = all_reduce_sum(torch.stack([loss.detach().float()] + [out[k].detach().float() for k in keys]
                                                    + [torch.tensor(float(self._stop_signal is not None),
                                                                    device=loss.device)])).tolist()
                stop = summed[-1] > 0
                values = [v / dist.world_size for v in summed[:-1]]
                if not math.isfinite(values[0]):  # after the step; nothing is saved, the run stops here
                    raise FloatingPointError(f"non-finite loss at step {step + 1}: {dict(zip(keys, values[1:]))}")
                record = {"step": step + 1, "lr": optimizer.param_groups[0]["lr"], "loss": values[0],
                          **dict(zip(keys, values[1:]))}
                logged = (step + 1) % cfg.log_every == 0 or step + 1 == cfg.max_steps
                if logged:  # not every step: 368k FC-CLIP steps × 30 loss terms would hold GBs
                    history.append(record)
                if dist.is_main:
                    bar.update(1)
                    bar.set_postfix(loss=f"{record['loss']:.3f}", lr=f"{record['lr']:.2e}", refresh=False)
                    if logged:
                        for k, v in record.items():
                            if k != "step":
                                writer.add_scalar(f"train/{k}", v, step + 1)
                        log_file.write(json.dumps(record) + "\n")
                        log_file.flush()
                if stop and step + 1 < cfg.max_steps:
                    self._save(dist, model, optimizer, scheduler, scaler, step + 1)
                    raise TrainingInterrupted(f"stopped by a signal after step {step + 1}; {ckpt} written — run the "
                                              f"same command again to resume", self._stop_signal or signal.SIGTERM)
                if cfg.ckpt_every and (step + 1) % cfg.ckpt_every == 0 and step + 1 < cfg.max_steps:
                    self._save(dist, model, optimizer, scheduler, scaler, step + 1)
                if self.evaluate and cfg.eval_every and (step + 1) % cfg.eval_every == 0 and step + 1 < cfg.max_steps:
                    metrics = self.evaluate(model, step + 1)
                    model.train()
                    if dist.is_main and metrics:
                        for k, v in metrics.items():
                            if isinstance(v, (int, float)) and math.isfinite(v):
                                writer.add_scalar(f"eval/{k}", v, step + 1)
                        log_file.write(json.dumps({"step": step + 1, "eval": metrics}) + "\n")
            if start < cfg.max_steps:
                self._save(dist, model, optimizer, scheduler, scaler, cfg.max_steps)
        finally:
            for sig, handler in previous_handlers.items():
                signal.signal(sig, handler)
            if dist.is_main:
                bar.close()
                writer.close()
                log_file.close()
        return history
