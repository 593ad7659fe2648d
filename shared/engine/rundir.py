"""The run folder of a training run: one process at a time (an OS lock), stale temporaries removed, and a resume
that never silently changes settings (the new config is compared with the checkpoint's before anything is written).
``RunDir`` does this for the engine's configs; ``hold_run_folder`` / ``resume_changes`` / ``record_changes`` are the
same steps for entry points with other settings (LLaVA's HF Trainer).

Rules (``train.out_dir`` holding ``last.pt`` and ``train.resume=true``):

- Keys that do not change the trained model may differ from the stored run: the config fields marked
  ``resumable`` (``shared.engine.train_config``; in ``TrainConfig``: extend a run with ``train.max_steps``, change
  logging / checkpoint / eval cadence, the progress bar, loader workers — batches do not depend on them —, the
  folder's own path, the speed switches).
- Any other difference (model, data, optimiser, schedule, seed, batch size, AMP, …) is refused with a
  ``ConfigError`` listing every changed key as ``old -> new``, unless ``train.resume_changes=allow``: then the new
  values are used from the checkpoint's step on (the optimiser's lr, betas, weight decay included), and
  ``history.jsonl`` records ``{"step", "time", "changes": {key: [old, new]}}``.
- ``config.yaml`` is written after the check (and, by the trainer, after the checkpoint loaded) and shows the
  settings in force.
"""
from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Collection

from filelock import lock_descriptor

from shared.errors import UserError
from shared.io import remove_stale_temporaries

from .config import ConfigError, config_changes, config_to_dict, save_config
from .distributed import all_gather_objects
from .train_config import TrainConfig, resumable_keys

LOCK_NAME = ".lock"
CHECKPOINT_NAME = "last.pt"
HISTORY_NAME = "history.jsonl"


class RunDirError(UserError, RuntimeError):
    """The run folder cannot be used (another process holds it, or it cannot be written)."""


def train_section(config: Any):
    """(the TrainConfig inside ``config``, its dotted prefix): ``config`` itself or one of its fields."""
    if isinstance(config, TrainConfig):
        return config, ""
    for name, value in vars(config).items():
        if isinstance(value, TrainConfig):
            return value, f"{name}."
    raise TypeError(f"{type(config).__name__} has no TrainConfig field")


def _plain(config: Any) -> dict:
    """A json-safe dict of a config (tuples become lists), as stored in checkpoints."""
    return json.loads(json.dumps(config_to_dict(config)))


def stored_run(out_dir: Path) -> tuple[dict, int] | None:
    """(the full config the checkpoint was trained with, its step), or None without a checkpoint. The file is
    memory-mapped: only the small entries are read."""
    import torch

    ckpt = out_dir / CHECKPOINT_NAME
    if not ckpt.is_file():
        return None
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True, mmap=True)
    except Exception as e:  # noqa: BLE001 — re-raised naming the file
        raise ConfigError(f"cannot read checkpoint {ckpt}: {type(e).__name__}: {e}") from None
    return state.get("run_config"), int(state.get("step", 0))


class RunLock:
    """An OS lock on ``<out_dir>/.lock`` (``filelock.lock_descriptor``: ``flock`` on POSIX, ``LockFileEx`` on
    Windows), released by the OS when the process dies (kill -9 included). The holder writes its pid, host and
    start time into the file; a second holder — another process, or another ``RunLock`` in this one — gets a
    ``RunDirError`` naming them. Used by ``RunDir`` and by entry points that do not run on this engine (LLaVA's HF
    Trainer). A folder that cannot be created or written is a ``RunDirError`` too. ``for_file``: hold one output
    file of ``out_dir`` instead of the whole folder (lock file ``.<name>.lock`` beside it while held; e.g. an
    ``eval answer`` answer file or an exported graph, several of which may share a folder)."""

    def __init__(self, out_dir: Path, key: str = "train.out_dir", for_file: str | None = None):
        self.path = out_dir / (LOCK_NAME if for_file is None else f".{for_file}{LOCK_NAME}")
        self.for_file = for_file
        held = out_dir if for_file is None else out_dir / for_file
        self.fd = None
        self.created = [p for p in (out_dir, *out_dir.parents) if not p.exists()]  # deepest first
        while self.fd is None:
            try:
                out_dir.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            except OSError as e:
                raise RunDirError(f"{key} {out_dir} is not writable: {e.strerror or e}") from None
            try:
                locked = lock_descriptor(fd, blocking=False)
            except BaseException:
                os.close(fd)
                raise
            if not locked:
                os.close(fd)
                raise RunDirError(f"{held} is in use by {self._holder()}; one run per "
                                  f"{'folder' if for_file is None else 'file'} — wait for it to end, stop it, or "
                                  f"choose another {key}")
            if self._still_named(fd):
                self.fd = fd
            else:  # the holder removed the file between our open and our lock (``release``): lock the new one
                os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime())}
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)
        os.write(self.fd, (json.dumps(info) + "\n").encode())

    def _still_named(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self.path))
        except FileNotFoundError:
            return False

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f"pid {info['pid']} on host {info['host']} (started {info['started']})"
        except (OSError, ValueError, KeyError):
            return "another process (its details are not written yet)"

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def release(self) -> None:
        """Drop the lock; a file's lock (``for_file``) also removes its lock file, while still holding it — a process
        that opened it meanwhile sees it gone once locked and takes a new one."""
        if self.fd is not None:
            if self.for_file is not None:
                try:
                    self.path.unlink(missing_ok=True)
                except OSError:
                    pass  # e.g. an open file cannot be removed on Windows: it stays, unlocked
            os.close(self.fd)  # closing the descriptor drops the lock
            self.fd = None

    def discard(self) -> None:
        """Release, and remove the folders this lock created when nothing but the lock file was written in them: a
        run that failed before writing anything leaves no trace."""
        if self.fd is not None and self.created:
            try:
                if [e.name for e in os.scandir(self.path.parent)] == [self.path.name]:
                    self.path.unlink()  # still locked: a process that opens it now is refused, one after finds none
                    for folder in self.created:
                        folder.rmdir()
            except OSError:
                pass  # something else was written there meanwhile: keep it
        self.release()


