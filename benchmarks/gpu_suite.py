"""One prepared GPU measurement of the paper settings (random-init weights, no downloads, bf16), printed as a table
and written as json. Sections (``--only`` picks a subset):

- ``backbone``: ViTamin-L-336 sliding windows, batched vs the reference's one-window-at-a-time loop (outputs
  compared), the one-forward ``interpolate`` mode, peak memory, MFU — at F-ViT's 896 / stride 168 and FC-CLIP's
  1344 / stride 112;
- ``fvit``: the OV-LVIS config (896², per-GPU batch, frozen backbone): train step, train / inference images/s;
- ``fcclip``: the COCO training crop and per-GPU batch, ADE eval at the test size, the share of eval time spent
  in the pixel decoder's deformable attention;
- ``llava``: one stage-2 step (Vicuna-7B-shaped random LM, activation checkpointing, per-GPU batch × the
  stage-2 ``model_max_length``) with the ViTamin-L-336 and the CLIP ViT-L/14-336 tower, and greedy decoding;
- ``llava_fsdp2``: the FSDP2 training path (``configs/fsdp2.json``) end to end on the tiny synthetic model.

Sizes come from the shipped paper configs; ``--dry-run`` reads the synthetic-world configs instead and runs every
section at toy sizes on the CPU (CI checks the keys). The full run is budgeted for ≤ 8 minutes on one H100/H200
(estimates: start-up and matmul 30 s, backbone 60 s, fvit 60 s, fcclip 60 s, llava 150 s; each section's seconds
are in the json as ``section_s``, the total as ``total_s``):

    python benchmarks/gpu_suite.py                        # → outputs/bench/gpu_suite.json
    python benchmarks/gpu_suite.py --only backbone,fvit --out /tmp/b.json
    python benchmarks/gpu_suite.py --dry-run

MFU = FLOPs per step (torch's FLOP counter: matmuls, convolutions, attention products; a training step counted
with its backward; LLaVA: 3 × the forward of the trained LM + projector + 1 × the frozen tower, so activation
recomputation is not counted as useful work) ÷ step time ÷ the GPU's dense bf16 peak (``peak_tflops_bf16``, from
the table below; the measured ``matmul_tflops`` when the GPU is not in it).
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Callable

# run as a script, sys.path[0] is this folder (where backbone.py would shadow the package): use the repo root
if not __package__:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import torch  # noqa: E402

from benchmarks.timing import (autocast, device_name, flops, peak_memory_gib, reset_peak_memory,  # noqa: E402
                               step_functions, sync, timed)

REPO = Path(__file__).resolve().parents[1]
SECTIONS = ("backbone", "fvit", "fcclip", "llava", "llava_fsdp2")
CONFIGS = {  # (paper setting, dry run)
    "fvit": ("fvit_detection/configs/ov_lvis_vitamin_l_336.yaml", "fvit_detection/configs/synthetic_tiny.yaml"),
    "fcclip": ("fcclip_segmentation/configs/coco_to_ade20k_vitamin_l_336.yaml",
               "fcclip_segmentation/configs/synthetic_tiny.yaml"),
    "llava": ("llava_lmm/configs/stage2_full_vitamin_l_336_vicuna7b.yaml",
              "llava_lmm/configs/synthetic_tiny_stage2.yaml"),
}

# Dense (no sparsity) bf16 tensor-core peak per GPU, TFLOP/s, from the vendor data sheets. Matched against
# torch.cuda.get_device_name() in this order (first substring hit wins, so the specific names come first).
PEAK_TFLOPS_BF16 = (
    ("GH200", 989.0), ("H200 NVL", 835.0), ("H200", 989.0),
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H100", 989.0), ("H800 PCIe", 756.0), ("H800", 989.0),
    ("H20", 148.0), ("B200", 2250.0), ("B100", 1750.0),
    ("A100", 312.0), ("A800", 312.0), ("A30", 165.0), ("A10G", 70.0), ("A10", 125.0),
    ("L40S", 362.0), ("L40", 181.0), ("L4", 121.0),
)


def peak_tflops_bf16(name: str) -> float | None:
    return next((v for k, v in PEAK_TFLOPS_BF16 if k in name), None)


class Context:
    """Run-wide settings: device, autocast dtype, repeats, dry run, the MFU reference peak."""

    def __init__(self, device: torch.device, dry: bool, repeats: int, fused_adamw: bool = True,
                 compile: bool = False, channels_last: bool = False):
        self.device, self.dry, self.repeats = device, dry, repeats
        self.fused_adamw, self.compile, self.channels_last = fused_adamw, compile, channels_last
        self.dtype = None if dry else torch.bfloat16  # CPU bf16 autocast is emulated and slow: fp32 there
        self.peak_tflops: float | None = None

    def config(self, section: str) -> Path:
        return REPO / CONFIGS[section][1 if self.dry else 0]

    def batch(self, per_gpu: int) -> int:
        """The config's per-GPU batch (at most 2 in a dry run)."""
        return min(per_gpu, 2) if self.dry else per_gpu

    def mfu(self, step_flops: float | None, seconds: float) -> float | None:
        return step_flops / seconds / (self.peak_tflops * 1e12) if self.peak_tflops and step_flops else None

    @staticmethod
    def flops(fn, grad: bool = False) -> float | None:
        """``benchmarks.timing.flops``, or None (with the error printed) where the counter cannot follow the code,
        e.g. a ``--compile``d model: the timings of the section are kept."""
        try:
            return float(flops(fn, grad=grad))
        except Exception as e:  # noqa: BLE001 — any counter failure only costs the MFU column
            print(f"FLOP count failed ({type(e).__name__}: {e}); mfu not reported", flush=True)
            return None

    def prepare(self, model: torch.nn.Module) -> None:
        """Apply the fast-path switches to a detector / segmenter: channels-last weights; ``torch.compile`` of the
        whole model (graph breaks at its data-dependent parts)."""
        if self.channels_last:
            model.to(memory_format=torch.channels_last)
        if self.compile:
            model.compile()

    def layout(self, batch: dict) -> dict:
        if not self.channels_last:
            return batch
        return {**batch, "images": batch["images"].contiguous(memory_format=torch.channels_last)}

    def free(self) -> None:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()


