"""The frame of the batch prediction CLIs: image lists, a resumable output folder, a progress bar.

One run per output folder: a run holds an OS lock on ``OUT/.lock`` (``shared.engine.rundir.RunLock``, as training
runs do); a second run into the same ``--out`` is refused at once naming the holder, and the stale temporaries of
a killed run's atomic writes (``OUT``, ``OUT/panoptic/``, ``OUT/vis/``, …) are removed under the lock.
``OUT/progress.jsonl`` gets one line per finished image (its id, file name, size and the adapter's records),
flushed as it goes; a rerun with the same settings skips those images. ``OUT/run.json`` holds the settings
(classes, model, threshold) and is written once the model has loaded: a rerun with other settings is refused
while the folder holds finished images, instead of mixing two runs in one folder; a start that failed before any
image (a wrong ``--pretrained``) does not block the corrected rerun. The adapter turns the lines into its final
files (COCO results json, panoptic json) at the end.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys
from pathlib import Path
from typing import Callable, Iterable

from shared.io import atomic_write_json, ensure_writable_dir, load_json, remove_stale_temporaries

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
PROGRESS_FILE, RUN_FILE = "progress.jsonl", "run.json"


def list_images(spec: str) -> tuple[list[Path], Path]:
    """A folder (its image files, sorted, not recursive), a glob (``**`` recursive) or one file →
    (files, root that output names are relative to)."""
    p = Path(spec)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        root = p
    elif p.is_file():
        files, root = [p], p.parent
    else:
        files = sorted(Path(f) for f in glob.glob(spec, recursive=True)
                       if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_SUFFIXES)
        root = Path(os.path.commonpath([str(f.parent) for f in files])) if files else Path(".")
    if not files:
        raise FileNotFoundError(f"--images {spec}: no image files ({', '.join(IMAGE_SUFFIXES)})")
    return files, root


def list_all_images(specs: list[str]) -> tuple[list[Path], Path]:
    """``list_images`` of several ``--images`` arguments (e.g. a glob the shell expanded): every file once, in
    the order given, named relative to the folder common to all."""
    if len(specs) == 1:
        return list_images(specs[0])
    files: list[Path] = []
    roots = []
    for spec in specs:
        found, root = list_images(spec)
        files += [f for f in map(_absolute, found) if f not in files]
        roots.append(_absolute(root))
    return files, Path(os.path.commonpath([str(r) for r in roots]))


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))  # not resolve(): a symlinked photo keeps the name it is given by


def input_name(file: Path, root: Path) -> str:
    """An input file's name in the outputs: its path below ``root``, ``/``-separated."""
    return file.relative_to(root).as_posix()


def output_stem(file: Path, root: Path) -> str:
    """A flat, unique output name for an input file: its path below ``root`` without suffix, ``/`` → ``__``."""
    return file.relative_to(root).with_suffix("").as_posix().replace("/", "__")


