"""Lazy LLaVA json dataset, collator and the modality-grouped length sampler."""
from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import Dataset, Sampler

from .image import ImageError, open_image, process_images
from shared.engine.distributed import all_gather_objects, is_distributed
from shared.formats.validate import DatasetError, RecordProblems

from .conversation import get_template
from .preprocess import (DEFAULT_IMAGE_TOKEN, IGNORE_INDEX, ConversationError, encode_record, reference_turns, render,
                         validate_record)

log = logging.getLogger(__name__)


SKIP_HINT = "--on_bad_record skip"
IMAGE_SKIP_HINT = "--on_bad_image skip"


def load_llava_json(path: str | Path, on_bad: str = "error", template: str = "v1") -> list[dict]:
    """The records of a LLaVA json, each checked (``validate_record``) in one pass: ``on_bad="error"`` raises a
    ``DatasetError`` listing the first 20 bad records (index, id, problem), ``"skip"`` leaves them out (logged)."""
    return _load_records(path, on_bad, template)[0]


def _load_records(path: str | Path, on_bad: str, template: str) -> tuple[list[dict], int, Counter, list[int]]:
    """(the good records, the number skipped, how many records each ``validate_record`` note applies to, the good
    records' positions in the file)."""
    from shared.io import load_json

    data = load_json(path, "LLaVA json")
    if not isinstance(data, list):
        raise DatasetError(f"LLaVA json {path} must hold a list of records, got {type(data).__name__}")
    problems = RecordProblems(path, on_bad, skip_hint=SKIP_HINT)
    notes: Counter = Counter()
    for i, rec in enumerate(data):
        try:
            notes.update(validate_record(rec, f"#{i} ", template))
        except ConversationError as e:
            where, _, message = str(e).partition(": ")
            problems.add(i, where, "", message)
    skipped = problems.finish()
    kept = [i for i in range(len(data)) if not problems.bad(i)]
    return [data[i] for i in kept], skipped, notes, kept


def image_problem(path: Path) -> str | None:
    """Why ``path`` is not a readable image (None: it is): missing, or not an image PIL can open (header, size;
    ``verify`` also checks PNG chunk checksums). No pixel decoding: about 0.14 ms per COCO JPEG (page-cached)."""
    from PIL import Image

    if not path.is_file():
        return f"file not found: {path}"
    try:
        with Image.open(path) as im:
            im.verify()
            w, h = im.size
    except Exception as e:  # PIL raises many types for a bad file (UnidentifiedImageError, OSError, SyntaxError, …)
        return f"not an image PIL can read ({type(e).__name__}: {e}): {path}"
    if w <= 0 or h <= 0:
        return f"image of size {w}x{h}: {path}"
    return None


@dataclass
class CheckedRecords:
    """A LLaVA json after the up-front pass (``check_llava_data``)."""

    path: str
    records: list[dict]
    skipped: int = 0  # records left out (bad records, bad images) with on_bad_record / on_bad_image skip
    notes: Counter = field(default_factory=Counter)  # records the reference trains on in a particular way
    index: list[int] = field(default_factory=list)  # each record's position in the file (for messages)


