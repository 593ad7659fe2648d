"""Where the image of a COCO / LVIS / COCO-panoptic ``images[]`` record lives below its image root.

- COCO instances and COCO panoptic: ``file_name`` is the bare name inside the split folder
  (``000000397133.jpg`` under ``coco/val2017/``). Every real COCO json also carries ``coco_url``; it is not used
  when ``file_name`` is present.
- LVIS v1: no ``file_name``; the last two parts of ``coco_url`` give ``<split>/<name>``
  (``val2017/000000397133.jpg``) under the folder holding the split folders (``coco/``), as detectron2's LVIS
  loader builds it. LVIS v1 val draws from both ``train2017/`` and ``val2017/``.
"""
from __future__ import annotations


def image_file(record: dict) -> tuple[str, str]:
    """(path below the image root, the field it came from: ``"file_name"`` or ``"coco_url"``) of an image record.
    Raises ``ValueError`` when the record has neither a ``file_name`` string nor a ``coco_url`` ending in
    ``<split>/<name>``."""
    name = record.get("file_name")
    if isinstance(name, str) and name:
        return name, "file_name"
    url = record.get("coco_url")
    if isinstance(url, str):
        parts = url.split("/")
        if len(parts) >= 2 and parts[-2] and parts[-1] and not parts[-2].endswith(":"):
            return f"{parts[-2]}/{parts[-1]}", "coco_url"
        raise ValueError(f"coco_url {url!r} does not end in <split folder>/<file name>")
    raise ValueError("has no file_name (COCO) and no coco_url (LVIS)")