def matmul_tflops(ctx: Context) -> float:
    """Achieved TFLOP/s of a square bf16 matmul (8192² on the GPU; 512² fp32 in a dry run)."""
    n = 512 if ctx.dry else 8192
    dt = torch.float32 if ctx.dry else torch.bfloat16
    a, b = (torch.randn(n, n, device=ctx.device, dtype=dt) for _ in range(2))
    reps = 3 if ctx.dry else 50

    def run():
        for _ in range(reps):
            a @ b

    return 2 * n**3 * reps / timed(run, ctx.repeats, ctx.device) / 1e12


# ----------------------------------------------------------------------------------------------- sections
def bench_backbone(ctx: Context) -> dict:
    from backbone import build_backbone
    from benchmarks.backbone import num_windows, sliding_vs_single, variant
    from shared.engine import load_config
    from fvit_detection.config import FViTConfig
    from fcclip_segmentation.config import FCCLIPConfig

    fv = load_config(FViTConfig, ctx.config("fvit"))
    fc = load_config(FCCLIPConfig, ctx.config("fcclip"))
    cases = dict.fromkeys([(fv.data.image_size, fv.model.window_stride),  # one case when both configs agree
                           (fc.data.image_size, fc.model.test_window_stride)])
    name = fv.model.backbone
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone(name, device=ctx.device)
    window_batch = fv.model.window_batch_size
    out = {"model": name, "window_batch": window_batch, "cases": []}
    for size, stride in cases:
        images = torch.randn(1, 3, size, size, device=ctx.device)
        r = sliding_vs_single(bb, images, stride, window_batch, ctx.repeats, ctx.dtype)
        batched = variant(bb, window_stride=stride, window_batch_size=window_batch)
        interp = variant(bb, mode="interpolate")

        def run(m):
            with torch.no_grad(), autocast(ctx.device, ctx.dtype):
                m(images)

        t_interp = timed(lambda: run(interp), ctx.repeats, ctx.device)
        reset_peak_memory(ctx.device)
        run(batched)
        mem = peak_memory_gib(ctx.device)
        fl = ctx.flops(lambda: run(batched))
        out["cases"].append({
            "size": size, "stride": stride, "windows": num_windows(bb, size, size, stride),
            "batched_ms": r["batched_s"] * 1e3, "sequential_ms": r["sequential_s"] * 1e3,
            "sequential_over_batched": r["sequential_s"] / r["batched_s"],
            # bf16 rounds differently per batch shape; a misplaced or dropped window differs by O(1)
            "max_rel_diff": r["max_rel_diff"], "outputs_equal": r["max_rel_diff"] <= (1e-4 if ctx.dry else 5e-2),
            "interpolate_ms": t_interp * 1e3, "peak_mem_gib": mem, "gflops": fl and fl / 1e9,
            "mfu": ctx.mfu(fl, r["batched_s"])})
    return out