def check_llava_data(data_path: str | Path, template: str = "v1", image_folder: str | Path | None = None,
                     on_bad_record: str = "error", on_bad_image: str = "error", check_images: bool = True,
                     threads: int | None = None) -> CheckedRecords:
    """Every record and every image of a LLaVA json checked in one pass, before any model is built.

    Records: ``validate_record`` (only what the reference cannot train on is refused). Images: each distinct file
    opened once (``image_problem``: exists, PIL reads its header and size; no decoding). Problems are listed
    together (first 20, with index, id and the path tried: ``DatasetError``) or, with ``on_bad_record`` /
    ``on_bad_image`` ``skip``, left out and counted."""
    for name, v in (("on_bad_record", on_bad_record), ("on_bad_image", on_bad_image)):
        if v not in ("error", "skip"):
            raise ValueError(f"{name} must be 'error' or 'skip', got {v!r}")
    records, skipped, notes, index = _load_records(data_path, on_bad_record, template)
    with_image = [i for i, r in enumerate(records) if "image" in r]
    if with_image and image_folder is None:
        raise DatasetError(f"{data_path} has image records but no image folder was given")
    if with_image and check_images:
        folder = Path(image_folder)
        files = sorted({records[i]["image"] for i in with_image})
        # under torchrun each process checks its share of the files and all learn every problem
        rank, world = (dist.get_rank(), dist.get_world_size()) if is_distributed() else (0, 1)
        mine = files[rank::world]
        log.info("%s: checking %d of %d image files (header and size)", data_path, len(mine), len(files))
        workers = threads or min(8, 2 * (os.cpu_count() or 1))
        if len(mine) > 256 and workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                found = dict(zip(mine, pool.map(lambda f: image_problem(folder / f), mine, chunksize=64)))
        else:
            found = {f: image_problem(folder / f) for f in mine}
        found = {f: why for part in all_gather_objects({f: w for f, w in found.items() if w}) for f, why in part.items()}
        skip = "skip" in (on_bad_image, on_bad_record)
        problems = RecordProblems(data_path, "skip" if skip else "error", skip_hint=IMAGE_SKIP_HINT)
        for i in with_image:
            why = found.get(records[i]["image"])
            if why:
                problems.add(i, f"#{index[i]} record {records[i].get('id', '?')!r}", f"image {records[i]['image']!r}:",
                             why)
        skipped += problems.finish("records (images)")
        index = [k for i, k in enumerate(index) if not problems.bad(i)]
        records = [r for i, r in enumerate(records) if not problems.bad(i)]
    return CheckedRecords(str(data_path), records, skipped, notes, index)


