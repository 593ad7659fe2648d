"""The ``python -m <adapter>.train --config CFG key=value ...`` entry point, shared by the adapters."""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from .config import ConfigError, load_config
from .distributed import cleanup
from .trainer import TrainingInterrupted


def train_main(schema: type, train: Callable, prog: str, description: str | None,
               argv: Sequence[str] | None = None) -> int:
    """Parse ``--config`` + overrides into ``schema``, run ``train(cfg)``, leave the process group cleanly."""
    p = argparse.ArgumentParser(prog=prog, description=description,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", required=True, help="YAML config (see the adapter's configs/ folder)")
    p.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.max_steps=100 data.image_size=512")
    args = p.parse_args(argv)
    try:
        cfg = load_config(schema, args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    try:
        train(cfg)
    except TrainingInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 143  # 128 + SIGTERM, what a scheduler expects of a preempted job
    finally:
        cleanup()  # under torchrun, gloo may abort at interpreter exit otherwise
    return 0
