"""``python -m shared.demo`` — the main job on the embedded default.

Generates the synthetic world, then runs one step per subproject on it and writes
``<out>/summary.json``: ``{"seed", "world", "steps": [{"name", "status", "seconds", "metrics"}]}``.
A subproject joins the demo by adding ``(name, "package.module:function")`` to ``STEPS``; the function takes a
``DemoContext`` and returns a json-serialisable dict of metrics.
"""
from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.io import atomic_write_json

STEPS: list[tuple[str, str]] = [
    ("backbone", "backbone.demo:run"),
    ("fvit_detection", "fvit_detection.demo:run"),
    ("fcclip_segmentation", "fcclip_segmentation.demo:run"),
    ("llava_lmm", "llava_lmm.demo:run"),
]


@dataclass
class DemoContext:
    out_dir: Path  # this step's own output folder
    world: Any  # shared.synthetic.WorldPaths
    seed: int


def _load_step(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def run_demo(out_dir: Path, seed: int = 0, steps: list[str] | None = None, **world_kwargs) -> dict:
    from shared.synthetic import generate_world

    out_dir = Path(out_dir)
    chosen = [s for s in STEPS if steps is None or s[0] in steps]
    unknown = set(steps or ()) - {s[0] for s in STEPS}
    if unknown:
        raise SystemExit(f"unknown demo step(s) {sorted(unknown)}; known: {[s[0] for s in STEPS]}")
    print(f"[demo] generating the synthetic world (seed {seed}) in {out_dir / 'world'}", flush=True)
    world = generate_world(out_dir / "world", seed=seed, **world_kwargs)
    summary: dict[str, Any] = {"seed": seed, "world": str(out_dir / "world"), "steps": []}
    for name, target in chosen:
        print(f"[demo] step {name}", flush=True)
        t0 = time.perf_counter()
        record: dict[str, Any] = {"name": name}
        try:
            metrics = _load_step(target)(DemoContext(out_dir / name, world, seed))
            record.update(status="ok", seconds=round(time.perf_counter() - t0, 2), metrics=metrics)
        except Exception as e:  # noqa: BLE001 — recorded in the summary, then re-raised
            record.update(status="failed", seconds=round(time.perf_counter() - t0, 2), error=f"{type(e).__name__}: {e}")
            summary["steps"].append(record)
            atomic_write_json(out_dir / "summary.json", summary)
            traceback.print_exc()
            raise SystemExit(f"[demo] step {name} failed: {e}")
        summary["steps"].append(record)
        atomic_write_json(out_dir / "summary.json", summary)  # after every step: progress is never lost
    print(f"[demo] wrote {out_dir / 'summary.json'}")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m shared.demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default: outputs/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", nargs="+", help=f"subset of steps to run (default: all of {[s[0] for s in STEPS]})")
    args = p.parse_args(argv)
    run_demo(args.out, seed=args.seed, steps=args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
