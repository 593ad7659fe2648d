"""``python -m fvit_detection.export --pretrained DIR --classes "a;b,c" --size 896 --out model.onnx``

F-ViT as one ONNX graph for a fixed vocabulary and input size: CLIP normalisation and padding, the sliding
windows of the frozen CLIP backbone, adapters, FPN, RPN, RoI heads, VLM score fusion and per-class NMS all run
inside it. ``--config CFG --checkpoint CKPT`` (a training run) works in place of ``--pretrained``. Classes:
``;`` between classes, ``,`` between synonyms (default: the pretrained folder's vocabulary).

Graph inputs: ``image`` uint8 (S, S, 3) RGB — the picture resized so its long side is S, top-left (anything
elsewhere is ignored) — and ``image_size`` int64 (2,), its (h, w). Outputs: ``boxes`` float32 (K, 4) xyxy in
canvas pixels, ``scores`` (K,), ``labels`` int64 (K,) indices into the class list, and with a mask head
``mask_probs`` (K, M, M) per box; ``postprocess`` turns them into ``FViT.predict``'s result. ``OUT.json`` beside
the model lists the classes and the size. After writing, the graph is run with onnxruntime and compared with
PyTorch on random pixels (or ``--check-image``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.onnx_export import OPSET, CanvasNormalize, export_graph, export_main


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
            det = self.model.detect(self.normalize(image, image_size), [image_size], paste_masks=False)[0]
        out = (det["boxes"], det["scores"], det["labels"])
        return out + ((det["masks"][:, 0],) if "masks" in det else ())


def export_onnx(model, size: int, out: str | Path, opset: int = OPSET) -> ExportableFViT:
    """Trace ``model`` (vocabulary set) at canvas size ``size`` and write ``out``; returns the traced wrapper."""
    if model.roi_heads.text_embeddings.shape[0] < 2:
        raise ValueError("no vocabulary: set the classes before exporting")
    window = max(model.backbone.spec.native_size)
    if size < window:
        raise ValueError(f"--size {size} is smaller than the backbone's window {window}")
    wrapper = ExportableFViT(model)
    export_graph(wrapper, size, out, wrapper.output_names, opset, dynamic=tuple(wrapper.output_names))
    return wrapper


def postprocess(outputs: dict[str, np.ndarray], image_size, scale: float, orig_size: tuple[int, int],
                class_names: list[str] | None = None) -> dict:
    """Graph outputs of one canvas → boxes in original pixels, scores, labels and bool masks (K, H, W), as
    ``FViT.predict`` returns them (plus ``label_names`` when ``class_names`` is given)."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from .metrics import rescale_detections

    size = tuple(int(v) for v in image_size)
    det = {k: torch.from_numpy(outputs[k]) for k in ("boxes", "scores", "labels")}
    if "mask_probs" in outputs:
        det["masks"] = paste_masks_in_image(torch.from_numpy(outputs["mask_probs"])[:, None], det["boxes"], size)
    r = rescale_detections(det, scale, size, orig_size)
    if class_names is not None:
        r["label_names"] = [class_names[int(k)].split(",")[0] for k in r["labels"]]
    return r


def main(argv: list[str] | None = None) -> int:
    from .config import FViTConfig
    from .pretrained import FViT

    def metadata(model, size):
        spec = model.backbone.spec
        return {"classes": model.class_names, "mean": list(spec.mean), "std": list(spec.std)}

    return export_main(argv, "python -m fvit_detection.export", __doc__, FViT, FViTConfig, export_onnx, metadata)


if __name__ == "__main__":
    sys.exit(main())
