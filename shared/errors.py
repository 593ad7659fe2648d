"""User errors: what an entry point prints as one line (``error: …``, exit 2) instead of a traceback.

A user's mistake — a bad option, a missing or unfit file, a folder in use or not writable, a full disk — is reported
by the exception's message alone, which names the file / field / option and what was expected. Error classes of
the project that mean "the input is wrong" derive from ``UserError`` (``ConfigError``, ``DatasetError``,
``PretrainedError``, ``CheckpointError``, ``RunDirError``, ``WeightsError``, ``ImageReadError``, …); the standard
ones below count too (``USER_ERRORS``; ``INPUT_ERRORS`` adds ``ValueError``, which argument checks raise). Anything
else is a bug and keeps its traceback. ``shared.cli.run_main`` applies this to an entry point's ``main``.
"""
from __future__ import annotations

import errno

# errors of the file system a user fixes (space, quota, a read-only or unwritable place), wherever they are raised
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


class UserError(Exception):
    """Base of the project's errors caused by a user's input; its message is the whole report."""


# besides UserError: the standard exceptions our readers raise with a message naming the file
USER_ERRORS: tuple[type[BaseException], ...] = (UserError, FileNotFoundError, PermissionError, IsADirectoryError,
                                                NotADirectoryError)
# and the plain ValueError of argument checks (class lists, scores, image arrays, …): the default of the commands
# that answer for a few inputs (predict, eval, export, convert, chat); training reports only USER_ERRORS, so a
# ValueError from a bug hours into a run keeps its traceback
INPUT_ERRORS: tuple[type[BaseException], ...] = USER_ERRORS + (ValueError,)


def storage_error(e: BaseException) -> OSError | None:
    """The ``OSError`` with a storage errno (disk full, quota, read-only) in ``e`` or its chain, else None. Writers
    such as ``torch.save`` re-raise it as their own error (``inline_container.cc … unexpected pos``) with the real
    cause only in ``__context__``."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in STORAGE_ERRNOS:
            return e
        e = e.__cause__ or e.__context__
    return None


def storage_error_line(e: OSError) -> str:
    what = f"cannot write {e.filename}: " if e.filename else ""
    return f"{what}{e.strerror or e}"


def user_error_line(e: BaseException, kinds: tuple[type[BaseException], ...] = INPUT_ERRORS) -> str | None:
    """The one line to print for a user's error — an instance of ``kinds``, or a full disk / quota / read-only file
    system anywhere in its chain — or None when ``e`` is not one (a bug: let it raise)."""
    if not isinstance(e, Exception):  # KeyboardInterrupt, SystemExit
        return None
    storage = storage_error(e)
    if storage is not None:
        return storage_error_line(storage)
    if isinstance(e, kinds):
        return str(e) or type(e).__name__
    return None
