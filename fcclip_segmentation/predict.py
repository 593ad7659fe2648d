"""``python -m fcclip_segmentation.predict --pretrained DIR --images DIR_OR_GLOB... [--classes "a;sky*"]
[--ann GT.json] --out OUT [--vis]``

Open-vocabulary panoptic segmentation with any class list on folders / globs / files of images. Writes
COCO-panoptic predictions (``OUT/panoptic/<name>.png`` segment-id PNGs + ``OUT/panoptic.json`` with images,
annotations — ``image_id``, ``file_name`` of the PNG, ``segments_info`` with ``category_id`` and ``isthing`` — and
categories; the format ``fcclip_segmentation.metrics.panoptic_quality`` and panopticapi read), semantic label maps
``OUT/semantic/<name>.png`` (pixel = class position in the list, 0-based; 16-bit beyond 256 classes), and with
``--vis`` one picture per image in ``OUT/vis/``. Resumable: a rerun skips the images already done
(``OUT/progress.jsonl``); a rerun with other settings is refused.

Ids: with ``--ann GT.json`` (a COCO-panoptic, COCO or LVIS json) image ids and file names come from it by file
name, category ids (and thing/stuff, from ``isthing``) by class name, and without ``--classes`` its categories
are the vocabulary: ``panoptic.json`` then evaluates against GT.json as it is. Without it images are numbered
1, 2, … and classes carry the ids of ``@file`` ``id:name`` lines or 1, 2, … in list order (listed in
``panoptic.json`` ``categories``).

Classes: separated by ``;``, synonyms of one class by ``,``, a trailing ``*`` marks a stuff class (default: thing),
or ``@file.txt`` (one class per line: ``id:syn1,syn2`` or plain ``syn1,syn2``), e.g.
``--classes "red circle,red disc;sky*;grass*"``. Default: the ``--ann`` categories, else the model's saved
vocabulary. Classes sharing a synonym with the training vocabulary are "seen" (α).

The model: ``--pretrained DIR`` or ``--config CFG --checkpoint CKPT [key=value ...]``. ``--image IMG --out OUT.png``
draws one image (no other files).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from shared.classes import CLASSES_HELP


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main

    return run_main(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    from shared.batch_predict import prediction_parser, start_prediction

    from .config import FCCLIPConfig
    from .pretrained import FCCLIP

    p = prediction_parser("python -m fcclip_segmentation.predict", __doc__,
                          CLASSES_HELP + '; a trailing "*" marks a stuff class: "red circle,red disc;sky*;grass*"')
    p.add_argument("--score-threshold", type=float, default=None,
                   help="keep segments scoring above this (default: the model's object_mask_threshold)")
    started = start_prediction(p, argv, FCCLIP, FCCLIPConfig, stuff_marks=True)
    if started is None:
        return 2
    args, model, run, files, root = started
    if args.image:
        return _one_image(model, args)
    with run:
        records = run.run(files, root, lambda batch: _predict(model, batch, args, root), args.batch_size,
                          progress=not args.no_progress)
        write_outputs(run.out, records, model, run.gt_images)
    n = sum(len(r["segments_info"]) for r in records)
    print(f"{len(records)}/{len(files)} images, {n} segments -> {run.out / 'panoptic.json'}, "
          f"{run.out / 'panoptic'}, {run.out / 'semantic'}" + (f", pictures in {run.out / 'vis'}" if args.vis else ""))
    return 0


def _predict(model, batch, args, root):
    from PIL import Image

    from shared.batch_predict import output_stem, read_images
    from shared.formats.panoptic import id_to_rgb
    from shared.io import atomic_path

    out = Path(args.out)
    loaded = list(read_images(batch))
    ok = [(f, im) for f, _, im in loaded if im is not None]
    preds = model.predict([im for _, im in ok], args.score_threshold, batch_size=args.batch_size) if ok else []
    by_file = {}
    for (file, im), r in zip(ok, preds):
        stem = output_stem(file, root)
        with atomic_path(out / "panoptic" / f"{stem}.png") as tmp:
            Image.fromarray(id_to_rgb(r["panoptic"])).save(tmp, format="PNG")
        with atomic_path(out / "semantic" / f"{stem}.png") as tmp:
            sem = r["semantic"].astype(np.uint8 if len(model.class_names) <= 256 else np.uint16)
            Image.fromarray(sem).save(tmp, format="PNG")
        if args.vis:
            with atomic_path(out / "vis" / f"{stem}.png") as tmp:
                model.draw(im, r).save(tmp, format="PNG")
        by_file[file] = {"height": int(im.shape[0]), "width": int(im.shape[1]), "png": f"{stem}.png",
                         "segments_info": [{"id": s["id"], "category_id": s["category_id"],
                                            "isthing": int(s["isthing"]), "iscrowd": 0, "area": s["area"],
                                            "score": s["score"]}
                                           for s in r["segments"]]}
    for file, _, _ in loaded:
        yield file, by_file.get(file)


def categories(model) -> list[dict]:
    """COCO-panoptic categories of the vocabulary: its category id, name = first synonym, isthing."""
    return [{"id": i, "name": n.split(",")[0], "synonyms": n.split(","), "isthing": int(t)}
            for i, n, t in zip(model.category_ids, model.class_names, model.is_thing.tolist())]


def write_outputs(out: Path, records: list[dict], model, gt_images: dict[str, dict] | None = None) -> None:
    """``panoptic.json``; ``gt_images`` ({input name: ``--ann`` image record}): images keep the json's file_name."""
    from shared.io import atomic_write_json

    def file_name(r):
        gt = gt_images.get(r["file_name"], {}) if gt_images else {}
        return gt.get("file_name", r["file_name"])

    atomic_write_json(out / "panoptic.json", {
        "images": [{"id": r["image_id"], "file_name": file_name(r), "width": r["width"], "height": r["height"]}
                   for r in records],
        "annotations": [{"image_id": r["image_id"], "file_name": r["png"], "segments_info": r["segments_info"]}
                        for r in records],
        "categories": categories(model)}, indent=None)


def _one_image(model, args) -> int:
    from shared.io import atomic_path

    try:
        r = model.predict(args.image, args.score_threshold)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with atomic_path(args.out) as tmp:
        model.draw(args.image, r).save(tmp, format="PNG")
    for s in r["segments"]:
        print(f"  {s['label_name']:20s} {'thing' if s['isthing'] else 'stuff'}  score {s['score']:.3f}  {s['area']} px")
    print(f"{len(r['segments'])} segments -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