class BatchRun:
    """The output folder of one batch prediction run, held (locked) until ``close``."""

    def __init__(self, out: str | Path, settings: dict, gt_images: dict[str, dict] | None = None):
        """Take ``out`` (lock, stale temporaries) and check ``settings`` against a run it holds, before the model
        loads. ``gt_images``: {input name: image record of the ``--ann`` json}; their ids are used (else 1, 2, …)."""
        from shared.engine.rundir import RunLock

        self.gt_images, self.settings = gt_images, settings
        self.out = Path(out)
        self._lock = RunLock(self.out, "--out")  # one run per folder; unwritable folders fail here, before the model
        try:
            remove_stale_temporaries(self.out, depth=1)  # ours, of a killed run: OUT and panoptic/, semantic/, vis/
            self.done = self._read_progress()
            run_file = self.out / RUN_FILE
            old = load_json(run_file, "run settings") if run_file.is_file() else None
            changed = {k: (old.get(k), v) for k, v in settings.items() if old.get(k) != v} if old else {}
            if changed and self.done:  # without finished images there is nothing to mix: the new settings hold
                n = len(self.done)
                raise ValueError(f"--out {self.out} holds a run with other settings ({n} image{'s' * (n != 1)} done): "
                                 + "; ".join(f"{k}: {a!r} → {b!r}" for k, (a, b) in changed.items())
                                 + " (use another --out or delete it)")
        except BaseException:
            self.close(discard=True)
            raise

    def commit(self) -> None:
        """Record the settings in ``OUT/run.json``; called once the model has loaded, so a failed start leaves
        nothing that refuses the corrected rerun."""
        run_file = self.out / RUN_FILE
        if not run_file.is_file() or load_json(run_file, "run settings") != self.settings:
            atomic_write_json(run_file, self.settings)

    def close(self, discard: bool = False) -> None:
        """Release the folder (also done by the OS when the process ends); ``discard``: a folder this run created
        and wrote nothing into is removed again (a failed start leaves no trace)."""
        if discard:
            self._lock.discard()
        self._lock.release()

    def __enter__(self) -> "BatchRun":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _read_progress(self) -> dict[str, dict]:
        path = self.out / PROGRESS_FILE
        done = {}
        if path.is_file():
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
            good = []
            for line in lines:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # the unfinished last line of a killed run: that image is redone
                done[rec["file_name"]] = rec
                good.append(line)
            if len(good) != len([x for x in lines if x]):  # drop the torn line so appends stay line-aligned
                with open(path, "w", encoding="utf-8") as f:
                    f.write("".join(g + "\n" for g in good))
        return done

    def run(self, files: list[Path], root: Path,
            predict: Callable[[list[tuple[Path, int]]], Iterable[tuple[Path, dict | None]]], batch_size: int,
            progress: bool = True) -> list[dict]:
        """Call ``predict`` on the not yet finished (file, image id) pairs, ``batch_size`` at a time; it yields
        (file, line record or None for an unreadable image). Returns all line records, in file order."""
        from tqdm import tqdm

        names = {f: input_name(f, root) for f in files}
        todo = [f for f in files if names[f] not in self.done]
        if self.gt_images is not None:
            ids = {f: self.gt_images[names[f]]["id"] for f in todo}
        else:
            first_id = max((r["image_id"] for r in self.done.values()), default=0) + 1
            ids = {f: first_id + k for k, f in enumerate(todo)}
        failed = []
        bar = tqdm(total=len(files), initial=len(files) - len(todo), desc="predict", unit="img",
                   disable=not progress, file=sys.stderr)
        with open(self.out / PROGRESS_FILE, "a", encoding="utf-8") as log:
            for i in range(0, len(todo), batch_size):
                for file, rec in predict([(f, ids[f]) for f in todo[i:i + batch_size]]):
                    if rec is None:
                        failed.append(file)
                    else:
                        rec = {"image_id": ids[file], "file_name": names[file], **rec}
                        log.write(json.dumps(rec) + "\n")
                        log.flush()
                        self.done[rec["file_name"]] = rec
                    bar.update(1)
        bar.close()
        if failed:
            print(f"warning: {len(failed)} unreadable image(s) skipped (retried on the next run), e.g. {failed[0]}",
                  file=sys.stderr)
        return [self.done[names[f]] for f in files if names[f] in self.done]


def read_images(batch: list[tuple[Path, int]]):
    """(file, id, (H, W, 3) uint8 or None when unreadable) for each pair; the error is printed."""
    from shared.pretrained import to_rgb

    for file, image_id in batch:
        try:
            yield file, image_id, to_rgb(file)
        except (OSError, ValueError) as e:
            print(f"warning: {e}", file=sys.stderr)
            yield file, image_id, None


def prediction_parser(prog: str, doc: str, classes_help: str) -> argparse.ArgumentParser:
    """The arguments both prediction CLIs share (model source, images, classes, ground truth, output, batching)."""
    p = argparse.ArgumentParser(prog=prog, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pretrained", help="pretrained folder (config.json + model.safetensors)")
    p.add_argument("--config", help="training config (with --checkpoint, instead of --pretrained)")
    p.add_argument("--checkpoint", help="last.pt written by the trainer")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", nargs="+", metavar="IMAGES",
                     help="image folders, globs ('photos/**/*.jpg') or files; several are all processed")
    src.add_argument("--image", help="one image: draw it to --out (a PNG)")
    p.add_argument("--classes", help=classes_help + " (default: the --ann json's categories, else the model's "
                                                    "vocabulary)")
    p.add_argument("--ann", metavar="GT.json",
                   help="ground-truth json (COCO, LVIS or COCO panoptic): image ids from it by file name, category "
                        "ids by class name (its categories are the vocabulary when --classes is not given), so the "
                        "outputs evaluate against it with no remapping")
    p.add_argument("--out", required=True, help="output folder (--images) or PNG (--image)")
    p.add_argument("--vis", action="store_true", help="also draw each image to OUT/vis/<name>.png")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, …")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (with --config)")
    return p


