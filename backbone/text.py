"""Text classifiers from class names: prompts → CLIP text tower → one unit vector per class (or synonym)."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from shared.io import atomic_path

from .templates import TemplateSet, get_template_set

REDUCTIONS = ("mean", "max")
_CACHE_VERSION = 1


def split_synonyms(class_name: str) -> list[str]:
    """``"sky,heaven"`` → ``["sky", "heaven"]`` (spaces around commas dropped, empty parts removed)."""
    parts = [p.strip() for p in class_name.split(",")]
    parts = [p for p in parts if p]
    if not parts:
        raise ValueError(f"empty class name {class_name!r}")
    return parts


@dataclass
class TextClassifier:
    """Unit-norm text embeddings for a vocabulary.

    reduce="mean": ``embeddings`` is (C, D), one row per class (synonyms averaged, re-normalised).
    reduce="max": ``embeddings`` is (S, D), one row per synonym; ``class_index`` (S,) gives each row's class and
        a class scores the max over its synonyms (FC-CLIP / OpenSeg).
    ``background`` (D,) is the embedding of the literal "background" (F-ViT), when asked for.
    """

    class_names: list[str]
    embeddings: torch.Tensor
    class_index: torch.Tensor
    reduce: str
    background: torch.Tensor | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def weight(self) -> torch.Tensor:
        """(C, D) class embeddings, plus the background row last when present. Only for reduce="mean"."""
        if self.reduce != "mean":
            raise ValueError("a max-over-synonyms classifier has no single row per class; use logits()")
        rows = [self.embeddings] + ([self.background[None]] if self.background is not None else [])
        return torch.cat(rows)

    def logits(self, features: torch.Tensor, scale: float | torch.Tensor = 1.0) -> torch.Tensor:
        """(..., D) features → (..., C [+1 background]) scaled cosine similarities."""
        f = F.normalize(features, dim=-1)
        emb = self.embeddings.to(f)
        sims = f @ emb.t()
        if self.reduce == "max":
            idx = self.class_index.to(f.device).expand(*sims.shape[:-1], -1)
            out = sims.new_full((*sims.shape[:-1], self.num_classes), float("-inf"))
            sims = out.scatter_reduce(-1, idx, sims, reduce="amax")
        if self.background is not None:
            sims = torch.cat([sims, f @ self.background.to(f)[:, None]], dim=-1)
        return sims * scale

    def to(self, device) -> "TextClassifier":
        bg = None if self.background is None else self.background.to(device)
        return TextClassifier(self.class_names, self.embeddings.to(device), self.class_index.to(device),
                              self.reduce, bg)


@torch.no_grad()
def encode_prompts(clip_model: nn.Module, tokenizer, prompts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """(P,) prompts → (P, D) unit-norm CLIP text embeddings."""
    device = next(clip_model.parameters()).device
    was_training = clip_model.training
    clip_model.eval()
    try:
        out = [F.normalize(clip_model.encode_text(tokenizer(list(prompts[i:i + batch_size])).to(device)).float(), dim=-1)
               for i in range(0, len(prompts), batch_size)]
    finally:
        clip_model.train(was_training)
    return torch.cat(out)


def _embed_names(clip_model, tokenizer, names: Sequence[str], tset: TemplateSet, batch_size: int) -> torch.Tensor:
    """(N,) names → (N, D): per name, mean of its unit-norm prompt embeddings, re-normalised."""
    prompts = [p for n in names for p in tset.prompts(n)]
    emb = encode_prompts(clip_model, tokenizer, prompts, batch_size)
    return F.normalize(emb.view(len(names), len(tset.templates), -1).mean(dim=1), dim=-1)


def text_weights_fingerprint(clip_model: nn.Module) -> str:
    """sha256 of every non-image tensor of the CLIP model: changes whenever the text tower's weights do."""
    h = hashlib.sha256()
    for name, t in sorted(clip_model.state_dict().items()):
        if name.startswith("visual."):
            continue
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def build_text_classifier(
    model,
    class_names: Sequence[str],
    templates: str | TemplateSet | Sequence[str] = "fcclip",
    reduce: str = "mean",
    background: bool = False,
    cache_dir: str | os.PathLike | None = None,
    tokenizer=None,
    batch_size: int = 256,
) -> TextClassifier:
    """Text classifier for ``class_names`` (each may hold comma-separated synonyms).

    model: a ``ClipBackbone`` or an open_clip model (then pass ``tokenizer``).
    templates: ``"fvit"`` (63 ViLD prompts with F-ViT's name processing), ``"fcclip"`` (14 ViLD prompts), or a
        list of ``{}`` templates.
    reduce: ``mean`` over synonyms (F-ViT) or ``max`` (FC-CLIP, applied to logits).
    cache_dir: reuse embeddings stored as safetensors, keyed by model, text weights, names, templates and options.
    """
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce={reduce!r}: expected one of {REDUCTIONS}")
    if not class_names:
        raise ValueError("class_names is empty")
    clip_model = getattr(model, "clip", model)
    tokenizer = tokenizer or getattr(model, "tokenizer", None)
    if tokenizer is None:
        raise ValueError("pass tokenizer= when model is a bare open_clip model")
    tset = get_template_set(templates)
    names = [str(n) for n in class_names]
    synonyms = [split_synonyms(n) for n in names]

    cache_file = None
    if cache_dir is not None:
        key = json.dumps({
            "v": _CACHE_VERSION, "model": getattr(model, "name", type(clip_model).__name__),
            "weights": text_weights_fingerprint(clip_model), "names": names, "templates": tset.templates,
            "fill": tset.name, "reduce": reduce, "background": background,
        })
        cache_file = Path(cache_dir) / f"text-{hashlib.sha256(key.encode()).hexdigest()[:24]}.safetensors"
        cached = _read_cache(cache_file, names)
        if cached is not None:
            return cached

    flat = [s for syn in synonyms for s in syn]
    index = torch.tensor([c for c, syn in enumerate(synonyms) for _ in syn], dtype=torch.long)
    emb = _embed_names(clip_model, tokenizer, flat, tset, batch_size).cpu()
    if reduce == "mean":
        emb = F.normalize(torch.zeros(len(names), emb.shape[1]).index_add_(0, index, emb), dim=-1)
        index = torch.arange(len(names))
    bg = _embed_names(clip_model, tokenizer, ["background"], tset, batch_size)[0].cpu() if background else None
    clf = TextClassifier(names, emb, index, reduce, bg)
    if cache_file is not None:
        _write_cache(cache_file, clf)
    return clf


def _write_cache(path: Path, clf: TextClassifier) -> None:
    from safetensors.torch import save_file

    tensors = {"embeddings": clf.embeddings.contiguous(), "class_index": clf.class_index.contiguous()}
    if clf.background is not None:
        tensors["background"] = clf.background.contiguous()
    meta = {"class_names": json.dumps(clf.class_names), "reduce": clf.reduce}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def _read_cache(path: Path, names: list[str]) -> TextClassifier | None:
    if not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        if json.loads(meta["class_names"]) != names:
            return None
    except Exception:  # noqa: BLE001 — a damaged cache entry is recomputed and overwritten
        return None
    return TextClassifier(names, tensors["embeddings"], tensors["class_index"], meta["reduce"],
                          tensors.get("background"))