def _detector_numbers(ctx: Context, model, batch: dict, infer_batch: dict) -> dict:
    """Train step / inference timings, peak memory and MFU of a detector or segmenter of this repo."""
    ctx.prepare(model)
    batch, infer_batch = ctx.layout(batch), ctx.layout(infer_batch)
    train_step, _ = step_functions(model, batch, ctx.dtype, ctx.device, ctx.fused_adamw)
    _, infer = step_functions(model, infer_batch, ctx.dtype, ctx.device, ctx.fused_adamw)
    n, n_infer = len(batch["images"]), len(infer_batch["images"])
    reset_peak_memory(ctx.device)
    t_train = timed(train_step, ctx.repeats, ctx.device)
    mem_train = peak_memory_gib(ctx.device)
    reset_peak_memory(ctx.device)
    t_infer = timed(infer, ctx.repeats, ctx.device)
    fl = ctx.flops(train_step, grad=True)
    return {"batch": n, "train_step_s": t_train, "train_img_s": n / t_train, "infer_img_s": n_infer / t_infer,
            "peak_mem_gib": mem_train, "infer_peak_mem_gib": peak_memory_gib(ctx.device),
            "train_tflops_per_step": fl and fl / 1e12, "mfu": ctx.mfu(fl, t_train), "infer": infer}


def bench_fvit(ctx: Context) -> dict:
    import dataclasses

    from benchmarks.fvit import build
    from fvit_detection.config import FViTConfig
    from shared.engine import load_config

    cfg = load_config(FViTConfig, ctx.config("fvit"))
    # random weights give flat scores that would send every candidate through NMS at the paper's threshold
    m = dataclasses.replace(cfg.model, score_thresh=max(cfg.model.score_thresh, 0.05))
    model, batch = build(m, cfg.data.image_size, ctx.batch(cfg.train.batch_size), ctx.device)
    r = _detector_numbers(ctx, model, batch, batch)
    del r["infer"]
    return {"config": str(ctx.config("fvit").relative_to(REPO)), "size": cfg.data.image_size,
            "window_stride": m.window_stride, **r}


def bench_fcclip(ctx: Context) -> dict:
    from benchmarks.fcclip import build, deform_attention_share
    from fcclip_segmentation.config import FCCLIPConfig
    from shared.engine import load_config

    cfg = load_config(FCCLIPConfig, ctx.config("fcclip"))
    model, batch = build(cfg.model, cfg.data.image_size, ctx.batch(cfg.train.batch_size), ctx.device)
    k = ctx.batch(cfg.eval.batch_size)
    r = _detector_numbers(ctx, model, batch, {"images": batch["images"][:k], "image_sizes": batch["image_sizes"][:k]})
    share = deform_attention_share(model, r.pop("infer"), ctx.device)
    r["eval_img_s"] = r.pop("infer_img_s")
    r["eval_peak_mem_gib"] = r.pop("infer_peak_mem_gib")
    return {"config": str(ctx.config("fcclip").relative_to(REPO)), "size": cfg.data.image_size,
            "train_window_stride": cfg.model.train_window_stride, "test_window_stride": cfg.model.test_window_stride,
            **r, "deform_attn_share": share}


