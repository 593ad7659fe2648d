"""FC-CLIP open-vocabulary panoptic segmentation on a frozen CLIP backbone:
``from fcclip_segmentation import FCCLIP``."""


def __getattr__(name: str):
    # lazy: `python -m fcclip_segmentation.<tool>` does not pay for importing the model code it may not need
    if name in ("FCCLIP", "PretrainedError"):
        from . import pretrained

        return getattr(pretrained, name)
    raise AttributeError(f"module 'fcclip_segmentation' has no attribute {name!r}")


__all__ = ["FCCLIP", "PretrainedError"]
