"""Loading CLIP weights safely: open_clip pretrained tags or local files (never arbitrary unpickling)."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import torch
from torch import nn

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable, or does not fit the architecture."""


def looks_like_path(source: str) -> bool:
    return source.endswith(WEIGHT_SUFFIXES) or "/" in source or "\\" in source or Path(source).exists()


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` / ``.bin`` / ``.pt`` file, unwrapped from ``state_dict``/``model`` keys.

    Pickled files are read with ``weights_only=True``: tensors and plain containers only.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd = load_file(str(path), device="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 — re-raised with the file named
        raise WeightsError(f"cannot read weights file {path}: {type(e).__name__}: {e}") from None
    for key in ("state_dict", "model", "module"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{path} does not hold a flat name → tensor state dict")
    return sd


def _strip_prefix(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop a wrapper prefix (``module.``, ``model.``, ``backbone.clip_model.`` …) in front of ``visual.``."""
    prefixes = Counter(k[: k.index("visual.")] for k in sd if "visual." in k)
    if not prefixes:
        return sd
    prefix = prefixes.most_common(1)[0][0]
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)} if prefix else sd


def _check_fits(target: nn.Module, sd: dict[str, torch.Tensor], source: str, what: str) -> None:
    expected = target.state_dict()
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    shapes = [
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in sd and tuple(sd[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if shapes:
            parts.append(f"shape mismatches ({len(shapes)}): " + "; ".join(shapes[:5]))
        if missing:
            parts.append(f"missing keys ({len(missing)}): " + ", ".join(missing[:5]))
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): " + ", ".join(unexpected[:5]))
        raise WeightsError(f"{source} does not fit {what}: " + " | ".join(parts))


def load_clip_weights(clip_model: nn.Module, path: str | Path, model_name: str) -> str:
    """Load a full-CLIP or visual-only file into ``clip_model``; returns ``"full"`` or ``"visual"``.

    A full CLIP file has ``visual.*`` keys (any wrapper prefix is removed); anything else is taken as the
    image tower alone. Every key must match in name and shape, else one ``WeightsError`` names the file
    and the first mismatches.
    """
    sd = _strip_prefix(read_state_dict(path))
    if any(k.startswith("visual.") for k in sd):
        _check_fits(clip_model, sd, str(path), f"the full CLIP model {model_name}")
        clip_model.load_state_dict(sd, strict=True)
        return "full"
    _check_fits(clip_model.visual, sd, str(path), f"the image tower of {model_name} (visual-only file)")
    clip_model.visual.load_state_dict(sd, strict=True)
    return "visual"


def create_clip_model(name: str, pretrained: str | None, device: str | torch.device = "cpu"):
    """open_clip model for ``name``: random init, an open_clip pretrained tag (downloads), or a local file.

    Returns (model, weights description).
    """
    import open_clip

    if pretrained is None:
        logging.disable(logging.WARNING)  # open_clip warns on the root logger that nothing was loaded
        try:
            if str(device) == "meta":  # allocate on meta from the start: no slow random init of real memory
                with torch.device("meta"):
                    return open_clip.create_model(name, device=device), "random-init"
            return open_clip.create_model(name, device=device), "random-init"
        finally:
            logging.disable(logging.NOTSET)
    if looks_like_path(pretrained):
        if not Path(pretrained).is_file():
            raise WeightsError(f"weights file not found: {pretrained}")
        model, _ = create_clip_model(name, None)
        kind = load_clip_weights(model, pretrained, name)
        return model.to(device), f"file:{Path(pretrained).resolve()} ({kind})"
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise WeightsError(
            f"{pretrained!r} is neither an existing weights file nor an open_clip pretrained tag of {name} "
            f"(tags: {', '.join(tags) or 'none'})"
        )
    try:
        model = open_clip.create_model(name, pretrained=pretrained, device=device)
    except Exception as e:  # noqa: BLE001 — hub/network errors become one clear message
        raise WeightsError(
            f"could not fetch open_clip weights {name}/{pretrained} ({type(e).__name__}: {e}); "
            "offline? pass a local .safetensors/.bin/.pt file instead"
        ) from None
    return model, f"open_clip:{pretrained}"
