"""Per-family feature extractors: how features are read out of each kind of CLIP image tower."""
from .base import FeatureExtractor
from .convnext import ConvNeXtExtractor
from .vit import ViTExtractor
from .vitamin import ViTaminExtractor

EXTRACTORS: dict[str, type[FeatureExtractor]] = {
    "vitamin": ViTaminExtractor,
    "vit": ViTExtractor,
    "convnext": ConvNeXtExtractor,
}

__all__ = ["EXTRACTORS", "FeatureExtractor", "ViTaminExtractor", "ViTExtractor", "ConvNeXtExtractor"]
