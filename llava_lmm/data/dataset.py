"""Lazy LLaVA json dataset, collator and the modality-grouped length sampler."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import Dataset, Sampler

from .image import ImageError, open_image, process_images
from shared.formats.validate import DatasetError, RecordProblems

from .preprocess import IGNORE_INDEX, ConversationError, encode_record, validate_record

log = logging.getLogger(__name__)


SKIP_HINT = "--on_bad_record skip"


def load_llava_json(path: str | Path, on_bad: str = "error") -> list[dict]:
    """The records of a LLaVA json, each checked (``validate_record``) in one pass: ``on_bad="error"`` raises a
    ``DatasetError`` listing the first 20 bad records (index, id, problem), ``"skip"`` leaves them out (logged)."""
    return _load_records(path, on_bad)[0]


def _load_records(path: str | Path, on_bad: str) -> tuple[list[dict], int]:
    """(the good records, the number skipped)."""
    from shared.io import load_json

    data = load_json(path, "LLaVA json")
    if not isinstance(data, list):
        raise DatasetError(f"LLaVA json {path} must hold a list of records, got {type(data).__name__}")
    problems = RecordProblems(path, on_bad, skip_hint=SKIP_HINT)
    for i, rec in enumerate(data):
        try:
            validate_record(rec, f"#{i} ")
        except ConversationError as e:
            where, _, message = str(e).partition(": ")
            problems.add(i, where, "", message)
    skipped = problems.finish()
    return [r for i, r in enumerate(data) if not problems.bad(i)], skipped


class LazySupervisedDataset(Dataset):
    """Records are validated on load, in one pass (conversation structure, and that every image file exists — a
    stat, no decode); tokenisation and image loading happen in ``__getitem__``.

    ``on_bad_record``: malformed records and missing image files are listed in one ``DatasetError`` (first 20)
    or, with ``skip``, left out and counted in ``self.skipped``. ``on_bad_image``: an image that cannot be read at
    ``__getitem__`` raises an ``ImageError`` naming the file, or with ``skip`` the sample is returned as ``None``
    (the collator drops it; counted); ``skip`` also skips missing image files at load. Never the reference's "use
    sample 0's image".
    """

    def __init__(self, data_path, tokenizer, image_processor, image_folder=None, template: str = "v1",
                 image_aspect_ratio: str = "square", image_token_id: int | None = None, num_image_tokens: int = 0,
                 model_max_length: int | None = None, on_bad_image: str = "error", cache_images: bool = False,
                 on_bad_record: str = "error", image_reading: str = "photo"):
        if on_bad_image not in ("error", "skip"):
            raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
        self.path = str(data_path)
        self.records, self.skipped = _load_records(data_path, on_bad_record)
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
        if any(r.get("image") for r in self.records) and self.image_folder is None:
            raise DatasetError(f"{self.path} has image records but no image folder was given")
        missing = RecordProblems(self.path, "skip" if "skip" in (on_bad_image, on_bad_record) else "error",
                                 skip_hint=SKIP_HINT)
        for i, r in enumerate(self.records):
            if r.get("image") and not (self.image_folder / r["image"]).is_file():
                missing.add(i, f"record {r.get('id', '?')!r}", "image",
                            f"file not found: {self.image_folder / r['image']}")
        self.skipped += missing.finish("records (missing image files)")
        self.records = [r for i, r in enumerate(self.records) if not missing.bad(i)]
        if not self.records:
            raise DatasetError(f"{self.path}: no usable records")

    def __len__(self):
        return len(self.records)

    @property
    def lengths(self) -> list[int]:
        return [sum(len(t["value"].split()) for t in r["conversations"]) + (128 if r.get("image") else 0)
                for r in self.records]

    @property
    def modality_lengths(self) -> list[int]:
        out = []
        for r in self.records:
            n = sum(len(t["value"].split()) for t in r["conversations"])
            out.append(n if r.get("image") else -n)
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
        if rec.get("image") and i in self._cache:
            item["pixel_values"] = self._cache[i]
        elif rec.get("image"):
            try:
                img = open_image(self.image_folder / rec["image"], self.image_reading)
            except ImageError as e:
                if self.on_bad_image == "error":
                    raise ImageError(f"{self.path}: record {rec.get('id')!r}: {e}") from None
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
