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

    The file gets the mode a plain ``open`` would (0666 minus the umask; mkstemp alone gives 0600). ``durable``:
    the file is fsynced before the rename and the folder after it, so a power loss keeps the old or the new file.
    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
        if durable:
            fsync_path(path.parent, directory=True)
    finally:
        if tmp.exists():
            tmp.unlink()


def remove_stale_temporaries(folder: str | os.PathLike, pattern: str = "*") -> list[Path]:
    """Delete the temporaries ``atomic_path`` left in ``folder`` (not below it) when a writer was killed; other
    files, including other programs' ``.tmp`` files, are left alone. Only call it while no other process writes
    into ``folder`` (e.g. holding the run lock). ``pattern``: restrict to targets matching this glob."""
    folder = Path(folder)
    removed = []
    if folder.is_dir():
        for p in folder.glob(f".{pattern}.*.tmp"):
            if _TMP_RE.match(p.name) and p.is_file():
                p.unlink(missing_ok=True)
                removed.append(p)
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


def load_json(path: str | os.PathLike, what: str = "json file") -> Any:
    """Read a json file; missing or malformed files raise errors that name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{what} {path} is not valid json (truncated or corrupt?): {e}") from None
