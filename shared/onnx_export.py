"""ONNX export pieces shared by the detection and segmentation exporters.

An exported graph takes a fixed-size uint8 canvas — the picture resized so its long side is S, placed top-left —
and the picture's (h, w) inside it, and normalises and pads in the graph exactly as ``normalize_and_pad`` does.
Graphs are traced with torch's TorchScript-based exporter (``dynamo=False``): the detectors' data-dependent
shapes (score thresholds, NMS) trace to ONNX ops there, while torch.export needs them spelled as unbacked sizes.
The command line writes a graph only after onnxruntime has given PyTorch's outputs on check pictures
(``export_main``).
"""
from __future__ import annotations

import glob
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .engine.rundir import RunLock
from .io import atomic_path, atomic_write_json, remove_stale_temporaries
from .transforms import Instances, resize_long_side

OPSET = 17  # RoiAlign with half-pixel alignment and GridSample need ≥ 16
INPUTS = ("image", "image_size")


def canvas(image: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 → a graph's inputs: uint8 (size, size, 3) with the picture resized so its long side is
    ``size`` top-left (as ``eval_input``) and zeros elsewhere; int64 (h, w) of the picture in it. Results are
    taken back to the picture with the per-axis factors h / H and w / W (the sides are rounded)."""
    inst, _ = resize_long_side(Instances(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64)), size)
    h, w = inst.image.shape[:2]
    out = np.zeros((size, size, 3), np.uint8)
    out[:h, :w] = inst.image
    return out, np.array([h, w], np.int64)


def check_canvas_size(size: int, window: int, multiple: int, why: str) -> None:
    """One-line ``ValueError`` unless the canvas side is ≥ the backbone window and a multiple of ``multiple``
    (``why``: what needs it), naming the nearest valid sides."""
    lowest = -(-window // multiple) * multiple
    if size >= window and size % multiple == 0:
        return
    below, above = size // multiple * multiple, -(-size // multiple) * multiple
    near = " or ".join(str(v) for v in dict.fromkeys((below, above)) if v >= lowest) or str(lowest)
    raise ValueError(f"--size {size}: the canvas side must be a multiple of {multiple} ({why}) and at least the "
                     f"backbone's window {window}; try {near}")


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


class ParityError(RuntimeError):
    """The written graph does not give PyTorch's outputs, or onnxruntime cannot run it."""


def check_pictures(size: int) -> list[tuple[str, np.ndarray]]:
    """The parity check's default pictures: a synthetic scene (textured sky and ground, coloured shapes) with what
    makes features and scores tie exactly on real photos — a flat band of sky, a saturated white and a black block
    — cut landscape (5:8) and portrait (1:2), so the canvas padding lies below, then to the right of the content."""
    from .synthetic.scene import STUFF, sample_scene

    image = sample_scene(np.random.default_rng(0), size).image.copy()
    image[: size // 8] = STUFF["sky"]
    image[size // 4 : size * 3 // 8, size // 16 : size // 3] = 255
    image[size * 3 // 8 : size // 2, size // 2 : size * 3 // 4] = 0
    return [("built-in scene, landscape", image[: size * 5 // 8]), ("built-in scene, portrait", image[:, : size // 2])]


def onnx_session(path: str | Path):
    """An onnxruntime CPU session of ``path``; a graph it cannot load raises ``ParityError`` (one line)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: its shape-merge notes are not for the user
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types (Fail, InvalidGraph, …)
        raise ParityError(f"onnxruntime cannot load the exported graph: {str(e).splitlines()[0]}") from None


def run_onnx(path, image: np.ndarray, image_size: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported graph (a path or an ``onnx_session``) with onnxruntime on the CPU → {output name: array}."""
    sess = onnx_session(path) if isinstance(path, (str, Path)) else path
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {"image": image, "image_size": image_size})))


def compare_with_torch(module: nn.Module, output_names: list[str], path, image: np.ndarray,
                       image_size: np.ndarray) -> dict:
    """PyTorch vs onnxruntime on one canvas (``path``: the graph or an ``onnx_session``): ``len_<name>`` (PyTorch,
    graph) where the lengths differ, ``<name>_equal`` for integer outputs, ``max_abs_<name>`` for float ones
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


def parity_problems(report: dict, tolerances: dict[str, float]) -> list[str]:
    """The entries of a ``compare_with_torch`` report that fail: any length difference, unequal integer outputs,
    float gaps above ``tolerances[name]`` (absolute)."""
    out = []
    for key, value in report.items():
        if key.startswith("len_"):
            out.append(f"{key[4:]}: {value[0]} rows in PyTorch, {value[1]} in the graph")
        elif key.endswith("_equal") and not value:
            out.append(f"{key[:-6]} differ")
        elif key.startswith("max_abs_") and not value <= tolerances[key[8:]]:
            out.append(f"{key[8:]} differ by up to {value:.3g} (tolerance {tolerances[key[8:]]:g})")
    return out


def check_parity(module: nn.Module, output_names: list[str], path, pictures: list[tuple[str, np.ndarray]],
                 size: int, tolerances: dict[str, float], log=print) -> dict[str, dict]:
    """Run the graph and PyTorch on every picture's canvas; returns {picture: report}, or raises ``ParityError``
    naming each picture and output that differs."""
    session = onnx_session(path)
    reports, failed = {}, []
    for name, picture in pictures:
        image, image_size = canvas(picture, size)
        reports[name] = compare_with_torch(module, output_names, session, image, image_size)
        problems = parity_problems(reports[name], tolerances)
        log(f"  {name} ({picture.shape[0]}×{picture.shape[1]}): {'; '.join(problems) or 'equal'} {reports[name]}")
        if problems:
            failed.append(f"{name}: {'; '.join(problems)}")
    if failed:
        raise ParityError("the exported graph differs from PyTorch on " + " | ".join(failed))
    return reports


# --- the command line both exporters share ------------------------------------------------------------------------
def export_main(argv: list[str] | None, prog: str, doc: str, model_class, config_schema, export_fn, check_size_fn,
                metadata_fn, tolerances: dict[str, float]) -> int:
    """``--pretrained DIR`` or ``--config CFG --checkpoint CKPT [key=value …]``, ``--classes``, ``--size``, ``--out``,
    ``--check-image``.

    ``model_class``: the package's API class (``from_pretrained`` / ``from_config`` / ``set_classes``);
    ``config_schema``: its training-config dataclass; ``export_fn(model, size, out, opset)`` → the traced wrapper
    (with ``output_names``); ``check_size_fn(model, size)`` raises ``ValueError`` for a canvas side the graph
    cannot take; ``metadata_fn(model, size)`` → the dict written to ``OUT.json``; ``tolerances``: the largest
    absolute gap allowed per float output. The graph is written to a temporary file, run with onnxruntime against
    PyTorch on the ``--check-image`` pictures (default: ``check_pictures``) and moved to ``--out`` only if they
    agree: otherwise nothing is written (an earlier ``--out`` stays) and the exit status is 1. Mistakes in the
    arguments exit 2 before the export.
    """
    import argparse

    from .batch_predict import load_for_prediction
    from .classes import CLASSES_HELP
    from .image import read_image
    from .io import ensure_writable_dir

    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", help="folder written by save_pretrained")
    p.add_argument("--config", help="training config (with --checkpoint)")
    p.add_argument("--checkpoint", help="last.pt of a training run (with --config)")
    p.add_argument("--classes", help=f"{CLASSES_HELP} (default: the model's vocabulary)")
    p.add_argument("--size", type=int, help="canvas side S (default: the model's test size)")
    p.add_argument("--out", required=True, help="output .onnx (OUT.json is written beside it)")
    p.add_argument("--opset", type=int, default=OPSET, help=f"ONNX opset (≥ 16; default {OPSET})")
    p.add_argument("--check-image", action="append", metavar="IMG",
                   help="check the graph against PyTorch on this picture (repeatable; default: a built-in scene "
                        "cut landscape and portrait)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (with --config)")
    args = p.parse_args(argv)
    if bool(args.pretrained) == bool(args.config or args.checkpoint):
        p.error("give either --pretrained DIR or --config CFG --checkpoint CKPT")
    if not args.pretrained and not (args.config and args.checkpoint):
        p.error("--config and --checkpoint go together")
    if args.pretrained and args.overrides:
        p.error(f"key=value overrides need --config (got {args.overrides})")
    if args.opset < 16:
        p.error(f"--opset {args.opset}: the exported ops (RoiAlign with half-pixel alignment, GridSample) need ≥ 16")
    args.device = "cpu"  # tracing and the onnxruntime check run on the CPU
    out = Path(args.out)
    lock = None
    try:
        ensure_writable_dir(out.resolve().parent)  # fail before the model loads
        # one export per --out at a time; then the temporaries a killed export left beside it can go
        lock = RunLock(out.parent, "--out", for_file=out.name)
        for name in (out.name, out.with_suffix(".json").name):
            remove_stale_temporaries(out.parent, pattern=glob.escape(name))
        pictures = [(path, np.asarray(read_image(path, what="--check-image"))) for path in args.check_image or []]
        model = load_for_prediction(model_class, config_schema, args)
        if args.classes:
            model.set_classes(args.classes)
        size = args.size or model.image_size
        check_size_fn(model, size)
    except Exception as e:  # noqa: BLE001 — a user's error is one line (shared.errors), anything else re-raised
        from shared.cli import report_user_error

        if lock is not None:
            lock.release()
        if not report_user_error(e):
            raise
        return 2
    with lock:
        return _export_checked(model, size, out, args.opset, export_fn, pictures or check_pictures(size), tolerances,
                               metadata_fn)


def _export_checked(model, size, out, opset, export_fn, pictures, tolerances, metadata_fn) -> int:
    """``export_main``'s second half, with ``--out`` held: trace into a temporary file, check it against PyTorch,
    move it onto ``out`` and write ``OUT.json``; 1 when the graph differs (nothing written), 2 for a full disk."""

    def log(msg: str) -> None:
        print(msg, flush=True)

    try:
        with atomic_path(out) as tmp:
            start = time.perf_counter()
            log(f"tracing the model at {size}×{size} (the sliding windows, every stage: minutes for a large "
                f"backbone on a CPU) …")
            wrapper = export_fn(model, size, tmp, opset)
            log(f"traced in {time.perf_counter() - start:.0f} s; checking against PyTorch on {len(pictures)} "
                f"picture(s) …")
            reports = check_parity(wrapper, wrapper.output_names, tmp, pictures, size, tolerances, log)
        atomic_write_json(out.with_suffix(".json"), {
            "size": size, "inputs": list(INPUTS), "outputs": wrapper.output_names, "backbone": model.backbone.spec.name,
            **metadata_fn(model, size), "parity": {"tolerances": tolerances, "checked": reports}})
    except ParityError as e:
        print(f"error: {e}; nothing written to {out}", file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 — a full disk while writing: one line; a bug in tracing keeps its traceback
        from shared.cli import report_user_error
        from shared.errors import USER_ERRORS

        if not report_user_error(e, USER_ERRORS):
            raise
        return 2
    log(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB) and {out.with_suffix('.json')} in "
        f"{time.perf_counter() - start:.0f} s: the graph equals PyTorch on {len(pictures)} picture(s)")
    return 0
