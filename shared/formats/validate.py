"""One-pass validation of dataset records: problems are collected (file, record, field, what was expected), then
either reported together (``DatasetError``, the first ``limit`` listed) or the bad records skipped and counted."""
from __future__ import annotations

import logging
import math
from typing import Any, Hashable, Iterable

from shared.errors import UserError

log = logging.getLogger(__name__)
ON_BAD = ("error", "skip")


class DatasetError(UserError, ValueError):
    """An input file does not fit its format; the message names the file, the records and the fields."""


class RecordProblems:
    """Problems of one input file's records, gathered in one pass.

    ``add(key, where, field, message)`` marks the record ``key`` bad; ``finish()`` raises a ``DatasetError`` listing
    the first ``limit`` problems (``on_bad="error"``) or logs and returns the number of bad records, which the caller
    leaves out (``on_bad="skip"``; test them with ``bad(key)``). ``skip_hint``: how a user asks for skipping.
    """

    def __init__(self, source: Any, on_bad: str = "error", limit: int = 20,
                 skip_hint: str = "data.on_bad_record=skip"):
        if on_bad not in ON_BAD:
            raise DatasetError(f"on_bad_record must be one of {list(ON_BAD)}, got {on_bad!r}")
        self.source, self.on_bad, self.limit, self.skip_hint = str(source), on_bad, limit, skip_hint
        self.messages: list[str] = []
        self.total = 0
        self._bad: set[Hashable] = set()

    def add(self, key: Hashable, where: str, field: str, message: str) -> None:
        self.total += 1
        self._bad.add(key)
        if len(self.messages) < self.limit:
            self.messages.append(f"{where}: {field} {message}" if field else f"{where}: {message}")

    def bad(self, key: Hashable) -> bool:
        return key in self._bad

    @property
    def num_bad(self) -> int:
        return len(self._bad)

    def finish(self, what: str = "records") -> int:
        if not self._bad:
            return 0
        if self.on_bad == "error":
            more = f"\n  … and {self.total - len(self.messages)} more" if self.total > len(self.messages) else ""
            raise DatasetError(f"{self.source}: {self.num_bad} bad {what} ({self.total} problems; {self.skip_hint} "
                               f"skips them):\n  " + "\n  ".join(self.messages) + more)
        log.warning("%s: skipped %d bad %s, e.g. %s", self.source, self.num_bad, what, self.messages[0])
        return self.num_bad


def is_finite_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def bbox_problem(box: Any) -> str | None:
    """Why ``box`` is not an ``[x, y, w, h]`` of four finite numbers with w, h >= 0 (None when it is)."""
    if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(is_finite_number(v) for v in box):
        return f"{box!r:.60} is not 4 finite numbers [x, y, w, h]"
    if box[2] < 0 or box[3] < 0:
        return f"{list(box)} has a negative width or height"
    return None


def area_problem(area: Any) -> str | None:
    """Why an annotation's ``area`` (COCO / LVIS / COCO-panoptic: pixels of its mask) is not a finite number >= 0
    (None when it is). Evaluation reads it (COCO's small / medium / large ranges; the lvis api drops ground truth
    whose area is not positive), so a negative or non-finite one would silently change the scores. Zero is
    accepted: real files and converters write it for degenerate objects, and the evaluators' own rules handle it."""
    if not is_finite_number(area) or area < 0:
        return f"{area!r:.60} is not a number >= 0 (pixels of the object)"
    return None


def check_categories(categories: Any, source: Any, fields: Iterable[str] = ("id", "name")) -> None:
    """File-level checks of a category list: a list of objects with an integer ``id`` (unique) and the ``fields``.
    A bad category list makes every label questionable, so it is always an error (not skippable)."""
    if not isinstance(categories, list):
        raise DatasetError(f"{source}: 'categories' must be a list, got {type(categories).__name__}")
    problems, seen, dups = [], set(), set()
    for i, c in enumerate(categories):
        missing = [f for f in fields if not isinstance(c, dict) or f not in c]
        if missing:
            problems.append(f"categories[{i}]: missing {missing}")
        elif not isinstance(c["id"], int) or isinstance(c["id"], bool):
            problems.append(f"categories[{i}]: id {c['id']!r} is not an integer")
        elif c["id"] in seen:
            dups.add(c["id"])
        else:
            seen.add(c["id"])
    if dups:
        problems.append(f"category ids used more than once: {sorted(dups)[:20]}")
    if problems:
        raise DatasetError(f"{source}: bad categories:\n  " + "\n  ".join(problems[:20]))
