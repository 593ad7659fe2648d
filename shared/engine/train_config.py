"""``TrainConfig``: the ``train`` section every engine config holds. A field that may change when a run is resumed
says so itself (``resumable(...)``: it does not change the trained weights); ``RunDir`` reads that mark."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from .config import ConfigError, check_choices

RESUMABLE = "resumable"  # dataclass field metadata key


def resumable(default: Any = dataclasses.MISSING, **kwargs) -> Any:
    """A dataclass field that may differ from the stored run on resume (``field(metadata={"resumable": True})``)."""
    return field(default=default, metadata={RESUMABLE: True}, **kwargs)


def resumable_keys(config: Any, prefix: str = "") -> set[str]:
    """Dotted keys of every field marked ``resumable`` in a config dataclass and its nested sections."""
    keys: set[str] = set()
    for f in dataclasses.fields(config):
        if f.metadata.get(RESUMABLE):
            keys.add(prefix + f.name)
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            keys |= resumable_keys(value, f"{prefix}{f.name}.")
    return keys


@dataclass
class TrainConfig:
    out_dir: str = resumable("outputs/run")
    max_steps: int = resumable(1000)  # extend a run
    batch_size: int = 2  # per process
    base_batch_size: int | None = None  # linear LR scaling reference (F-ViT: 64); None = no scaling
    lr: float = 1e-4
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 250
    warmup_ratio: float = 0.001
    lr_steps: list[int] = field(default_factory=list)
    lr_gamma: float = 0.1
    grad_clip: float | None = 1.0
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast dtype (fp16 with a grad scaler)
    log_every: int = resumable(10)
    ckpt_every: int = resumable(500)
    keep_every: int = resumable(0)  # also keep step_<N>.pt every N steps (a multiple of ckpt_every); 0 = only last.pt
    eval_every: int = resumable(0)
    seed: int = 0
    num_workers: int = resumable(0)  # batches do not depend on the loader workers
    resume: bool = resumable(True)
    find_unused_parameters: bool = False
    sync_bn: bool = True
    progress: bool = resumable(True)
    export_pretrained: bool = resumable(False)  # the adapters write <out_dir>/pretrained/ (from_pretrained) at the end
    resume_changes: Literal["refuse", "allow"] = resumable("refuse")  # allow: resume with changed settings (rundir)
    # fast paths (resumable: they do not change what is computed); the CUDA-only ones do nothing on the CPU
    tf32: bool = resumable(True)  # CUDA: TF32 tensor cores for the fp32 matmuls / convolutions left outside autocast
    fused_adamw: bool = resumable(True)  # CUDA: the fused AdamW kernel (one launch for all parameters)
    pin_memory: bool = resumable(True)  # CUDA: page-locked batches, copied to the GPU without blocking
    compile: bool = resumable(False)  # torch.compile the model (in place: parameter names and checkpoints unchanged)
    channels_last: bool = resumable(False)  # channels-last weights and ``images`` (where convolutions dominate)

    def __post_init__(self):
        """Choices and ranges, so a bad value is a config error naming the key before any work (also when the
        config is built in code rather than read by ``load_config``)."""
        check_choices(self)
        checks = [("max_steps", self.max_steps > 0, "> 0"), ("batch_size", self.batch_size > 0, "> 0"),
                  ("log_every", self.log_every > 0, "> 0"), ("ckpt_every", self.ckpt_every > 0, "> 0"),
                  ("lr", self.lr > 0, "> 0"), ("warmup_steps", self.warmup_steps >= 0, ">= 0"),
                  ("keep_every", self.keep_every >= 0, ">= 0 (0 = off)"),
                  ("eval_every", self.eval_every >= 0, ">= 0 (0 = off)"),
                  ("num_workers", self.num_workers >= 0, ">= 0"), ("weight_decay", self.weight_decay >= 0, ">= 0")]
        for key, ok, expected in checks:
            if not ok:
                raise ConfigError(f"{key}: must be {expected}, got {getattr(self, key)!r}")
        if self.keep_every % self.ckpt_every:
            raise ConfigError(f"keep_every={self.keep_every} must be a multiple of train.ckpt_every={self.ckpt_every} "
                              "(snapshots are taken when a checkpoint is written)")
