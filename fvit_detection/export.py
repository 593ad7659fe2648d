"""``python -m fvit_detection.export --pretrained DIR --classes "a;b,c" --size 896 --out model.onnx``

F-ViT as one ONNX graph for a fixed vocabulary and input size: CLIP normalisation and padding, the sliding
windows of the frozen CLIP backbone, adapters, FPN, RPN, RoI heads, VLM score fusion and per-class NMS all run
inside it. ``--config CFG --checkpoint CKPT`` (a training run) works in place of ``--pretrained``. Classes:
``;`` between classes, ``,`` between synonyms (default: the pretrained folder's vocabulary).

Graph inputs: ``image`` uint8 (S, S, 3) RGB — the picture resized so its long side is S, top-left (anything
elsewhere is ignored) — and ``image_size`` int64 (2,), its (h, w). S is a multiple of the coarsest feature
stride (64 for ViTamin) and at least the backbone's window. Outputs: ``boxes`` float32 (K, 4) xyxy in canvas
pixels, ``scores`` (K,), ``labels`` int64 (K,) indices into the class list, and with a mask head ``mask_probs``
(K, M, M) per box; ``postprocess`` turns them into ``FViT.predict``'s result in the picture's pixels. ``OUT.json``
beside the model lists the classes, their category ids, the size and the parity check. The graph is checked against PyTorch with
onnxruntime before it is written (``--check-image``, default built-in pictures): if they differ, nothing is
written and the command exits 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.onnx_export import OPSET, CanvasNormalize, check_canvas_size, export_graph, export_main

# largest |PyTorch − graph| the CLI accepts (boxes in canvas pixels); labels and counts must be equal.
# Measured on real photos with the tiny model: boxes ≈ 3e-5 px, scores ≈ 1e-6, mask probabilities ≈ 7e-6.
TOLERANCES = {"boxes": 0.05, "scores": 1e-4, "mask_probs": 1e-3}


class ExportableFViT(nn.Module):
    """``forward(image, image_size)``: the graph's interface (module docstring) around a detector whose vocabulary
    is set."""

    def __init__(self, model):
        super().__init__()
        self.model = model.eval()
        spec = model.backbone.spec
        self.normalize = CanvasNormalize(spec.mean, spec.std, "mean")

    @property
    def output_names(self) -> list[str]:
        return ["boxes", "scores", "labels"] + (["mask_probs"] if self.model.roi_heads.with_mask else [])

    def forward(self, image: torch.Tensor, image_size: torch.Tensor):
        with torch.no_grad():
            det = self.model.detect(self.normalize(image, image_size), [image_size])[0]
        out = (det["boxes"], det["scores"], det["labels"])
        return out + ((det["mask_probs"][:, 0],) if "mask_probs" in det else ())


def check_size(model, size: int) -> None:
    """``ValueError`` (one line) unless ``size`` is a canvas side the detector takes as it is: at least the
    backbone's window, and whole cells at every feature level (``model.canvas_multiple``): the graph is traced
    for exactly S × S, and the detector would pad any other side up to one of those."""
    check_canvas_size(size, max(model.backbone.spec.native_size), model.canvas_multiple,
                      f"the stride of F-ViT's coarsest feature level, P6: every level needs whole cells")


def export_onnx(model, size: int, out: str | Path, opset: int = OPSET) -> ExportableFViT:
    """Trace ``model`` (vocabulary set) at canvas size ``size`` and write ``out``; returns the traced wrapper."""
    if model.roi_heads.text_embeddings.shape[0] < 2:
        raise ValueError("no vocabulary: set the classes before exporting")
    check_size(model, size)
    wrapper = ExportableFViT(model)
    export_graph(wrapper, size, out, wrapper.output_names, opset, dynamic=tuple(wrapper.output_names))
    return wrapper


def postprocess(outputs: dict[str, np.ndarray], image_size, orig_size: tuple[int, int],
                class_names: list[str] | None = None, category_ids: list[int] | None = None) -> dict:
    """Graph outputs of one canvas → ``FViT.predict``'s result for the original picture of size ``orig_size``
    (H, W): boxes in its pixels (divided by the real per-axis factors w / W, h / H and clipped to the picture,
    by ``rescale_to_original`` as predict and eval do), scores, labels, bool masks (K, H, W), plus ``label_names``
    and ``category_ids`` when ``class_names`` / ``category_ids`` (``OUT.json``'s) are given."""
    from .modeling.postprocess import rescale_to_original

    det = {k: torch.from_numpy(outputs[k]) for k in ("boxes", "scores", "labels")}
    if "mask_probs" in outputs:
        det["mask_probs"] = torch.from_numpy(outputs["mask_probs"])[:, None]
    r = rescale_to_original(det, tuple(int(v) for v in image_size), orig_size)
    if category_ids is not None:
        r["category_ids"] = np.asarray(category_ids, np.int64)[r["labels"]]
    if class_names is not None:
        r["label_names"] = [class_names[int(k)].split(",")[0] for k in r["labels"]]
    return r


def main(argv: list[str] | None = None) -> int:
    from .config import FViTConfig
    from .pretrained import FViT

    def metadata(model, size):
        spec = model.backbone.spec
        return {"classes": model.class_names, "category_ids": model.category_ids, "mean": list(spec.mean),
                "std": list(spec.std)}

    return export_main(argv, "python -m fvit_detection.export", __doc__, FViT, FViTConfig, export_onnx, check_size,
                       metadata, TOLERANCES)


if __name__ == "__main__":
    sys.exit(main())
