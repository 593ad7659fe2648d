"""Registry of supported CLIP models: open_clip names → feature-extractor family."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryEntry:
    name: str  # open_clip model name
    family: str  # "vitamin" | "vit" | "convnext"
    note: str = ""


_VITAMIN = [
    "ViTamin-S", "ViTamin-S-LTT", "ViTamin-B", "ViTamin-B-LTT",
    "ViTamin-L", "ViTamin-L-256", "ViTamin-L-336", "ViTamin-L-384",
    "ViTamin-L2", "ViTamin-L2-256", "ViTamin-L2-336", "ViTamin-L2-384",
    "ViTamin-XL-256", "ViTamin-XL-336", "ViTamin-XL-384",
]

REGISTRY: dict[str, RegistryEntry] = {
    **{n: RegistryEntry(n, "vitamin", "paper model") for n in _VITAMIN},
    "ViTamin-Tiny": RegistryEntry("ViTamin-Tiny", "vitamin", "toy-width ViTamin for CPU tests and the demo; no weights"),
    "ViT-L-14": RegistryEntry("ViT-L-14", "vit", "CLIP baseline"),
    "ViT-L-14-336": RegistryEntry("ViT-L-14-336", "vit", "CLIP baseline"),
    "convnext_large_d_320": RegistryEntry("convnext_large_d_320", "convnext", "ConvNeXt-L CLIP baseline (FC-CLIP)"),
}


def list_backbones(family: str | None = None) -> list[str]:
    return [n for n, e in REGISTRY.items() if family is None or e.family == family]


def get_entry(name: str) -> RegistryEntry:
    if name not in REGISTRY:
        raise KeyError(f"unknown backbone {name!r}; known: {', '.join(REGISTRY)}")
    return REGISTRY[name]
