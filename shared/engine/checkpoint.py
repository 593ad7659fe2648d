"""Atomic checkpoints (a crash never leaves a half-written file) and safe loading (``weights_only=True``)."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from shared.errors import UserError
from shared.io import atomic_path


class CheckpointError(UserError, RuntimeError):
    pass


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write ``state`` to a temporary file beside ``path``, fsync, rename over ``path`` (``atomic_path``)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            torch.save(state, f)


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — re-raised naming the file
        raise CheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from None


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """A state dict from a checkpoint file of another code base (weights_only): under ``state_dict`` (mmdet),
    ``model`` (detectron2, ours) or bare."""
    state = load_checkpoint(path)
    sd = next((state[k] for k in ("state_dict", "model") if isinstance(state.get(k), dict)), state)
    bad = [k for k, v in sd.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a state dict of tensors (e.g. {bad[:3]})")
    return sd


def check_state_dict_compatible(model: nn.Module | dict, state_dict: dict, source: str) -> None:
    """Raise naming ``source`` and the first mismatching keys/shapes when ``state_dict`` does not fit ``model``
    (a module, or the state dict it expects)."""
    expected = model if isinstance(model, dict) else model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [f"{k}: {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
              if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        raise CheckpointError(
            f"{source} is not a checkpoint of this model: "
            + "; ".join(p for p in (f"missing {missing[:5]}" if missing else "",
                                    f"unexpected {unexpected[:5]}" if unexpected else "",
                                    f"shape mismatch {shapes[:5]}" if shapes else "") if p))


class PartialCheckpoint:
    """Mixin for ``nn.Module``s whose checkpoints leave out weights restorable from elsewhere (e.g. a frozen
    pretrained backbone): override ``checkpoint_skip_prefixes``. The trainer calls the two methods below."""

    def checkpoint_skip_prefixes(self) -> tuple[str, ...]:
        return ()

    def checkpoint_state_dict(self) -> dict:
        skip = self.checkpoint_skip_prefixes()
        return {k: v for k, v in self.state_dict().items() if not (skip and k.startswith(skip))}

    def load_checkpoint_state_dict(self, sd: dict, source: str) -> None:
        check_state_dict_compatible(self.checkpoint_state_dict(), sd, source)
        self.load_state_dict(sd, strict=False)
