"""Turn CLIP models (ViTamin, and the ViT / ConvNeXt baselines) into feature pyramids, dense CLIP embeddings
and text classifiers. Knows nothing of detection, segmentation or LLMs.
"""
from .factory import build_backbone
from .model import ClipBackbone
from .options import BackboneOptions
from .registry import REGISTRY, list_backbones
from .spec import BackboneSpec, LevelSpec
from .weights import WeightsError

__all__ = [
    "build_backbone", "ClipBackbone", "BackboneOptions", "BackboneSpec", "LevelSpec", "REGISTRY",
    "list_backbones", "WeightsError",
]
