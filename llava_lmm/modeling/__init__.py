"""Model side: the ViTamin vision tower (registered with AutoConfig/AutoModel), building and weight conversion."""
from .vision_tower import ViTaminVisionConfig, ViTaminVisionModel, register

__all__ = ["ViTaminVisionConfig", "ViTaminVisionModel", "register"]
