"""LLaVA-1.5 with a ViTamin vision tower on native ``transformers.LlavaForConditionalGeneration``.

Importing the package registers the ``vitamin_vision`` config/model with ``AutoConfig``/``AutoModel``.
"""
from .modeling import ViTaminVisionConfig, ViTaminVisionModel  # noqa: F401  (registers on import)

IGNORE_INDEX = -100
IMAGE_TOKEN_INDEX = -200  # the reference's sentinel; expanded to the tower's N placeholder tokens for HF Llava
