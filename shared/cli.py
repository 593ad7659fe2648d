"""What every entry point shares: a user's error as one line + exit 2 (``run_main``) and the ``--device`` check.

Each ``python -m …`` command (train, eval, predict, export, convert, chat, ``eval answer``, the web app) checks its
inputs before loading a model and reports a user's mistake as one ``error: …`` line (``shared.errors``).
"""
from __future__ import annotations

import sys
from typing import Callable


def report_user_error(e: BaseException, kinds: tuple | None = None) -> bool:
    """Print ``error: <line>`` for a user's error (``shared.errors.user_error_line``; ``kinds`` default
    ``INPUT_ERRORS``) and return True; False (nothing printed) for anything else."""
    from shared.errors import INPUT_ERRORS, user_error_line

    line = user_error_line(e, INPUT_ERRORS if kinds is None else kinds)
    if line is None:
        return False
    print(f"error: {line}", file=sys.stderr, flush=True)
    return True


def run_main(main: Callable[[], int | None], kinds: tuple | None = None) -> int:
    """``main()``'s exit status; a user's error → one line on stderr, exit status 2 (``report_user_error``).
    Anything else (a bug) raises with its traceback."""
    try:
        return main() or 0
    except Exception as e:  # noqa: BLE001 — sorted by user_error_line, the rest re-raised
        if report_user_error(e, kinds):
            return 2
        raise


def check_device(spec: str, option: str = "--device"):
    """``spec`` (``cpu``, ``cuda``, ``cuda:1``, ``mps``) as a ``torch.device`` that exists here; otherwise a
    ``ValueError`` naming the option and what there is — before any model is loaded."""
    import torch

    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError):
        raise ValueError(f"{option} {spec!r}: expected cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise ValueError(f"{option} {spec}: no CUDA GPU is visible to PyTorch here (torch "
                             f"{torch.__version__}, CUDA_VISIBLE_DEVICES and drivers decide); use {option} cpu")
        if dev.index is not None and dev.index >= n:
            raise ValueError(f"{option} {spec}: this machine has {n} CUDA GPU(s) (cuda:0 … cuda:{n - 1})")
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError(f"{option} {spec}: Apple's MPS is not available here; use {option} cpu")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ValueError(f"{option} {spec!r}: expected cpu, cuda, cuda:N or mps")
    return dev