def hold_run_folder(out_dir: Path, is_main: bool, key: str, check: Callable[[], None] = lambda: None
                    ) -> RunLock | None:
    """Take ``out_dir`` for one run, before any work: on the main process create it, lock it (``RunLock``), remove
    the stale temporaries of our atomic writes (in it and its sub-folders: ``pretrained/``, ``panoptic_pred/``, …)
    and run ``check`` (e.g. the resume comparison), releasing the lock when anything fails. Under torchrun every
    rank then raises when the main process refused, so no rank starts work. ``key`` names the option that sets the
    folder in messages (``train.out_dir``, ``--output_dir``, eval's ``--out``). Training, LLaVA training and
    evaluation hold their output folders with it."""
    lock = error = None
    if is_main:
        try:
            lock = RunLock(out_dir, key)
            try:
                remove_stale_temporaries(out_dir, depth=1)
                check()
            except BaseException:
                lock.release()
                raise
        except (ConfigError, RunDirError) as e:
            error = e
    errors = all_gather_objects(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    if errors[0] is not None:  # the main process refused: every rank stops before any work
        kind, msg = errors[0].split(": ", 1)
        raise (ConfigError if kind == "ConfigError" else RunDirError)(msg)
    return lock


def resume_changes(out_dir: Path, step: int, old: Any, new: Any, may_change: Collection[str], policy: str,
                   key: str, allow: str) -> dict[str, tuple[Any, Any]]:
    """Every key whose value differs between the stored run's settings ``old`` and this run's ``new`` (dotted keys,
    ``old -> new``). Keys outside ``may_change`` are refused with a ``ConfigError`` listing each of them unless
    ``policy == "allow"``. ``key`` / ``allow``: the option naming the folder and the one that allows changes, as
    the user types them (``train.out_dir`` / ``train.resume_changes=allow``)."""
    changes = config_changes(old, new)
    refused = {k: v for k, v in changes.items() if k not in may_change}
    if refused and policy != "allow":
        lines = "\n".join(f"  {k}: {o!r} -> {n!r}" for k, (o, n) in refused.items())
        raise ConfigError(
            f"{out_dir} holds a run at step {step} trained with other settings; resuming would change:\n{lines}\n"
            f"Use another {key}, or {allow} to apply the changes from step {step} on (recorded in "
            f"{out_dir / HISTORY_NAME}).")
    return changes


def record_changes(out_dir: Path, record: dict) -> None:
    """Append one resume-with-changes record (``{"step", ..., "changes": {key: [old, new]}}``) to
    ``<out_dir>/history.jsonl``."""
    with open(out_dir / HISTORY_NAME, "a") as f:
        f.write(json.dumps(record, default=str) + "\n")


class RunDir:
    """An open run folder. ``RunDir.open`` is re-entrant within a process (the CLI opens it before building the
    model, the trainer again), ``close`` releases the lock when the last opener closes. Under torchrun rank 0 holds
    the lock and checks the config; every rank raises when rank 0 refused."""

    _held: dict[Path, "RunDir"] = {}

    def __init__(self, out_dir: Path, config: Any, is_main: bool):
        self.out_dir, self.config, self.is_main = out_dir, config, is_main
        self.train_cfg, self.prefix = train_section(config)
        self.changes: dict[str, tuple[Any, Any]] = {}
        self.resume_step = 0
        self._lock: RunLock | None = None
        self._opened = 0
        self._committed = False

    @classmethod
    def open(cls, config: Any, is_main: bool = True) -> "RunDir":
        train_cfg, _ = train_section(config)
        out_dir = Path(train_cfg.out_dir).resolve()
        run = cls._held.get(out_dir)
        if run is None:
            run = cls(out_dir, config, is_main)
            run._lock = hold_run_folder(out_dir, is_main, run.prefix + "out_dir", run._check_resume)
            cls._held[out_dir] = run
        run._opened += 1
        return run

    def _check_resume(self) -> None:
        if not self.train_cfg.resume:
            return
        stored = stored_run(self.out_dir)
        if stored is None:
            return
        old, self.resume_step = stored
        if old is None:  # a checkpoint written before run configs were stored: nothing to compare
            return
        self.changes = resume_changes(self.out_dir, self.resume_step, old, _plain(self.config),
                                      resumable_keys(self.config), self.train_cfg.resume_changes,
                                      self.prefix + "out_dir", self.prefix + "resume_changes=allow")

    def commit(self) -> None:
        """Write ``config.yaml`` (the settings in force) and, after changes, a ``history.jsonl`` record. Called once
        the checkpoint has been restored, so a failed resume leaves the folder as it was."""
        if self._committed or not self.is_main:
            return
        self._committed = True
        header = None
        if self.changes:
            record_changes(self.out_dir, {
                "step": self.resume_step, "time": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime()),
                "changes": {k: [o, n] for k, (o, n) in self.changes.items()}})
            header = f"settings in force since step {self.resume_step}; earlier values in {HISTORY_NAME}"
        save_config(self.config, self.out_dir / "config.yaml", header=header)

    def close(self) -> None:
        self._opened -= 1
        if self._opened <= 0:
            if self._lock is not None:
                self._lock.release()
            RunDir._held.pop(self.out_dir, None)

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
