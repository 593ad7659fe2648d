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

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.io import atomic_write_json
from shared.onnx_export import INPUTS, OPSET, CanvasNormalize, canvas, compare_with_torch, example_inputs, export_graph


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


def load_model(args):
    """The ``FViT`` of ``--pretrained`` or ``--config/--checkpoint``, with ``--classes`` set when given."""
    from shared.engine import load_config

    from .config import FViTConfig
    from .pretrained import FViT

    if args.pretrained:
        model = FViT.from_pretrained(args.pretrained, text_cache=args.text_cache)
    else:
        return FViT.from_config(load_config(FViTConfig, args.config, args.overrides), args.checkpoint, args.classes)
    return model.set_classes(args.classes) if args.classes else model


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """``--pretrained DIR`` or ``--config CFG --checkpoint CKPT [key=value ...]``."""
    p.add_argument("--pretrained", help="folder written by save_pretrained")
    p.add_argument("--config", help="training config (with --checkpoint)")
    p.add_argument("--checkpoint", help="last.pt of a training run (with --config)")
    p.add_argument("--text-cache", default="outputs/text_cache", help="text-classifier cache (with --pretrained)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (with --config)")


def check_source_arguments(p: argparse.ArgumentParser, args) -> None:
    if bool(args.pretrained) == bool(args.config or args.checkpoint):
        p.error("give either --pretrained DIR or --config CFG --checkpoint CKPT")
    if not args.pretrained and not (args.config and args.checkpoint):
        p.error("--config and --checkpoint go together")
    if args.pretrained and args.overrides:
        p.error(f"key=value overrides need --config (got {args.overrides})")


def main(argv: list[str] | None = None) -> int:
    from backbone.preprocess import load_image
    from shared.classes import CLASSES_HELP
    from shared.engine import CheckpointError, ConfigError

    p = argparse.ArgumentParser(prog="python -m fvit_detection.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_source_arguments(p)
    p.add_argument("--classes", help=f"{CLASSES_HELP} (default: the model's vocabulary)")
    p.add_argument("--size", type=int, help="canvas side S (default: the model's test size)")
    p.add_argument("--out", required=True, help="output .onnx")
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--check-image", help="compare PyTorch and onnxruntime on this image (default: random pixels)")
    args = p.parse_args(argv)
    check_source_arguments(p, args)
    try:
        model = load_model(args)
        size = args.size or model.image_size
        check = np.asarray(load_image(args.check_image)) if args.check_image else None
        wrapper = export_onnx(model, size, args.out, args.opset)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = model.backbone.spec
    atomic_write_json(Path(args.out).with_suffix(".json"), {
        "classes": model.class_names, "size": size, "inputs": list(INPUTS), "outputs": wrapper.output_names,
        "backbone": spec.name, "mean": list(spec.mean), "std": list(spec.std)})
    image, image_size = canvas(check, size)[:2] if check is not None else (t.numpy() for t in example_inputs(size))
    report = compare_with_torch(wrapper, wrapper.output_names, args.out, image, image_size)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MiB); PyTorch vs onnxruntime: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