def _check_arguments(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if bool(args.pretrained) == bool(args.config or args.checkpoint):
        p.error("give either --pretrained DIR or --config CFG --checkpoint CKPT")
    if args.config and not args.checkpoint:
        p.error("--config needs --checkpoint")
    if args.overrides and not args.config:
        p.error(f"{args.overrides[0]!r}: key=value overrides apply to --config only")
    if args.batch_size < 1:
        p.error("--batch-size must be >= 1")
    for name in ("score_threshold", "min_score"):
        value = getattr(args, name, None)
        if value is not None and not 0 <= value <= 1:
            p.error(f"--{name.replace('_', '-')} {value}: expected a score in [0, 1]")
    for item in args.images or []:
        if "=" in item and not Path(item).exists() and not glob.has_magic(item):
            p.error(f"--images {item!r} is no image path (key=value overrides go before --images)")


def start_prediction(p: argparse.ArgumentParser, argv: list[str] | None, cls, config_cls, stuff_marks: bool = False):
    """Parse the arguments; check the device, the classes, ``--ann`` (every input image must be in it) and the
    output folder (``--images``: held for this run, refused settings, unwritable folders) before the model loads;
    load the model, set the vocabulary with its category ids and record the run's settings. ``stuff_marks``: the
    classes carry FC-CLIP's ``*`` (from the json's ``isthing``). Returns (args, model, run, files, root) — the
    caller closes ``run`` (``with run:``) —, or None after printing the one error (the caller exits with 2)."""
    from shared.classes import file_gives_ids, parse_vocabulary
    from shared.cli import check_device, report_user_error
    from shared.ground_truth import GroundTruth

    args = p.parse_args(argv)
    _check_arguments(p, args)
    run = files = root = None
    try:
        check_device(args.device)
        classes = ids = gt = None
        if args.classes is not None:  # "" is an error, not "the default"
            classes, ids = parse_vocabulary(args.classes, "--classes")
        if args.ann:
            gt = GroundTruth(args.ann)
            if classes is None:
                classes, ids = gt.vocabulary(stuff_marks)
            else:
                given = ids if file_gives_ids(args.classes) else None
                classes, ids = gt.match_classes(classes, stuff_marks)
                if given is not None and given != ids:
                    k = next(i for i, (a, b) in enumerate(zip(given, ids)) if a != b)
                    raise ValueError(f"--classes {args.classes}: class {classes[k]!r} has id {given[k]} there but "
                                     f"{ids[k]} in --ann {args.ann}")
        if args.images:
            files, root = list_all_images(args.images)
            gt_images = gt.match_images([input_name(f, root) for f in files]) if gt else None
            settings = run_settings(args, classes, category_ids=ids, score_threshold=args.score_threshold,
                                    ann=str(Path(args.ann).resolve()) if args.ann else None)
            run = BatchRun(args.out, settings, gt_images)
        else:
            ensure_writable_dir(Path(args.out).resolve().parent)  # fail before the model loads
        model = load_for_prediction(cls, config_cls, args)
        if classes:
            model.set_classes(classes, ids)
        if run is not None:
            run.commit()
    except Exception as e:  # noqa: BLE001 — a user's error is one line, anything else re-raised
        if run is not None:
            run.close(discard=True)
        if not report_user_error(e):
            raise
        return None
    return args, model, run, files, root


def load_for_prediction(cls, config_cls, args: argparse.Namespace):
    """The API model (``FViT`` / ``FCCLIP``) from ``--pretrained`` or ``--config`` + ``--checkpoint``."""
    from shared.engine import load_config

    if args.pretrained:
        return cls.from_pretrained(args.pretrained, device=args.device)
    return cls.from_config(load_config(config_cls, args.config, args.overrides), args.checkpoint).to(args.device)


def run_settings(args: argparse.Namespace, classes: list[str] | None, **extra) -> dict:
    """What a resumed run must share with the one that started the output folder."""
    return {"model": str(Path(args.pretrained or args.checkpoint).resolve()), "overrides": args.overrides,
            "classes": classes, **extra}
