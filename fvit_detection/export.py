"""``python -m fvit_detection.export --config CFG --checkpoint CKPT --classes "a;b,c" --size 896 --out model.onnx``

F-ViT as one ONNX graph for a fixed vocabulary and a fixed input size: preprocessing (CLIP normalisation, mean
padding), the sliding windows of the frozen CLIP backbone, adapters, FPN, RPN, RoI heads, VLM score fusion and
per-class NMS all run inside it. ``;`` separates classes, ``,`` synonyms inside one class (as in ``predict``);
classes outside the training vocabulary are scored as novel.

Graph inputs: ``image`` uint8 (S, S, 3) RGB — the picture resized so its long side is S, top-left, anything in the
rest; ``image_size`` int64 (2,) — its (h, w) inside the canvas. Outputs: ``boxes`` float32 (K, 4) xyxy in canvas
pixels, ``scores`` (K,), ``labels`` int64 (K,) indices into the class list, and with a mask head ``mask_probs``
(K, M, M) per box (paste them into the image with ``paste_masks``). A ``.json`` next to the model lists the
classes and the size. After writing, the graph is run with onnxruntime and compared with PyTorch.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from shared.io import atomic_path, atomic_write_json
from shared.transforms import Instances, resize_long_side

OPSET = 17  # RoiAlign with half-pixel alignment needs ≥ 16
INPUTS = ("image", "image_size")


class ExportableFViT(nn.Module):
    """A detector with a baked vocabulary behind the graph's interface (see the module docstring)."""

    def __init__(self, model, size: int):
        super().__init__()
        self.model = model.eval()
        self.size = size
        spec = model.backbone.spec
        self.register_buffer("mean", torch.tensor(spec.mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(spec.std, dtype=torch.float32)[:, None, None], persistent=False)

    @property
    def output_names(self) -> tuple[str, ...]:
        return ("boxes", "scores", "labels") + (("mask_probs",) if self.model.roi_heads.with_mask else ())

    def normalize(self, image: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
        """(S, S, 3) uint8 → (1, 3, S, S): (x/255 − mean)/std inside (h, w), 0 outside — ``normalize_and_pad``."""
        x = (image.permute(2, 0, 1).float().div(255) - self.mean) / self.std
        rows = torch.arange(image.shape[0], device=image.device) < image_size[0]
        cols = torch.arange(image.shape[1], device=image.device) < image_size[1]
        return torch.where(rows[:, None] & cols[None, :], x, torch.zeros_like(x))[None]

    def forward(self, image: torch.Tensor, image_size: torch.Tensor):
        with torch.no_grad():
            det = self.model.detect(self.normalize(image, image_size), [image_size], paste_masks=False)[0]
        out = (det["boxes"], det["scores"], det["labels"])
        return out + ((det["masks"][:, 0],) if "masks" in det else ())


def canvas(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(H, W, 3) uint8 → the graph's inputs (uint8 (size, size, 3) with the resized picture top-left, zeros
    elsewhere; int64 (h, w)) and the resize factor size / max(H, W)."""
    inst, scale = resize_long_side(Instances(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), size)
    h, w = inst.image.shape[:2]
    out = np.zeros((size, size, 3), np.uint8)
    out[:h, :w] = inst.image
    return out, np.array([h, w], np.int64), scale


def paste_masks(mask_probs: np.ndarray, boxes: np.ndarray, image_size) -> np.ndarray:
    """(K, M, M) probabilities of boxes (K, 4) → (K, h, w) bool, as PyTorch's ``predict`` pastes them."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    m = paste_masks_in_image(torch.from_numpy(mask_probs)[:, None], torch.from_numpy(boxes),
                             tuple(int(v) for v in image_size))
    return (m[:, 0] > 0.5).numpy()


def export_onnx(model, size: int, out: str | Path, opset: int = OPSET) -> ExportableFViT:
    """Trace ``model`` (vocabulary set) at input size ``size`` and write ``out``; returns the traced wrapper."""
    if model.roi_heads.text_embeddings.shape[0] < 2:
        raise ValueError("set a vocabulary (set_vocabulary) before exporting")
    min_side = max(model.backbone.spec.native_size)
    if size < min_side:
        raise ValueError(f"--size {size} is smaller than the backbone's window {min_side}")
    wrapper = ExportableFViT(model, size).eval()
    example = _example_inputs(size)
    with warnings.catch_warnings(), torch.no_grad(), atomic_path(out) as tmp:
        warnings.simplefilter("ignore")  # the tracer's notes on Python values, all constant for a fixed size
        torch.onnx.export(wrapper, example, str(tmp), dynamo=False, opset_version=opset, input_names=list(INPUTS),
                          output_names=list(wrapper.output_names),
                          dynamic_axes={n: {0: "detections"} for n in wrapper.output_names})
    return wrapper


def _example_inputs(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=g)
    return image, torch.tensor([size, size * 3 // 4], dtype=torch.int64)


def run_onnx(path: str | Path, image: np.ndarray, image_size: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported graph with onnxruntime (CPU) → {output name: array}."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"image": image, "image_size": image_size})))


def compare(wrapper: ExportableFViT, path: str | Path, image: np.ndarray, image_size: np.ndarray) -> dict:
    """PyTorch vs onnxruntime on one canvas: detection counts and the largest differences."""
    with torch.no_grad():
        ref = dict(zip(wrapper.output_names, (t.numpy() for t in wrapper(torch.from_numpy(image),
                                                                           torch.from_numpy(image_size)))))
    got = run_onnx(path, image, image_size)
    n = min(len(ref["scores"]), len(got["scores"]))
    report = {"num_torch": len(ref["scores"]), "num_onnx": len(got["scores"]),
              "labels_equal": bool(np.array_equal(ref["labels"][:n], got["labels"][:n]))}
    for k in wrapper.output_names:
        if k != "labels":
            report[f"max_abs_{k}"] = float(np.abs(ref[k][:n] - got[k][:n]).max()) if n else 0.0
    return report


def load_model(args):
    """The detector of ``--config/--checkpoint`` with the vocabulary of ``--classes`` set; returns (model, names)."""
    from shared.engine import load_config
    from shared.io import load_json

    from .builder import set_vocabulary
    from .config import FViTConfig
    from .eval import load_trained
    from .predict import _key, parse_classes

    cfg = load_config(FViTConfig, args.config, args.overrides)
    names = parse_classes(args.classes)
    model = load_trained(cfg, args.checkpoint).eval()
    train_names = {_key(c["name"]) for c in load_json(cfg.data.train_ann)["categories"]}
    set_vocabulary(model, names, torch.tensor([_key(n) not in train_names for n in names]), cfg.text_cache)
    return model, names, args.size or cfg.data.image_size


def main(argv: list[str] | None = None) -> int:
    from backbone.preprocess import load_image
    from shared.engine import CheckpointError, ConfigError

    p = argparse.ArgumentParser(prog="python -m fvit_detection.export", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--classes", required=True)
    p.add_argument("--size", type=int, help="input side S (default: the config's data.image_size)")
    p.add_argument("--out", required=True, help="output .onnx")
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--check-image", help="compare PyTorch and onnxruntime on this image (default: random pixels)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    try:
        model, names, size = load_model(args)
        check = np.asarray(load_image(args.check_image)) if args.check_image else None
        wrapper = export_onnx(model, size, args.out, args.opset)
    except (ConfigError, CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = model.backbone.spec
    atomic_write_json(Path(args.out).with_suffix(".json"), {
        "classes": names, "size": size, "inputs": list(INPUTS), "outputs": list(wrapper.output_names),
        "backbone": spec.name, "mean": list(spec.mean), "std": list(spec.std)})
    if check is not None:
        image, image_size, _ = canvas(check, size)
    else:
        image, image_size = (t.numpy() for t in _example_inputs(size))
    report = compare(wrapper, args.out, image, image_size)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MiB); PyTorch vs onnxruntime: {report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
