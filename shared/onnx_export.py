"""ONNX export pieces shared by the detection and segmentation exporters.

An exported graph takes a fixed-size uint8 canvas — the picture resized so its long side is S, placed top-left —
and the picture's (h, w) inside it, and normalises and pads in the graph exactly as ``normalize_and_pad`` does.
Graphs are traced with torch's TorchScript-based exporter (``dynamo=False``): the detectors' data-dependent
shapes (score thresholds, NMS) trace to ONNX ops there, while torch.export needs them spelled as unbacked sizes.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .io import atomic_path
from .transforms import Instances, resize_long_side

OPSET = 17  # RoiAlign with half-pixel alignment and GridSample need ≥ 16
INPUTS = ("image", "image_size")


def canvas(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(H, W, 3) uint8 → a graph's inputs: uint8 (size, size, 3) with the resized picture top-left and zeros
    elsewhere, int64 (h, w) of the picture in it; and the resize factor size / max(H, W) (as ``eval_input``)."""
    inst, scale = resize_long_side(Instances(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), size)
    h, w = inst.image.shape[:2]
    out = np.zeros((size, size, 3), np.uint8)
    out[:h, :w] = inst.image
    return out, np.array([h, w], np.int64), scale


class CanvasNormalize(nn.Module):
    """(S, S, 3) uint8 canvas + (h, w) → (1, 3, S, S) float equal to ``normalize_and_pad(canvas[:h, :w], …)``:
    outside (h, w) zeros after normalising (``pad="mean"``) or black before it (``pad="black"``)."""

    def __init__(self, mean, std, pad: str = "mean"):
        super().__init__()
        if pad not in ("mean", "black"):
            raise ValueError(f"pad={pad!r}: expected 'mean' or 'black'")
        self.pad = pad
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32)[:, None, None], persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32)[:, None, None], persistent=False)

    def forward(self, image: torch.Tensor, image_size: torch.Tensor) -> torch.Tensor:
        rows = torch.arange(image.shape[0], device=image.device) < image_size[0]
        cols = torch.arange(image.shape[1], device=image.device) < image_size[1]
        inside = rows[:, None] & cols[None, :]
        x = image.permute(2, 0, 1).float().div(255)
        if self.pad == "black":
            x = torch.where(inside, x, torch.zeros_like(x))
        x = (x - self.mean) / self.std
        if self.pad == "mean":
            x = torch.where(inside, x, torch.zeros_like(x))
        return x[None]


