"""The ``python -m <adapter>.train --config CFG key=value ...`` entry point, shared by the adapters."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Callable, Sequence

from shared.formats.validate import DatasetError

from .config import ConfigError, load_config
from .distributed import cleanup, init_distributed
from .rundir import RunDir, RunDirError, train_section
from .trainer import TrainingInterrupted


def train_main(schema: type, train: Callable, prog: str, description: str | None,
               argv: Sequence[str] | None = None) -> int:
    """Parse ``--config`` + overrides into ``schema``, take the run folder (lock, resume check) before any work,
    run ``train(cfg)``, leave the process group cleanly. Exit codes: 2 bad config / input / folder in use,
    130 Ctrl-C, 143 SIGTERM or SIGUSR1 (checkpoint written, rerun to resume)."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML config (see the adapter's configs/ folder)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_steps=100 data.image_size=512")
    args = p.parse_args(argv)
    try:
        cfg = load_config(schema, args.config, args.overrides)
        dist = init_distributed()
        run = RunDir.open(cfg, is_main=dist.is_main)
    except (ConfigError, RunDirError) as e:
        print(f"error: {e}", file=sys.stderr)
        cleanup()
        return 2
    try:
        train(cfg)
    except (ConfigError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except TrainingInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130 if e.signum == signal.SIGINT else 143  # 128 + signal, what a scheduler expects of a preempted job
    except KeyboardInterrupt:
        print(f"aborted: {run.out_dir}/last.pt is the last checkpoint written", file=sys.stderr)
        return 130
    finally:
        run.close()
        cleanup()  # under torchrun, gloo may abort at interpreter exit otherwise
    if dist.is_main:
        print(f"outputs in {train_section(cfg)[0].out_dir}", flush=True)
    return 0


def eval_output_dir(out: str | None, checkpoint: str, dataset: str) -> Path:
    """``--out`` when given, else ``<checkpoint's folder>/eval/<dataset>`` (results stay next to the weights)."""
    return Path(out) if out else Path(checkpoint).parent / "eval" / dataset
