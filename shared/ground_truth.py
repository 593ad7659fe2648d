"""A ground-truth json (COCO instances, LVIS v1, COCO panoptic) as the source of the ids that predictions carry
(``--ann`` of the prediction CLIs): image ids by file name, category ids by class name, and its categories as a
vocabulary. Predictions written with them evaluate against that json with no remapping."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path, PurePosixPath

from shared.classes import normalize_name
from shared.formats.images import image_file
from shared.formats.validate import DatasetError, check_categories
from shared.io import load_json


class GroundTruth:
    """The ``images`` and ``categories`` of a ground-truth json (``path``; ``what`` names it in errors)."""

    def __init__(self, path: str | Path, what: str = "--ann"):
        self.path, self.what = Path(path), what
        data = load_json(self.path, f"{what} json")
        for key in ("images", "categories"):
            if not isinstance(data, dict) or not isinstance(data.get(key), list):
                raise DatasetError(f"{what} {self.path}: missing top-level list {key!r} (a COCO, LVIS or "
                                   f"COCO-panoptic json)")
        check_categories(data["categories"], f"{what} {self.path}")
        self.categories = sorted(data["categories"], key=lambda c: c["id"])
        self.images: dict[str, dict] = {}  # image_file path (file_name or <split>/<name>) -> record
        by_base: dict[str, list[str]] = defaultdict(list)
        for i, im in enumerate(data["images"]):
            try:
                key = image_file(im)[0] if isinstance(im, dict) else None
            except ValueError as e:
                raise DatasetError(f"{what} {self.path}: images[{i}] {e}") from None
            if key is None or not isinstance(im.get("id"), (int, str)) or isinstance(im.get("id"), bool):
                raise DatasetError(f"{what} {self.path}: images[{i}] is not an image record with an id")
            self.images[key] = im
            by_base[PurePosixPath(key).name].append(key)
        self._by_base = by_base
        self.has_annotations = isinstance(data.get("annotations"), list)

    # --- images -------------------------------------------------------------------------------------------------
    def match_images(self, names: list[str]) -> dict[str, dict]:
        """{input name: image record} for input files named relative to their root (``a/b.jpg``). A name matches
        the record whose path (``file_name``, or LVIS's ``<split>/<name>``) equals it, else the one record whose
        file has its base name. An input with no record (or two inputs with one record) is an error naming it."""
        out, missing, ambiguous = {}, [], []
        for name in names:
            key = PurePosixPath(name).as_posix()
            if key in self.images:
                out[name] = self.images[key]
                continue
            candidates = self._by_base.get(PurePosixPath(key).name, [])
            if len(candidates) == 1:
                out[name] = self.images[candidates[0]]
            elif candidates:
                ambiguous.append(f"{name} ({', '.join(candidates[:3])})")
            else:
                missing.append(name)
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise DatasetError(f"{self.what} {self.path}: input image {missing[0]}{more} not in its images (matched "
                               f"by file_name, or <split>/<name> of coco_url; {len(self.images)} images)")
        twice = defaultdict(list)
        for name, im in out.items():
            twice[id(im)].append(name)
        twice = [names for names in twice.values() if len(names) > 1]
        if twice:
            raise DatasetError(f"{self.what} {self.path}: input images {twice[0][0]} and {twice[0][1]} both match "
                               f"image {out[twice[0][0]]['id']}")
        if ambiguous:
            raise DatasetError(f"{self.what} {self.path}: input image {ambiguous[0]} matches several images by "
                               f"name; give the images so their paths below --images match the json's")
        return out

    # --- categories ---------------------------------------------------------------------------------------------
    def vocabulary(self, stuff_marks: bool = False) -> tuple[list[str], list[int]]:
        """The json's categories in id order as (classes, ids); with ``stuff_marks`` a category with ``isthing``
        0 gets a trailing ``*`` (FC-CLIP's stuff mark)."""
        classes = [c["name"] + ("*" if stuff_marks and c.get("isthing", 1) == 0 else "") for c in self.categories]
        return classes, [c["id"] for c in self.categories]

    def match_classes(self, classes: list[str], stuff_marks: bool = False) -> tuple[list[str], list[int]]:
        """(classes, the json's category ids): each class is the category one of whose synonyms is its name
        (compared as ``normalize_name`` does: case, ``_`` vs space). A class naming no category, or two, or a
        category named by two classes, is an error naming them. With ``stuff_marks`` (FC-CLIP) a class takes its
        category's ``isthing`` (a trailing ``*`` is added for stuff); a ``*`` on a thing category is an error."""
        by_name: dict[str, list[dict]] = defaultdict(list)
        for c in self.categories:
            by_name[normalize_name(str(c["name"]))].append(c)
        ids, out, used = [], [], {}
        for k, cls in enumerate(classes):
            found = {c["id"]: c for s in cls.split(",") for c in by_name.get(normalize_name(s), [])}
            if not found:
                raise DatasetError(f"{self.what} {self.path}: class {cls!r} is not a category name of the json "
                                   f"(compared ignoring case and '_' vs ' '; e.g. {self.categories[0]['name']!r})")
            if len(found) > 1:
                raise DatasetError(f"{self.what} {self.path}: class {cls!r} names several categories "
                                   f"{[c['name'] for c in found.values()]}")
            cat = next(iter(found.values()))
            if cat["id"] in used:
                raise DatasetError(f"{self.what} {self.path}: classes {classes[used[cat['id']]]!r} and {cls!r} "
                                   f"both name category {cat['name']!r} (id {cat['id']})")
            used[cat["id"]] = k
            if stuff_marks and "isthing" in cat:
                marked = cls.rstrip().endswith("*")
                if marked and cat["isthing"]:
                    raise DatasetError(f"{self.what} {self.path}: class {cls!r} is marked stuff ('*') but category "
                                       f"{cat['name']!r} has isthing 1")
                if not cat["isthing"] and not marked:
                    cls += "*"
            ids.append(cat["id"])
            out.append(cls)
        return out, ids