def example_inputs(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random canvas pixels and a non-square content size, for tracing and for a quick check."""
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (size, size, 3), dtype=torch.uint8, generator=g)
    return image, torch.tensor([size, size * 3 // 4], dtype=torch.int64)


def export_graph(module: nn.Module, size: int, out: str | Path, output_names: list[str], opset: int = OPSET,
                 dynamic: tuple[str, ...] = ()) -> None:
    """Trace ``module(image, image_size)`` at canvas size ``size`` and write ``out`` (atomically); outputs named in
    ``dynamic`` get a variable first axis."""
    if opset < 16:
        raise ValueError(f"opset {opset}: the exported ops need ≥ 16")
    with warnings.catch_warnings(), torch.no_grad(), atomic_path(out) as tmp:
        warnings.simplefilter("ignore")  # the tracer's notes on Python values: all constant for a fixed size
        torch.onnx.export(module.eval(), example_inputs(size), str(tmp), dynamo=False, opset_version=opset,
                          input_names=list(INPUTS), output_names=output_names,
                          dynamic_axes={n: {0: "n"} for n in dynamic})


def run_onnx(path: str | Path, image: np.ndarray, image_size: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported graph with onnxruntime on the CPU → {output name: array}."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"image": image, "image_size": image_size})))


def compare_with_torch(module: nn.Module, output_names: list[str], path: str | Path, image: np.ndarray,
                       image_size: np.ndarray) -> dict:
    """PyTorch vs onnxruntime on one canvas: output lengths, equality of integer outputs, largest float gaps
    (over the common leading rows)."""
    with torch.no_grad():
        ref = [t.numpy() for t in module(torch.from_numpy(image), torch.from_numpy(image_size))]
    got = run_onnx(path, image, image_size)
    report = {}
    for name, r in zip(output_names, ref):
        g = got[name]
        n = min(len(r), len(g))
        if len(r) != len(g):
            report[f"len_{name}"] = (len(r), len(g))
        if np.issubdtype(r.dtype, np.integer):
            report[f"{name}_equal"] = bool(np.array_equal(r[:n], g[:n]))
        else:
            report[f"max_abs_{name}"] = float(np.abs(r[:n] - g[:n]).max()) if n else 0.0
    return report


# --- the command line both exporters share ------------------------------------------------------------------------
def export_main(argv: list[str] | None, prog: str, doc: str, model_class, config_schema, export_fn,
                metadata_fn) -> int:
    """``--pretrained DIR`` or ``--config CFG --checkpoint CKPT [key=value …]``, ``--classes``, ``--size``, ``--out``.

    ``model_class``: the package's API class (``from_pretrained`` / ``from_config`` / ``set_classes``);
    ``config_schema``: its training-config dataclass; ``export_fn(model, size, out, opset)`` → the traced
    wrapper (with ``output_names``); ``metadata_fn(model, size)`` → the dict written to ``OUT.json``. After writing, PyTorch and onnxruntime are
    compared on random pixels or ``--check-image``.
    """
    import argparse
    import sys

    from .batch_predict import load_for_prediction
    from .classes import CLASSES_HELP
    from .image import read_image
    from .io import atomic_write_json, ensure_writable_dir

    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", help="folder written by save_pretrained")
    p.add_argument("--config", help="training config (with --checkpoint)")
    p.add_argument("--checkpoint", help="last.pt of a training run (with --config)")
    p.add_argument("--classes", help=f"{CLASSES_HELP} (default: the model's vocabulary)")
    p.add_argument("--size", type=int, help="canvas side S (default: the model's test size)")
    p.add_argument("--out", required=True, help="output .onnx")
    p.add_argument("--opset", type=int, default=OPSET)
    p.add_argument("--check-image", help="compare PyTorch and onnxruntime on this image (default: random pixels)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (with --config)")
    args = p.parse_args(argv)
    if bool(args.pretrained) == bool(args.config or args.checkpoint):
        p.error("give either --pretrained DIR or --config CFG --checkpoint CKPT")
    if not args.pretrained and not (args.config and args.checkpoint):
        p.error("--config and --checkpoint go together")
    if args.pretrained and args.overrides:
        p.error(f"key=value overrides need --config (got {args.overrides})")
    args.device = "cpu"  # tracing and the onnxruntime check run on the CPU
    try:
        ensure_writable_dir(Path(args.out).resolve().parent)  # fail before the model loads
        model = load_for_prediction(model_class, config_schema, args)
        if args.classes:
            model.set_classes(args.classes)
        size = args.size or model.image_size
        check = np.asarray(read_image(args.check_image, what="--check-image")) if args.check_image else None
        wrapper = export_fn(model, size, args.out, args.opset)
    except Exception as e:  # noqa: BLE001 — a user's error is one line (shared.errors), anything else re-raised
        from shared.cli import report_user_error

        if not report_user_error(e):
            raise
        return 2
    spec = model.backbone.spec
    atomic_write_json(Path(args.out).with_suffix(".json"), {
        "size": size, "inputs": list(INPUTS), "outputs": wrapper.output_names, "backbone": spec.name,
        **metadata_fn(model, size)})
    image, image_size = canvas(check, size)[:2] if check is not None else (t.numpy() for t in example_inputs(size))
    report = compare_with_torch(wrapper, wrapper.output_names, args.out, image, image_size)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MiB); PyTorch vs onnxruntime: {report}")
    return 0
