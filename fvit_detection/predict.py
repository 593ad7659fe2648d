"""``python -m fvit_detection.predict --pretrained DIR --images DIR_OR_GLOB... [--classes "cat;dog"] [--ann GT.json]
--out OUT [--vis]``

Open-vocabulary detection with any class list on folders / globs / files of images. Writes ``OUT/results.json``
(COCO results: image_id, category_id, bbox xywh inside the image, score, segmentation RLE when the model has masks),
``OUT/categories.json`` (id, name, synonyms of each class) and ``OUT/images.json`` (id, file_name, width, height
of each image), and with ``--vis`` one picture per image in ``OUT/vis/``. Resumable: a rerun skips the images
already done (``OUT/progress.jsonl``); a rerun with other settings is refused.

Ids: with ``--ann GT.json`` (a COCO, LVIS or COCO-panoptic json) image ids come from it by file name and category
ids by class name, and without ``--classes`` its categories are the vocabulary: ``results.json`` then evaluates
against GT.json as it is (pycocotools ``loadRes`` / lvis api). Without it images are numbered 1, 2, … (see
``images.json``) and classes carry the ids of ``@file`` ``id:name`` lines or 1, 2, … in list order.

Classes: separated by ``;``, synonyms of one class by ``,``, or ``@file.txt`` (one class per line: ``id:syn1,syn2``
or plain ``syn1,syn2``), e.g. ``--classes "traffic light;cat,kitty;dog"``. Default: the ``--ann`` categories, else
the model's saved vocabulary. Classes sharing a synonym with the training vocabulary are scored as base (α), the
others as novel (β).

The model: ``--pretrained DIR`` (``save_pretrained`` / ``train.export_pretrained`` / ``convert --config``) or
``--config CFG --checkpoint CKPT [key=value ...]``. ``--image IMG --out OUT.png`` draws one image (no json files).
"""
from __future__ import annotations

import sys
from pathlib import Path

from shared.classes import CLASSES_HELP
from shared.draw import DETECTION_MIN_SCORE as DEFAULT_DRAW_SCORE


def main(argv: list[str] | None = None) -> int:
    from shared.cli import run_main

    return run_main(lambda: _main(argv))


def _main(argv: list[str] | None) -> int:
    from shared.batch_predict import prediction_parser, start_prediction

    from .config import FViTConfig
    from .pretrained import FViT

    p = prediction_parser("python -m fvit_detection.predict", __doc__, CLASSES_HELP)
    p.add_argument("--score-threshold", type=float, default=None,
                   help="keep detections scoring at least this in results.json (default: all the model returns)")
    p.add_argument("--min-score", type=float, default=DEFAULT_DRAW_SCORE,
                   help=f"draw detections scoring at least this (default {DEFAULT_DRAW_SCORE})")
    started = start_prediction(p, argv, FViT, FViTConfig)
    if started is None:
        return 2
    args, model, run, files, root = started
    if args.image:
        return _one_image(model, args)
    with run:
        records = run.run(files, root, lambda batch: _predict(model, batch, args, root), args.batch_size,
                          progress=not args.no_progress)
        write_outputs(run.out, records, model.class_names, model.category_ids)
    n = sum(len(r["detections"]) for r in records)
    print(f"{len(records)}/{len(files)} images, {n} detections -> {run.out / 'results.json'}"
          + (f", pictures in {run.out / 'vis'}" if args.vis else ""))
    return 0


def _predict(model, batch, args, root):
    from shared.batch_predict import output_stem, read_images
    from shared.io import atomic_path

    from .metrics import results_records

    loaded = list(read_images(batch))
    ok = [(f, i, im) for f, i, im in loaded if im is not None]
    preds = model.predict([im for _, _, im in ok], args.score_threshold, batch_size=args.batch_size) if ok else []
    by_file = {}
    for (file, image_id, im), det in zip(ok, preds):
        if args.vis:
            with atomic_path(Path(args.out) / "vis" / f"{output_stem(file, root)}.png") as tmp:
                model.draw(im, det, args.min_score).save(tmp, format="PNG")
        recs = [{k: v for k, v in r.items() if k != "image_id"}
                for r in results_records(det, image_id, model.category_ids)]
        by_file[file] = {"height": int(im.shape[0]), "width": int(im.shape[1]), "detections": recs}
    for file, _, _ in loaded:
        yield file, by_file.get(file)


def categories(class_names: list[str], category_ids: list[int]) -> list[dict]:
    """COCO categories of a vocabulary: its category id, name = first synonym, all synonyms kept."""
    return [{"id": i, "name": n.split(",")[0], "synonyms": n.split(",")} for i, n in zip(category_ids, class_names)]


def write_outputs(out: Path, records: list[dict], class_names: list[str], category_ids: list[int]) -> None:
    from shared.io import atomic_write_json

    atomic_write_json(out / "categories.json", categories(class_names, category_ids))
    atomic_write_json(out / "images.json", [{"id": r["image_id"], "file_name": r["file_name"], "width": r["width"],
                                             "height": r["height"]} for r in records])
    atomic_write_json(out / "results.json", [{"image_id": r["image_id"], **d} for r in records
                                             for d in r["detections"]], indent=None)


def _one_image(model, args) -> int:
    from shared.io import atomic_path

    try:
        det = model.predict(args.image)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    with atomic_path(args.out) as tmp:
        model.draw(args.image, det, args.min_score).save(tmp, format="PNG")
    for k in range(min(5, len(det["scores"]))):
        box = [round(v) for v in det["boxes"][k].tolist()]
        print(f"  {det['label_names'][k]:24s} {float(det['scores'][k]):.3f}  box {box}")
    print(f"{int((det['scores'] >= args.min_score).sum())} detections ≥ {args.min_score} drawn -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
