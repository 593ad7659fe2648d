"""Class lists: one syntax for every command and the Python API, and the class-name file format of the datasets.

Syntax: classes are separated by ``;``, synonyms of one class by ``,`` (``"traffic light;cat,kitty"`` is two
classes, the second with two synonyms); ``@classes.txt`` reads a file with one class per line, either
``id:syn1,syn2`` (the dataset class-name format of FC-CLIP's vocabularies; ``id:invalid_class_id`` marks an unused
id) or plain ``syn1,syn2`` lines. Two classes with the same synonyms after normalisation (case, ``_`` vs space,
repeated spaces, a trailing ``*``) are an error naming them.

Every class has a category id: the file's ids for ``id:`` lines, the ids given with the list, or its position + 1.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from shared.io import relative_note

CLASSES_HELP = ('classes separated by ";", synonyms of one class by ","; or @FILE with one class per line '
                '("id:syn1,syn2", or plain "syn1,syn2" lines: ids 1, 2, … in line order). '
                'Example: "traffic light;cat,kitty;dog"')
_ID_LINE = re.compile(r"^\s*-?\d+\s*:")


def read_class_names(path: str | Path) -> dict[int, str]:
    """Class-name file (``index:name1,name2`` per line, ``invalid_class_id`` for unused ids) → {index: names}."""
    names, ids = read_class_file(path)
    if ids is None:  # plain lines: a dataset class-name file must give every class its index
        n, line = next((n, line) for n, line in enumerate(Path(path).read_text().splitlines(), 1) if line.strip())
        if ":" in line:
            raise ValueError(f"{path}:{n}: index {line.split(':')[0]!r} is not an integer")
        raise ValueError(f"{path}:{n}: expected 'index:name1,name2', got {line!r}")
    return dict(zip(ids, names))


def read_class_file(path: str | Path) -> tuple[list[str], list[int] | None]:
    """A class-list file → (classes, ids): ``id:syn1,syn2`` lines give their ids (``invalid_class_id`` lines are
    unused ids, left out; classes in id order), plain ``syn1,syn2`` lines give none (ids None: from the order, or
    from ``--ann``). Blank lines are ignored; a file mixing the two kinds is an error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-name file not found: {path}{relative_note(path)}")
    lines = [(n, line) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    if not lines:
        raise ValueError(f"{path}: no class names")
    indexed = bool(_ID_LINE.match(lines[0][1]))
    for n, line in lines:
        if bool(_ID_LINE.match(line)) != indexed:
            kind = "an 'id:name1,name2' line" if indexed else "a plain 'name1,name2' line"
            raise ValueError(f"{path}:{n}: expected {kind} (as line {lines[0][0]}), got {line!r}")
    if not indexed:
        return [line.strip() for _, line in lines], None
    out: dict[int, str] = {}
    for n, line in lines:
        idx, names = line.split(":", 1)
        index = int(idx)
        if index in out:
            raise ValueError(f"{path}:{n}: index {index} appears twice")
        out[index] = names.strip()
    kept = {i: n for i, n in out.items() if n != "invalid_class_id"}
    if not kept:
        raise ValueError(f"{path}: no class names")
    order = sorted(kept)
    return [",".join(s.strip() for s in kept[i].split(",") if s.strip()) for i in order], order


def normalize_name(name: str) -> str:
    """The form in which two names count as the same: "Traffic_light" == "traffic  light" == "traffic light*"."""
    return " ".join(name.replace("_", " ").split()).lower().rstrip("*").strip()


def parse_classes(spec: str | Sequence[str], what: str = "--classes") -> list[str]:
    """A class list (``"a;b,c"``, ``"@file.txt"``, or a list whose items are one class each, ``,`` = synonyms)
    → class strings ``"syn1,syn2"``, synonyms stripped. Raises ``ValueError`` naming ``what`` for an empty list,
    an empty class, or duplicate classes; ``FileNotFoundError`` for a missing ``@`` file."""
    return parse_vocabulary(spec, what)[0]


def parse_vocabulary(spec: str | Sequence[str], what: str = "--classes",
                     ids: Sequence[int] | None = None) -> tuple[list[str], list[int]]:
    """``parse_classes`` plus each class's category id: ``ids`` when given (one per class), else the ``id:`` lines
    of an ``@`` file, else the position + 1. Ids must be distinct integers; ``ids`` together with an ``@`` file
    that has its own ids is an error (which would win is not obvious)."""
    file_ids = None
    if isinstance(spec, str):
        spec = spec.strip()
        if spec.startswith("@"):
            items, file_ids = read_class_file(spec[1:])
            source = spec[1:]
        else:
            items, source = spec.split(";"), what
            if items and not items[-1].strip():
                items = items[:-1]  # a trailing ";" is harmless
    else:
        items, source = list(spec), what
    classes = []
    for i, item in enumerate(items, 1):
        if not isinstance(item, str):
            raise ValueError(f"{source}: class {i} is {type(item).__name__}, expected a string")
        synonyms = [s.strip() for s in item.split(",") if s.strip()]
        if not synonyms:
            raise ValueError(f"{source}: class {i} is empty ({item!r}); {CLASSES_HELP}")
        classes.append(",".join(synonyms))
    if not classes:
        raise ValueError(f"{source}: no classes; {CLASSES_HELP}")
    seen: dict[frozenset, int] = {}
    dups = []
    for i, c in enumerate(classes):
        key = frozenset(normalize_name(s) for s in c.split(","))
        if key in seen:
            dups.append(f"{classes[seen[key]]!r} (class {seen[key] + 1}) and {c!r} (class {i + 1})")
        else:
            seen[key] = i
    if dups:
        raise ValueError(f"{source}: duplicate classes: " + "; ".join(dups))
    if ids is not None and file_ids is not None:
        raise ValueError(f"{source}: the file gives the class ids ('id:name' lines); do not pass ids as well")
    return classes, check_category_ids(ids if ids is not None else file_ids or range(1, len(classes) + 1),
                                       len(classes), source)


def file_gives_ids(spec) -> bool:
    """Whether ``spec`` is an ``@`` file of ``id:name`` lines (its ids are the user's, not positions)."""
    return isinstance(spec, str) and spec.strip().startswith("@") and read_class_file(spec.strip()[1:])[1] is not None


def check_category_ids(ids: Sequence[int], num_classes: int, source: str) -> list[int]:
    """``ids`` as a list of distinct integers, one per class (a ``ValueError`` naming ``source`` otherwise)."""
    ids = list(ids)
    if len(ids) != num_classes:
        raise ValueError(f"{source}: {len(ids)} category ids for {num_classes} classes")
    bad = [i for i in ids if not isinstance(i, int) or isinstance(i, bool)]
    if bad:
        raise ValueError(f"{source}: category id {bad[0]!r} is not an integer")
    dups = sorted({i for i in ids if ids.count(i) > 1})
    if dups:
        raise ValueError(f"{source}: category ids used twice: {dups[:10]}")
    return ids