class LazySupervisedDataset(Dataset):
    """Records and images are checked on load, in one pass (``check_llava_data``; or pass its result as
    ``data_path`` to run it before the model is built); tokenisation and image loading happen in ``__getitem__``.

    ``on_bad_record``: bad records, missing or unreadable image files and records whose image does not fit
    ``model_max_length`` are listed in one ``DatasetError`` (first 20) or, with ``skip``, left out and counted in
    ``self.skipped``. ``on_bad_image``: an image that opens but cannot be decoded at ``__getitem__`` raises an
    ``ImageError`` naming the file and record, or with ``skip`` the sample is returned as ``None`` (the collator
    drops it; counted); ``skip`` also skips bad image files at load. Never the reference's "use sample 0's image".
    """

    def __init__(self, data_path, tokenizer, image_processor, image_folder=None, template: str = "v1",
                 image_aspect_ratio: str = "square", image_token_id: int | None = None, num_image_tokens: int = 0,
                 model_max_length: int | None = None, on_bad_image: str = "error", cache_images: bool = False,
                 on_bad_record: str = "error", image_reading: str = "photo", check_images: bool = True):
        if on_bad_image not in ("error", "skip"):
            raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
        checked = data_path if isinstance(data_path, CheckedRecords) else check_llava_data(
            data_path, template, image_folder, on_bad_record, on_bad_image, check_images)
        self.path = checked.path
        self.records, self.skipped, self.notes = checked.records, checked.skipped, checked.notes
        self.index = checked.index or list(range(len(self.records)))
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.image_folder = Path(image_folder) if image_folder else None
        self.template = template
        self.aspect = image_aspect_ratio
        self.image_reading = image_reading  # photo | reference (shared.image.read_image)
        self.image_token_id = image_token_id if image_token_id is not None else tokenizer.convert_tokens_to_ids("<image>")
        self.num_image_tokens = num_image_tokens
        self.max_len = model_max_length or tokenizer.model_max_length
        self.on_bad_image = on_bad_image
        self.cache_images = cache_images  # keep processed pixels in memory (small datasets only)
        self._cache: dict[int, torch.Tensor] = {}
        self.truncated = 0
        self.mismatched = 0
        if self.num_image_tokens:
            self._check_image_fits(on_bad_record)
        if not self.records:
            raise DatasetError(f"{self.path}: no usable records")

    def _check_image_fits(self, on_bad: str) -> None:
        """Records whose image placeholders would not fit ``model_max_length`` (the reference cuts the image's
        features; HF Llava cannot): listed or skipped. The text before an image in the first human turn is the
        same for every record (one tokenisation); other records are rendered."""
        from .preprocess import tokenizer_image_token

        first = render([{"from": "human", "value": DEFAULT_IMAGE_TOKEN}, {"from": "gpt", "value": "x"}],
                       self.template).split(DEFAULT_IMAGE_TOKEN)[0]
        heads = {first: len(tokenizer_image_token(first, self.tokenizer))}
        if heads[first] + self.num_image_tokens >= self.max_len and any("image" in r for r in self.records):
            raise DatasetError(f"{self.path}: model_max_length {self.max_len} cannot hold an image in the first turn "
                               f"({heads[first]} text tokens before it + {self.num_image_tokens} image tokens); "
                               f"raise --model_max_length")
        problems = RecordProblems(self.path, on_bad, skip_hint=SKIP_HINT)
        plain = get_template(self.template).style == "plain"
        for i, r in enumerate(self.records):
            if "image" not in r:
                continue
            conv = r["conversations"]
            if plain or (conv[0].get("from") == "human" and DEFAULT_IMAGE_TOKEN in conv[0]["value"]):
                head = first
            else:
                prompt = render(reference_turns(r, self.template), self.template)
                if DEFAULT_IMAGE_TOKEN not in prompt:
                    continue
                head = prompt.split(DEFAULT_IMAGE_TOKEN)[0]
            if head not in heads:
                heads[head] = len(tokenizer_image_token(head, self.tokenizer))
            if heads[head] + self.num_image_tokens >= self.max_len:
                problems.add(i, f"#{self.index[i]} record {r.get('id', '?')!r}", "", f"{heads[head]} text tokens + "
                             f"{self.num_image_tokens} image tokens do not fit model_max_length {self.max_len}")
        self.skipped += problems.finish("records (image does not fit)")
        self.index = [k for i, k in enumerate(self.index) if not problems.bad(i)]
        self.records = [r for i, r in enumerate(self.records) if not problems.bad(i)]

    def __len__(self):
        return len(self.records)

    @property
    def lengths(self) -> list[int]:
        return [sum(len(t["value"].split()) for t in r["conversations"]) + (128 if "image" in r else 0)
                for r in self.records]

    @property
    def modality_lengths(self) -> list[int]:
        """Word counts, negative for records without an ``image`` key (the reference's rule, also for a record
        whose image is not used)."""
        out = []
        for r in self.records:
            n = sum(len(t["value"].split()) for t in r["conversations"])
            out.append(n if "image" in r else -n)
        return out

    def __getitem__(self, i: int):
        rec = self.records[i]
        enc = encode_record(rec, self.tokenizer, self.template, self.image_token_id, self.num_image_tokens,
                            self.max_len, where=f"{self.path}: ")
        self.truncated += int(enc.truncated)
        self.mismatched += int(enc.mismatch)
        if enc.truncated:
            log.warning("%s: record %r truncated to model_max_length %d (%d so far)", self.path, rec.get("id"),
                        self.max_len, self.truncated)
        item = {"input_ids": torch.tensor(enc.input_ids), "labels": torch.tensor(enc.labels)}
        if enc.uses_image and i in self._cache:
            item["pixel_values"] = self._cache[i]
        elif enc.uses_image:
            try:
                img = open_image(self.image_folder / rec["image"], self.image_reading)
            except ImageError as e:
                if self.on_bad_image == "error":
                    raise ImageError(f"{self.path}: record {rec.get('id')!r}: {e} ({IMAGE_SKIP_HINT} skips such "
                                     f"records)") from None
                self.skipped += 1
                log.warning("%s: record %r skipped: %s (%d skipped)", self.path, rec.get("id"), e, self.skipped)
                return None
            item["pixel_values"] = process_images([img], self.image_processor, self.aspect)[0]
            if self.cache_images:
                self._cache[i] = item["pixel_values"]
        return item


