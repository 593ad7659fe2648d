"""F-ViT open-vocabulary detection on a frozen CLIP backbone: ``from fvit_detection import FViT``."""


def __getattr__(name: str):
    # lazy: `python -m fvit_detection.<tool>` does not pay for importing the model code it may not need
    if name in ("FViT", "PretrainedError"):
        from . import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'fvit_detection' has no attribute {name!r}")


__all__ = ["FViT", "PretrainedError"]
