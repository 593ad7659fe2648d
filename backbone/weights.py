"""Loading CLIP weights safely: open_clip pretrained tags or local files (never arbitrary unpickling)."""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import torch
from torch import nn

from shared.errors import UserError

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")


class WeightsError(UserError, RuntimeError):
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
    check_tag_available(name, pretrained)
    try:
        model = open_clip.create_model(name, pretrained=pretrained, device=device)
    except Exception as e:  # noqa: BLE001 — hub/network errors become one clear message
        raise WeightsError(
            f"could not fetch open_clip weights {name}/{pretrained} ({type(e).__name__}: {e}); offline? pass a "
            f"local file instead ({LOCAL_WEIGHTS_OPTIONS}); HF_HUB_OFFLINE=1 makes this fail at once"
        ) from None
    return model, f"open_clip:{pretrained}"


# where a local CLIP file replaces a tag, in the message of a tag that cannot be fetched
LOCAL_WEIGHTS_OPTIONS = ("model.pretrained=/path/to/open_clip_model.safetensors in F-ViT / FC-CLIP configs, "
                         "--vision_tower_weights FILE for LLaVA")


def check_tag_available(name: str, tag: str) -> None:
    """An open_clip pretrained ``tag`` of model ``name`` that can load here: a known tag, and in the Hub cache (or
    open_clip's url cache) when ``HF_HUB_OFFLINE`` is set. Otherwise a ``WeightsError`` at once, naming the
    local-file options; nothing is downloaded or allocated."""
    import open_clip

    from shared.offline import cached_hub_file, hub_offline, offline_message

    tags = open_clip.list_pretrained_tags_by_model(name)
    if tag not in tags:
        raise WeightsError(
            f"{tag!r} is neither an existing weights file nor an open_clip pretrained tag of {name} "
            f"(tags: {', '.join(tags) or 'none'})"
        )
    if not hub_offline():
        return
    cfg = open_clip.get_pretrained_cfg(name, tag)
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub:  # open_clip's layout: "org/repo/file" or "org/repo/" (its default file name), safetensors first
        repo, file = os.path.split(hub)
        file = file or "open_clip_pytorch_model.bin"
        names = (["open_clip_model.safetensors"] if file == "open_clip_pytorch_model.bin"
                 else [file[:-4] + ".safetensors"] if file.endswith((".bin", ".pth")) else [])
        if cached_hub_file(repo, names + [file]):
            return
        fetch = f"huggingface-cli download {repo} {file}"
    else:
        if url and (Path(os.path.expanduser("~/.cache/clip")) / os.path.basename(url)).is_file():
            return
        fetch = f"download {url} into ~/.cache/clip"
    raise WeightsError(offline_message(f"open_clip weights {name}/{tag}", LOCAL_WEIGHTS_OPTIONS, fetch))