@dataclass
class DataCollator:
    """Right-pads ids (pad id) and labels (−100); stacks images of the image samples only (HF Llava needs one
    image per placeholder group, so text-only samples carry none). ``None`` items (skipped) are dropped."""

    pad_token_id: int
    model_max_length: int = 2048
    dropped: int = field(default=0)

    def __call__(self, items):
        items = [x for x in items if x is not None]
        if not items:
            raise ImageError("every sample of this batch was skipped (unreadable images)")
        n = min(max(len(x["input_ids"]) for x in items), self.model_max_length)
        ids = torch.full((len(items), n), self.pad_token_id, dtype=torch.long)
        labels = torch.full((len(items), n), IGNORE_INDEX, dtype=torch.long)
        mask = torch.zeros((len(items), n), dtype=torch.long)
        for k, x in enumerate(items):
            m = min(len(x["input_ids"]), n)
            ids[k, :m] = x["input_ids"][:m]
            labels[k, :m] = x["labels"][:m]
            mask[k, :m] = 1
        batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        pix = [x["pixel_values"] for x in items if "pixel_values" in x]
        if pix:
            batch["pixel_values"] = torch.stack(pix)
        return batch


# ---------------------------------------------------------------- modality-grouped length sampler (reference)
def _split_to_even_chunks(indices, lengths, num_chunks):
    if len(indices) % num_chunks != 0:
        return [indices[i::num_chunks] for i in range(num_chunks)]
    per = len(indices) // num_chunks
    chunks = [[] for _ in range(num_chunks)]
    totals = [0] * num_chunks
    for idx in indices:
        s = totals.index(min(totals))
        chunks[s].append(idx)
        totals[s] += lengths[idx]
        if len(chunks[s]) == per:
            totals[s] = float("inf")
    return chunks


def get_length_grouped_indices(lengths, batch_size, world_size, generator=None):
    indices = torch.randperm(len(lengths), generator=generator)
    mb = world_size * batch_size
    megabatches = [indices[i:i + mb].tolist() for i in range(0, len(lengths), mb)]
    megabatches = [sorted(m, key=lambda i: lengths[i], reverse=True) for m in megabatches]
    megabatches = [_split_to_even_chunks(m, lengths, world_size) for m in megabatches]
    return [i for m in megabatches for batch in m for i in batch]


def get_modality_length_grouped_indices(lengths, batch_size, world_size, generator=None):
    """Image (length > 0) and text-only (< 0) samples never share a megabatch, except the final mixed one."""
    if any(l == 0 for l in lengths):
        raise ValueError("modality lengths must be non-zero")
    if all(l > 0 for l in lengths) or all(l < 0 for l in lengths):
        return get_length_grouped_indices([abs(l) for l in lengths], batch_size, world_size, generator)
    mm_idx, mm_len = zip(*[(i, l) for i, l in enumerate(lengths) if l > 0])
    lang_idx, lang_len = zip(*[(i, -l) for i, l in enumerate(lengths) if l < 0])
    mm_shuffle = [mm_idx[i] for i in get_length_grouped_indices(mm_len, batch_size, world_size, generator)]
    lang_shuffle = [lang_idx[i] for i in get_length_grouped_indices(lang_len, batch_size, world_size, generator)]
    mb = world_size * batch_size
    mm_mbs = [mm_shuffle[i:i + mb] for i in range(0, len(mm_shuffle), mb)]
    lang_mbs = [lang_shuffle[i:i + mb] for i in range(0, len(lang_shuffle), mb)]
    additional = mm_mbs[-1] + lang_mbs[-1]
    megabatches = mm_mbs[:-1] + lang_mbs[:-1]
    order = torch.randperm(len(megabatches), generator=generator)
    megabatches = [megabatches[i] for i in order]
    if additional:
        megabatches.append(sorted(additional))
    return [i for m in megabatches for i in m]


class ModalityLengthGroupedSampler(Sampler):
    """Global order (identical on every rank; the Trainer's dataloader shards the batches)."""

    def __init__(self, batch_size: int, world_size: int, lengths: list[int], seed: int = 0):
        self.batch_size, self.world_size, self.lengths, self.seed = batch_size, world_size, lengths, seed
        self.epoch = 0

    def set_epoch(self, epoch: int):
        self.epoch = epoch

    def __len__(self):
        return len(self.lengths)

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        return iter(get_modality_length_grouped_indices(self.lengths, self.batch_size, self.world_size, g))
