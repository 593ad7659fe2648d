"""Crash-safe file writing: a reader sees the old file or the new one, never half of one."""
from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

# atomic_path's temporaries: ".<target name>.<mkstemp's 8 random characters>.tmp"
_TMP_RE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask can only be read by setting it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_path(path: str | os.PathLike, directory: bool = False) -> None:
    """Flush a file's (or a folder's entries') data to disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The file gets the mode a plain ``open`` would (0666 minus the umask; mkstemp alone gives 0600), set again just
    before the rename: a writer that replaces the temporary file with its own (safetensors writes a 0600 file and
    renames it onto the path it is given) does not change it. ``durable``: the file is fsynced before the rename
    and the folder after it, so a power loss keeps the old or the new file. On an exception the temporary file is
    removed and ``path`` is left as it was; a full disk (or quota, read-only file system) anywhere in the writer's
    error chain — ``torch.save`` hides it under its own ``RuntimeError`` — is raised as that ``OSError`` naming
    ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = default_file_mode()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, mode)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, mode)
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent, directory=True)
    except Exception as e:
        from shared.errors import storage_error

        full = storage_error(e)
        if full is None:
            raise
        raise OSError(full.errno, f"{full.strerror} ({path.name} left as it was)", str(path)) from e
    finally:
        if tmp.exists():
            tmp.unlink()


def default_file_mode() -> int:
    """The mode a plain ``open`` gives a new file: 0666 minus the umask."""
    return 0o666 & ~current_umask()


def apply_default_mode(path: str | os.PathLike) -> None:
    """Give a file written by another library (e.g. safetensors' 0600 files) the mode a plain ``open`` would."""
    os.chmod(path, default_file_mode())


def remove_stale_temporaries(folder: str | os.PathLike, pattern: str = "*", depth: int = 0) -> list[Path]:
    """Delete the temporaries ``atomic_path`` left in ``folder`` when a writer was killed; other files, including
    other programs' ``.tmp`` files, are left alone. Only call it while no other process writes into ``folder``
    (e.g. holding the run lock). ``pattern``: restrict to targets matching this glob. ``depth``: also in the
    sub-folders this many levels down (an output folder's ``panoptic/``, ``vis/``, …)."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for p in folder.glob(f".{pattern}.*.tmp"):
            if _TMP_RE.match(p.name) and p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
        if depth > 0:
            with os.scandir(folder) as entries:  # no stat per file: an output folder may hold many
                subs = sorted(e.path for e in entries if e.is_dir(follow_symlinks=False))
            for sub in subs:
                removed += remove_stale_temporaries(sub, pattern, depth - 1)
    return removed


def ensure_writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Check that files can be created in ``path`` (creating it if needed), without leaving anything behind:
    folders the check created are removed again. Raise ``PermissionError`` naming the folder otherwise.

    Entry points call this before loading a model, so a bad output location fails in seconds, not after the run.
    """
    path = Path(path)
    created = [p for p in (path, *path.parents) if not p.exists()]
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise PermissionError(f"{what} {path} is not writable: {e.strerror or e}") from None
    finally:
        for p in created:  # deepest first
            with contextlib.suppress(OSError):
                p.rmdir()
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any, indent: int | None = 2) -> None:
    atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def relative_note(path: str | os.PathLike) -> str:
    """For a "not found" error: which folder a relative ``path`` was read from (" (relative to the working
    directory …)"; "" for absolute paths)."""
    return "" if Path(path).is_absolute() else f" (relative to the working directory {Path.cwd()})"


def load_json(path: str | os.PathLike, what: str = "json file") -> Any:
    """Read a json file; missing or malformed files raise errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}{relative_note(path)}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path} is not valid json (truncated or corrupt?): {e}") from None