def bench_llava(ctx: Context) -> dict:
    import yaml

    from benchmarks.llava import build_llava, sample_batch, towers, train_step_fn, vicuna7b_config

    args = yaml.safe_load(ctx.config("llava").read_text())
    seq, batch = args["model_max_length"], args["per_device_train_batch_size"]
    if ctx.dry:
        seq, batch = 128, ctx.batch(batch)
        text_config = vicuna7b_config(layers=2, hidden=64, intermediate=128, heads=4)
    else:
        text_config = vicuna7b_config()
    dtype = torch.float32 if ctx.dry else torch.bfloat16
    tw = towers(tiny=ctx.dry)
    # text length fixed so that the tower with the most image tokens (CLIP: 576) fills model_max_length
    text_tokens = seq - max(n for _, _, n, _ in tw.values())
    out: dict = {"layers": text_config.num_hidden_layers, "hidden": text_config.hidden_size,
                 "text_tokens": text_tokens, "activation_checkpointing": True, "towers": {}}
    # CLIP (more image tokens, more memory) first: ViTamin then runs at the batch that fitted for CLIP
    for key, (name, (vcfg, _, n, select)) in reversed(list(zip(("vitamin", "clip"), tw.items()))):
        model = build_llava(vcfg, n, select, text_config, ctx.device, dtype)
        _checkpointing(model, True)
        b = batch
        while True:  # one H100 (80 GB) may not hold batch 16 of a 7B with AdamW states: halve and record
            data = sample_batch(b, text_tokens, n, vcfg.image_size, ctx.device, dtype)
            step = train_step_fn(model, data)
            reset_peak_memory(ctx.device)
            try:
                t = timed(step, ctx.repeats, ctx.device)
                break
            except torch.OutOfMemoryError:
                if b == 1:
                    raise
            # outside the except block: its traceback no longer pins the failed step's activations
            step = data = None
            model.zero_grad(set_to_none=True)
            ctx.free()
            b //= 2
        mem = peak_memory_gib(ctx.device)
        one = {k: v[:1] for k, v in data.items()}
        f_all = ctx.flops(lambda: model(**one))
        f_tower = ctx.flops(lambda: model.model.vision_tower(one["pixel_values"], output_hidden_states=True))
        step_flops = b * (3 * (f_all - f_tower) + f_tower) if f_all and f_tower else None
        tokens = b * (text_tokens + n)
        rec = {"tower": name, "image_tokens": n, "batch": b, "step_s": t, "tokens_s": tokens / t,
               "peak_mem_gib": mem, "train_tflops_per_step": step_flops and step_flops / 1e12,
               "mfu": ctx.mfu(step_flops, t)}
        if key == "vitamin":
            rec["decode_tokens_s"] = _decode_tokens_s(ctx, model, one)
        out["towers"][key] = rec
        batch = b
        del model, step, data, one
        ctx.free()
    v, c = out["towers"]["vitamin"], out["towers"]["clip"]
    out.update(step_s_vitamin=v["step_s"], step_s_clip=c["step_s"], vitamin_over_clip=v["step_s"] / c["step_s"],
               tokens_s=v["tokens_s"], mfu=v["mfu"], peak_mem_gib=v["peak_mem_gib"],
               decode_tokens_s=v["decode_tokens_s"], batch=v["batch"])
    return out


def _checkpointing(model, on: bool) -> None:
    """Activation checkpointing on / off (transformers 5 names; the ``gradient_*`` ones of older images)."""
    name = "enable" if on else "disable"
    fn = getattr(model, f"activation_checkpointing_{name}", None) or getattr(model, f"gradient_checkpointing_{name}")
    fn()


