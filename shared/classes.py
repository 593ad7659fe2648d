"""Class lists: one syntax for every command and the Python API, and the class-name file format of the datasets.

Syntax: classes are separated by ``;``, synonyms of one class by ``,`` (``"traffic light;cat,kitty"`` is two
classes, the second with two synonyms); ``@classes.txt`` reads a class-name file (one class per line,
``index:syn1,syn2``, the format of FC-CLIP's dataset vocabularies). Two classes with the same synonyms after
normalisation (case, ``_`` vs space, repeated spaces, a trailing ``*``) are an error naming them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

CLASSES_HELP = ('classes separated by ";", synonyms of one class by ","; or @FILE with one class per line '
                '("index:syn1,syn2"). Example: "traffic light;cat,kitty;dog"')


def read_class_names(path: str | Path) -> dict[int, str]:
    """Class-name file (``index:name1,name2`` per line, ``invalid_class_id`` for unused ids) → {index: names}."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"class-name file not found: {path}")
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        if line.count(":") != 1:
            raise ValueError(f"{path}:{n}: expected 'index:name1,name2', got {line!r}")
        idx, names = line.split(":")
        try:
            index = int(idx)
        except ValueError:
            raise ValueError(f"{path}:{n}: index {idx!r} is not an integer") from None
        if index in out:
            raise ValueError(f"{path}:{n}: index {index} appears twice")
        if names.strip() != "invalid_class_id":
            out[index] = ",".join(s.strip() for s in names.split(",") if s.strip())
    if not out:
        raise ValueError(f"{path}: no class names")
    return out


def normalize_name(name: str) -> str:
    """The form in which two names count as the same: "Traffic_light" == "traffic  light" == "traffic light*"."""
    return " ".join(name.replace("_", " ").split()).lower().rstrip("*").strip()


def parse_classes(spec: str | Sequence[str], what: str = "--classes") -> list[str]:
    """A class list (``"a;b,c"``, ``"@file.txt"``, or a list whose items are one class each, ``,`` = synonyms)
    → class strings ``"syn1,syn2"``, synonyms stripped. Raises ``ValueError`` naming ``what`` for an empty list,
    an empty class, or duplicate classes; ``FileNotFoundError`` for a missing ``@`` file."""
    if isinstance(spec, str):
        spec = spec.strip()
        if spec.startswith("@"):
            names = read_class_names(spec[1:])
            items, source = [names[k] for k in sorted(names)], spec[1:]
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
    return classes
