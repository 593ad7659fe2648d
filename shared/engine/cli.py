"""The ``python -m <adapter>.train --config CFG key=value ...`` entry point, shared by the adapters."""
from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Callable, Sequence

from shared.cli import report_user_error
from shared.errors import USER_ERRORS

from .config import load_config
from .distributed import cleanup, init_distributed
from .rundir import RunDir, train_section
from .trainer import TrainingInterrupted


def train_main(schema: type, train: Callable, prog: str, description: str | None,
               argv: Sequence[str] | None = None) -> int:
    """Parse ``--config`` + overrides into ``schema``, take the run folder (lock, resume check) before any work,
    run ``train(cfg)``, leave the process group cleanly. Exit codes: 2 a user's error, one line
    (``shared.errors.USER_ERRORS``: bad config / input / weights, folder in use or not writable, a full disk),
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
    except Exception as e:  # noqa: BLE001 — a user's error is one line, anything else re-raised
        cleanup()
        if report_user_error(e, USER_ERRORS):
            return 2
        raise
    try:
        train(cfg)
    except TrainingInterrupted as e:
        print(f"interrupted: {e}", file=sys.stderr)
        return 130 if e.signum == signal.SIGINT else 143  # 128 + signal, what a scheduler expects of a preempted job
    except KeyboardInterrupt:
        print(f"aborted: {run.out_dir}/last.pt is the last checkpoint written", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 — bad config / input / weights, a full disk: one line; bugs re-raised
        if report_user_error(e, USER_ERRORS):
            return 2
        raise
    finally:
        run.close()
        cleanup()  # under torchrun, gloo may abort at interpreter exit otherwise
    if dist.is_main:
        print(f"outputs in {train_section(cfg)[0].out_dir}", flush=True)
    return 0


def eval_output_dir(out: str | None, checkpoint: str, dataset: str) -> Path:
    """``--out`` when given, else ``<checkpoint's folder>/eval/<dataset>`` (results stay next to the weights)."""
    return Path(out) if out else Path(checkpoint).parent / "eval" / dataset