def _decode_tokens_s(ctx: Context, model, one: dict) -> float:
    """Greedy decoding speed with the KV cache, batch 1, after the image + prompt prefill: the time of N new
    tokens minus the time of 1 (the prefill), over N − 1."""
    new = 8 if ctx.dry else 128
    prompt = one["input_ids"][:, : ctx_prompt_len(one)]
    model.eval()
    _checkpointing(model, False)
    model.config.use_cache = model.config.text_config.use_cache = True

    def gen(k):
        with torch.no_grad():
            model.generate(input_ids=prompt, pixel_values=one["pixel_values"], max_new_tokens=k, min_new_tokens=k,
                           do_sample=False, pad_token_id=0)

    t1 = timed(lambda: gen(1), 1, ctx.device)
    tn = timed(lambda: gen(new), 1, ctx.device)
    return (new - 1) / max(tn - t1, 1e-9)


def ctx_prompt_len(one: dict) -> int:
    """The image placeholders and 32 text tokens after them (a short question)."""
    from benchmarks.llava import IMAGE_TOKEN_ID

    ids = one["input_ids"][0]
    return int((ids == IMAGE_TOKEN_ID).nonzero().max()) + 1 + 32


def bench_llava_fsdp2(ctx: Context) -> dict:
    """The shipped FSDP2 path end to end — ``python -m llava_lmm.train`` with ``configs/fsdp2.json`` under torchrun
    (one process): HF Trainer → accelerate → ``fully_shard`` → the gathered final save — on the tiny synthetic
    stage-2 model. Accelerate enables FSDP only on accelerators, so a dry run checks the plumbing unsharded."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="gpu_suite_fsdp2-") as d:
        return _fsdp2_run(ctx, Path(d))


def _fsdp2_run(ctx: Context, tmp: Path) -> dict:
    import subprocess

    import yaml
    from safetensors import safe_open

    from shared.synthetic import generate_world

    world = generate_world(tmp / "world", seed=0, num_train=8, num_val=2, image_size=128)
    args = yaml.safe_load((REPO / CONFIGS["llava"][1]).read_text())  # the synthetic stage-2 config
    args.update(model_name_or_path="tiny", data_path=str(world.llava_instruct_train), image_folder=str(world.images),
                output_dir=str(tmp / "run"), max_steps=3, per_device_train_batch_size=2, use_cpu=ctx.dry,
                bf16=not ctx.dry, fsdp=True, fsdp_config=str(REPO / "llava_lmm/configs/fsdp2.json"))
    (tmp / "cfg.yaml").write_text(yaml.safe_dump(args))
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
                        "-m", "llava_lmm.train", "--config", str(tmp / "cfg.yaml")], cwd=REPO, capture_output=True,
                       text=True, timeout=300,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                                                  os.environ.get("PYTHONPATH")]))})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"llava_lmm.train exited {r.returncode}: {(r.stdout + r.stderr)[-1500:]}")
    metrics = json.loads((tmp / "run" / "train_metrics.json").read_text())
    cfg = json.loads((tmp / "run" / "config.json").read_text())["text_config"]
    with safe_open(str(tmp / "run" / "model.safetensors"), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}
    head = [v for k, v in shapes.items() if k.endswith("lm_head.weight")]
    full = bool(head) and head[0] == [cfg["vocab_size"], cfg["hidden_size"]] and all(0 not in v for v in shapes.values())
    return {"sharding": metrics["sharding"], "steps": metrics["steps"], "saved_full_weights": full, "run_s": wall,
            "ok": metrics["steps"] == 3 and full and (ctx.dry or metrics["sharding"] == "fsdp2")}


BENCHES: dict[str, Callable[[Context], dict]] = {"backbone": bench_backbone, "fvit": bench_fvit,
                                                 "fcclip": bench_fcclip, "llava": bench_llava,
                                                 "llava_fsdp2": bench_llava_fsdp2}

# keys the table shows per section (the json holds everything)
TABLE = {
    "backbone": ("size", "stride", "windows", "batched_ms", "sequential_ms", "sequential_over_batched",
                 "outputs_equal", "interpolate_ms", "peak_mem_gib", "mfu"),
    "fvit": ("batch", "train_step_s", "train_img_s", "infer_img_s", "peak_mem_gib", "mfu"),
    "fcclip": ("batch", "train_step_s", "train_img_s", "eval_img_s", "deform_attn_share", "peak_mem_gib", "mfu"),
    "llava": ("batch", "step_s_vitamin", "step_s_clip", "vitamin_over_clip", "tokens_s", "decode_tokens_s",
              "peak_mem_gib", "mfu"),
    "llava_fsdp2": ("ok", "sharding", "steps", "saved_full_weights", "run_s"),
}


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def table(result: dict) -> str:
    lines = [f"device {result['device']}  torch {result['torch']}  dtype {result['dtype']}  "
             f"peak bf16 {_fmt(result['peak_tflops_bf16'])} TFLOP/s  matmul {_fmt(result['matmul_tflops'])} TFLOP/s"]
    for sec, keys in TABLE.items():
        r = result.get(sec)
        if r is None:
            continue
        if "error" in r:
            lines.append(f"{sec:11s} ERROR {r['error']}")
            continue
        for row in r["cases"] if sec == "backbone" else [r]:
            lines.append(f"{sec:11s} " + "  ".join(f"{k}={_fmt(row.get(k))}" for k in keys))
        lines.append(f"{'':11s} ({r['section_s']:.0f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    p.add_argument("--out", default="outputs/bench/gpu_suite.json", help="json file (rewritten after each section)")
    p.add_argument("--dry-run", action="store_true", help="toy sizes on the CPU: checks that every section runs")
    p.add_argument("--repeats", type=int, default=None, help="timed calls per measurement (default 3; dry run 1)")
    p.add_argument("--no-tf32", action="store_true", help="leave fp32 matmuls in full fp32 (default: TF32 on CUDA)")
    p.add_argument("--no-fused-adamw", action="store_true", help="F-ViT / FC-CLIP: the foreach AdamW, not the fused one")
    p.add_argument("--compile", action="store_true", help="F-ViT / FC-CLIP: torch.compile the model (compilation "
                   "happens in the warm-up call, outside the timings, but adds minutes to the run)")
    p.add_argument("--channels-last", action="store_true", help="F-ViT / FC-CLIP: channels-last weights and images")
    a = p.parse_args(argv)
    only = [s.strip() for s in a.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"--only: unknown section(s) {unknown}; expected some of {list(SECTIONS)}")
    if not a.dry_run and not torch.cuda.is_available():
        p.error("no CUDA device: the suite measures a GPU (use --dry-run to check it on the CPU)")
    device = torch.device("cpu" if a.dry_run else "cuda")
    ctx = Context(device, a.dry_run, a.repeats or (1 if a.dry_run else 3), fused_adamw=not a.no_fused_adamw,
                  compile=a.compile, channels_last=a.channels_last)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = not a.no_tf32
    torch.manual_seed(0)
    name = device_name(device)
    ctx.peak_tflops = peak_tflops_bf16(name) if device.type == "cuda" else None
    result = {"device": name, "torch": torch.__version__, "dry_run": a.dry_run,
              "dtype": "bf16" if ctx.dtype is torch.bfloat16 else "fp32", "tf32": device.type == "cuda" and not a.no_tf32,
              "fused_adamw": device.type == "cuda" and ctx.fused_adamw, "compile": a.compile,
              "channels_last": a.channels_last,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "peak_tflops_bf16": ctx.peak_tflops, "matmul_tflops": matmul_tflops(ctx)}
    result["mfu_reference"] = "peak_tflops_bf16" if ctx.peak_tflops else "matmul_tflops"
    ctx.peak_tflops = ctx.peak_tflops or result["matmul_tflops"]
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = []
    t_all = time.perf_counter()
    for sec in SECTIONS:
        if sec not in only:
            continue
        t0 = time.perf_counter()
        print(f"[{sec}] ...", flush=True)
        try:
            result[sec] = BENCHES[sec](ctx)
        except Exception as e:  # one failing section (e.g. out of memory) must not lose the others' numbers
            traceback.print_exc()
            result[sec] = {"error": f"{type(e).__name__}: {e}"[:500]}
            failed.append(sec)
        sync(device)
        result[sec]["section_s"] = time.perf_counter() - t0
        ctx.free()
        result["total_s"] = time.perf_counter() - t_all
        out.write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    print(f"total {result['total_s']:.0f} s -> {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
