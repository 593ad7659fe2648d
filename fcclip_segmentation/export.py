"""``python -m fcclip_segmentation.export --pretrained DIR --classes "cat;sky*" --size 1344 --out model.onnx``

FC-CLIP as one ONNX graph for a fixed vocabulary and input size: CLIP normalisation and padding, the sliding
windows of the frozen CLIP backbone, position compensation, the multi-scale deformable-attention pixel decoder,
the masked-attention transformer decoder, both classifiers and their geometric ensemble. Panoptic / semantic /
instance post-processing stays in Python (``fcclip_segmentation.modeling.postprocess``). ``--config CFG
--checkpoint CKPT`` (a training run) works in place of ``--pretrained``. Classes: ``;`` between classes, ``,``
between synonyms, a trailing ``*`` marks stuff (default: the pretrained folder's vocabulary).

Graph inputs: ``image`` uint8 (S, S, 3) RGB — the picture resized so its long side is S, top-left — and
``image_size`` int64 (2,), its (h, w). Outputs: ``probs`` float32 (Q, K+1) per-query class probabilities (void
last) and ``mask_logits`` (Q, S/4, S/4); ``postprocess`` turns them into what the PyTorch model returns (mask
logits at the picture's size in the canvas). ``OUT.json`` beside the model lists the classes, their thing/stuff
flags, the post-processing thresholds and the parity check. S is a multiple of the backbone's coarsest stride
and at least its window. The graph is checked against PyTorch with onnxruntime before it is written
(``--check-image``, default built-in pictures): if they differ, nothing is written and the command exits 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.onnx_export import OPSET, CanvasNormalize, check_canvas_size, export_graph, export_main

from .modeling.fcclip import upsample_mask_logits

# largest |PyTorch − graph| the CLI accepts; measured ≈ 3e-7 for both on the synthetic world and real photos
TOLERANCES = {"probs": 1e-4, "mask_logits": 1e-3}


class ExportableFCCLIP(nn.Module):
    """``forward(image, image_size)`` → (probs (Q, K+1), mask_logits (Q, S/4, S/4)) of a segmenter whose
    vocabulary is set."""

    output_names = ["probs", "mask_logits"]

    def __init__(self, model):
        super().__init__()
        self.model = model.eval()
        spec = model.backbone.spec
        self.normalize = CanvasNormalize(spec.mean, spec.std, model.test_pad)

    def forward(self, image: torch.Tensor, image_size: torch.Tensor):
        with torch.no_grad():
            probs, masks = self.model.infer(self.normalize(image, image_size))
        return probs[0], masks[0]


def check_size(model, size: int) -> None:
    """``ValueError`` (one line) unless ``size`` is at least the backbone's window and a multiple of its coarsest
    stride (``spec.size_divisibility``): the backbone pads any other side, which the traced graph cannot follow."""
    spec = model.backbone.spec
    check_canvas_size(size, max(spec.native_size), spec.size_divisibility,
                      "the backbone's coarsest stride: it pads any other side")


def export_onnx(model, size: int, out: str | Path, opset: int = OPSET) -> ExportableFCCLIP:
    """Trace ``model`` (vocabulary set) at canvas size ``size`` and write ``out``; returns the traced wrapper."""
    if not model.class_names:
        raise ValueError("no vocabulary: set the classes before exporting")
    check_size(model, size)
    wrapper = ExportableFCCLIP(model)
    export_graph(wrapper, size, out, wrapper.output_names, opset)
    return wrapper


def postprocess(outputs: dict[str, np.ndarray], size: int, image_size) -> dict[str, torch.Tensor]:
    """Graph outputs of one canvas of side ``size`` → {probs (Q, K+1), mask_logits (Q, h, w)}: what ``FCCLIP``
    returns in eval mode, ready for ``panoptic_inference`` / ``semantic_labels`` / ``instance_inference``."""
    masks = torch.from_numpy(outputs["mask_logits"])[None]
    return {"probs": torch.from_numpy(outputs["probs"]),
            "mask_logits": upsample_mask_logits(masks, (size, size), [tuple(int(v) for v in image_size)])[0]}


def main(argv: list[str] | None = None) -> int:
    from .config import FCCLIPConfig
    from .pretrained import FCCLIP

    def metadata(model, size):
        spec = model.backbone.spec
        return {"classes": model.class_names, "category_ids": model.category_ids,
                "is_thing": model.is_thing.tolist(), "pad": model.test_pad,
                "mean": list(spec.mean), "std": list(spec.std),
                "object_mask_threshold": model.cfg.object_mask_threshold,
                "overlap_threshold": model.cfg.overlap_threshold}

    return export_main(argv, "python -m fcclip_segmentation.export", __doc__, FCCLIP, FCCLIPConfig, export_onnx,
                       check_size, metadata, TOLERANCES)


if __name__ == "__main__":
    sys.exit(main())
