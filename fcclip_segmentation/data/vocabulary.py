"""Vocabularies from class-name files and category lists, never from a built dataset.

The training vocabulary — the classes the model was trained on: their number sizes the criterion (and so the
checkpoint), their synonyms decide which test classes are "seen" — is read from the config's files alone:

- ``data.train_class_names`` given (the shipped configs: FC-CLIP's COCO file): its classes in index order, as the
  reference (``SEM_SEG_HEAD.NUM_CLASSES 133`` = the COCO file's classes). The training json is not read. A
  relative path follows the rule of every config input path (``shared.engine.config.resolve_input_path``), also
  for configs built in code.
- no class-name file: the names of ``data.train_json``'s categories in id order (only ``categories`` is read).

So evaluation and prediction need no training data. Training builds the set and checks that its classes are these
(``check_training_classes``). The thing/stuff flags of the training classes are in the json's categories only: the
API's default vocabulary (the training classes) reads them from there (``training_thing_flags``).
"""
from __future__ import annotations

from pathlib import Path

import torch

from shared.classes import read_class_names
from shared.engine.config import resolve_input_path
from shared.formats.validate import DatasetError, check_categories
from shared.io import load_json

def read_categories(json_file: str | Path, what: str = "panoptic json") -> list[dict]:
    """The ``categories`` of a COCO-panoptic json (integer, unique ids; names), sorted by id; nothing else of the
    file is checked."""
    data = load_json(json_file, what)
    if not isinstance(data, dict) or "categories" not in data:
        raise DatasetError(f"{json_file}: missing top-level field 'categories'")
    check_categories(data["categories"], json_file)
    return sorted(data["categories"], key=lambda c: c["id"])


def assign_class_names(names: dict[int, str], category_ids: list[int], source: str | Path) -> list[str]:
    """Class names for ``category_ids`` (dataset order) from a class-name file's {index: names}.

    By id when the file's indices cover the ids (COCO: index = category id); otherwise by position when the counts
    agree (ADE-150: index = id + 1; Cityscapes: trainId; A-847, PASCAL: 1..N) — the reference reads them in order.
    """
    if all(c in names for c in category_ids):
        return [names[c] for c in category_ids]
    if len(names) == len(category_ids):
        return [names[i] for i in sorted(names)]
    raise ValueError(f"{source}: {len(names)} class names for {len(category_ids)} dataset classes, and its indices "
                     f"are not the category ids (e.g. id {next(c for c in category_ids if c not in names)} is missing)")


def category_vocabulary(categories: list[dict], class_names_file: str | Path | None) -> tuple[list[str], torch.Tensor]:
    """(class names, is_thing (K,) bool) of categories sorted by id: names from the class-name file (synonyms) when
    given, else the categories' names; ``isthing`` missing counts as a thing."""
    ids = [c["id"] for c in categories]
    names = (assign_class_names(read_class_names(resolve_input_path(class_names_file)), ids, class_names_file)
             if class_names_file else [c["name"] for c in categories])
    return names, torch.tensor([bool(c.get("isthing", 1)) for c in categories])


def training_class_names(class_names_file: str | Path | None, train_json: str | Path) -> list[str]:
    """The training classes in label order (see the module docstring), without building the training set."""
    if class_names_file:
        try:
            names = read_class_names(resolve_input_path(class_names_file))
        except FileNotFoundError as e:
            raise FileNotFoundError(f"data.train_class_names: {e}") from None
        return [names[k] for k in sorted(names)]
    return [c["name"] for c in read_categories(train_json, "training panoptic json (data.train_json)")]


def check_training_classes(got: list[str], names: list[str], train_json: str | Path,
                           class_names_file: str | Path | None) -> None:
    """The classes of the training json (``got``: its categories named by the class-name file) must be the training
    vocabulary ``names``: the class-name file lists exactly the training categories."""
    if got == names:
        return
    extra, missing = [n for n in names if n not in got], [n for n in got if n not in names]
    detail = (f"the class-name file's classes {extra[:5]} are not categories of the json" if extra
              else f"the json's categories {missing[:5]} are not in the class-name file" if missing
              else "the same classes in another order")
    raise ValueError(f"{train_json}: its {len(got)} categories are not the {len(names)} classes of "
                     f"data.train_class_names {class_names_file} (the training vocabulary): {detail}; give a "
                     f"class-name file listing exactly the training categories")


def training_thing_flags(class_names_file: str | Path | None, train_json: str | Path,
                         names: list[str]) -> torch.Tensor:
    """(K,) bool thing flags of the training classes ``names``, from ``data.train_json``'s categories (its only
    source); a missing json is an error that says how to give a vocabulary instead."""
    try:
        cats = read_categories(train_json, "training panoptic json (data.train_json)")
    except FileNotFoundError as e:
        raise FileNotFoundError(f"{e}: the default vocabulary is the training classes, whose thing/stuff flags are "
                                f"its categories; give the vocabulary instead (class_names= / --classes, a trailing "
                                f"'*' marks stuff) or point data.train_json at a json with those categories") from None
    got, is_thing = category_vocabulary(cats, class_names_file)
    check_training_classes(got, names, train_json, class_names_file)
    return is_thing
