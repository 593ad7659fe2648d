"""``python -m apps.demo`` — the main job on the embedded default.

Generates the synthetic world, pre-trains the world CLIP (``backbone.pretrain``: contrastive, on the world's
captions), then runs one step per subproject on it and writes ``<out>/summary.json``:
``{"seed", "world", "steps": [{"name", "status", "seconds", "cpu_seconds", "metrics"}], "ablations": {...}}`` and prints the
ablations as one table (what the pretrained CLIP brings: zero-shot crops, F-ViT novel AP, FC-CLIP held-out
vocabulary, LLaVA image vs a blank and another image).
Each package owns its step (``shared.demo_step.DemoStep``: the function, its ablation record and target, in the
package's ``demo.py``); a package joins the demo by adding its step to ``STEPS``. Steps after ``world_clip`` get its
weights file as ``ctx.pretrained`` (also when ``--steps`` skips it but an earlier run left the file in
``<out>/world_clip``).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import backbone.demo
import fcclip_segmentation.demo
import fvit_detection.demo
import llava_lmm.demo
from shared.demo_step import DemoContext, DemoStep, ablation_table
from shared.demo_step import ablations as step_ablations
from shared.io import atomic_write_json

STEPS: list[DemoStep] = [
    backbone.demo.WORLD_CLIP_STEP,
    backbone.demo.FEATURES_STEP,
    fvit_detection.demo.STEP,
    fcclip_segmentation.demo.STEP,
    llava_lmm.demo.STEP,
]
DEFAULT_OUT = Path("outputs/demo")


def ablations(records: list[dict], steps: list[DemoStep] | None = None) -> dict[str, dict]:
    """The ablation records of the finished steps (``shared.demo_step.ablations`` over ``STEPS``)."""
    return step_ablations(records, STEPS if steps is None else steps)


def run_demo(out_dir: Path, seed: int = 0, steps: list[str] | None = None, **world_kwargs) -> dict:
    from shared.synthetic import generate_world

    out_dir = Path(out_dir)
    all_steps = list(STEPS)
    chosen = [s for s in all_steps if steps is None or s.name in steps]
    unknown = set(steps or ()) - {s.name for s in all_steps}
    if unknown:
        raise SystemExit(f"unknown demo step(s) {sorted(unknown)}; known: {[s.name for s in all_steps]}")
    print(f"[demo] generating the synthetic world (seed {seed}) in {out_dir / 'world'}", flush=True)
    world = generate_world(out_dir / "world", seed=seed, **world_kwargs)
    summary: dict[str, Any] = {"seed": seed, "world": str(out_dir / "world"), "steps": []}
    pretrained = None
    for s in all_steps:  # a skipped step's weights from an earlier run
        earlier = out_dir / s.name / s.provides_pretrained if s.provides_pretrained else None
        if s not in chosen and earlier is not None and earlier.is_file():
            pretrained = str(earlier)
    if pretrained:
        print(f"[demo] using the world CLIP of an earlier run: {pretrained}", flush=True)
    for step in chosen:
        name = step.name
        print(f"[demo] step {name}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()
        record: dict[str, Any] = {"name": name}
        try:
            metrics = step.run(DemoContext(out_dir / name, world, seed, pretrained))
            # CPU seconds of this process (all threads): the time to compare on a shared, busy machine
            record.update(status="ok", seconds=round(time.perf_counter() - t0, 2),
                          cpu_seconds=round(time.process_time() - c0, 1), metrics=metrics)
        except Exception as e:  # noqa: BLE001 — recorded in the summary, then re-raised
            record.update(status="failed", seconds=round(time.perf_counter() - t0, 2), error=f"{type(e).__name__}: {e}")
            summary["steps"].append(record)
            atomic_write_json(out_dir / "summary.json", summary)
            traceback.print_exc()
            raise SystemExit(f"[demo] step {name} failed: {e}")
        if step.provides_pretrained:
            pretrained = str(out_dir / name / step.provides_pretrained)
        summary["steps"].append(record)
        summary["ablations"] = ablations(summary["steps"], all_steps)
        atomic_write_json(out_dir / "summary.json", summary)  # after every step: progress is never lost
    print(ablation_table(summary.get("ablations", {})))
    print(f"[demo] wrote {out_dir / 'summary.json'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m apps.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", nargs="+", help=f"subset of steps to run (default: all of {[s.name for s in STEPS]})")
    args = p.parse_args(argv)
    run_demo(args.out, seed=args.seed, steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
