"""Pretrained folders (``config.json`` + ``model.safetensors``, no pickle), the image inputs of ``predict`` and
vocabularies per call.

The adapters' ``FViT`` / ``FCCLIP`` inherit ``PretrainedMixin`` and supply the model-specific parts (how to build
the module from a config, how to embed a vocabulary, how to run a batch).

Vocabularies: ``set_classes`` sets the model's own; ``predict(images, classes=...)`` runs one call with another
one and leaves the model's untouched, so one model can serve several users at once (the web app). Text classifiers
are cached per class list (the last ``VOCABULARY_CACHE_SIZE`` in memory, and on disk in ``text_cache``).
"""
from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from shared.classes import parse_vocabulary
from shared.errors import UserError
from shared.image import read_image
from shared.io import atomic_path, atomic_write_json

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
FORMAT_VERSION = 1
VOCABULARY_CACHE_SIZE = 32  # text classifiers a model keeps in memory (least recently used dropped first)


class PretrainedError(UserError, ValueError):
    """A pretrained folder is missing, incomplete, of another model, or does not fit the model it describes."""


def to_rgb(image: Any, what: str = "image") -> np.ndarray:
    """A path, PIL image, (H, W[, 3|4]) numpy array (uint8, or float in [0, 1]) or (3, H, W) / (H, W, 3) tensor
    (uint8, or float in [0, 1]) → (H, W, 3) uint8 RGB. Paths and PIL images go through ``shared.image.read_image``
    (EXIF orientation applied, 16-bit / palette / CMYK rules); arrays and tensors are taken as shown."""
    if isinstance(image, (str, Path, Image.Image)):
        return np.asarray(read_image(image, what=what))
    if isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 3 and t.shape[0] in (1, 3) and t.shape[-1] not in (1, 3):
            t = t.permute(1, 2, 0)  # torchvision's (C, H, W)
        image = t.numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{what}: expected a path, PIL image, numpy array or tensor, got {type(image).__name__}")
    a = image
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"{what}: expected an (H, W), (H, W, 3) or (3, H, W) image, got shape {image.shape}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating) or a.size and (a.min() < 0 or a.max() > 1):
            raise ValueError(f"{what}: a {a.dtype} array must be uint8 or float in [0, 1]")
        a = np.round(a * 255).astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def as_image_list(images: Any) -> tuple[list, bool]:
    """(items, single): a list/tuple or a (B, 3, H, W) tensor is many images, anything else one."""
    if isinstance(images, (list, tuple)):
        return list(images), False
    if isinstance(images, torch.Tensor) and images.ndim == 4:
        return list(images), False
    return [images], True


@dataclasses.dataclass(frozen=True, eq=False)
class Vocabulary:
    """A class list ready to predict with (``make_vocabulary``): the model's own (``model.vocabulary``, set by
    ``set_classes``) or one call's (``predict(classes=...)``). Immutable: one may serve several calls at once."""

    class_names: tuple[str, ...]  # each class as its synonyms joined by "," (FC-CLIP: without the stuff mark)
    category_ids: tuple[int, ...]
    classifier: Any  # the model's tensors for these classes (text embeddings, flags)


class ClassifierCache:
    """Built classifiers by class list, the ``size`` most recently used kept; safe to share between threads: a
    hit never waits, builds run one at a time (a class list asked for twice at once is built once)."""

    def __init__(self, size: int = VOCABULARY_CACHE_SIZE):
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock, self._build_lock = threading.Lock(), threading.Lock()

    def _hit(self, key):
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return True, self._items[key]
        return False, None

    def get(self, key: tuple, build: Callable[[], Any]):
        found, value = self._hit(key)
        if found:
            return value
        with self._build_lock:
            found, value = self._hit(key)  # built by another thread meanwhile
            if found:
                return value
            value = build()
            with self._lock:
                self._items[key] = value
                while len(self._items) > self.size:
                    self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` / ``set_classes`` / ``make_vocabulary`` / ``predict`` on top of
    the adapter hooks below, with the Hub's conventions (``shared/hub.py``): ``from_pretrained("org/name")``,
    ``push_to_hub``, a model card. The adapter's ``__init__`` sets ``vocabulary = None`` and ``_classifiers =
    ClassifierCache()``."""

    KIND: str = ""  # "fvit" / "fcclip": a folder of one model is refused by the other
    vocabulary: Vocabulary | None  # the model's own (set_classes), used when predict gets no classes
    # the model card: title, Hub pipeline tag, tags, and the import that gives the class
    CARD_TITLE: str = ""
    PIPELINE_TAG: str | None = None
    CARD_TAGS: tuple[str, ...] = ()
    CARD_IMPORT: str = ""

    # --- adapter hooks ------------------------------------------------------------------------------------------
    def pretrained_config(self) -> dict:
        """The json-serialisable settings besides the model config: preprocessing, vocabulary, training classes."""
        raise NotImplementedError

    @classmethod
    def build_from_pretrained(cls, model_cfg: dict, extra: dict, backbone_included: bool):
        """The module (random heads) for a saved config; ``backbone_included``: build the CLIP without weights."""
        raise NotImplementedError

    def build_classifier(self, classes: list[str]) -> tuple[list[str], Any]:
        """(class names, the model's classifier tensors) for parsed class strings; must not change the model."""
        raise NotImplementedError

    def use_vocabulary(self, vocabulary: Vocabulary) -> None:
        """Make ``vocabulary`` the model's own (its buffers, ``class_names``, ``category_ids``, ``vocabulary``)."""
        raise NotImplementedError

    def _predict_batch(self, images: list[np.ndarray], score_threshold: float | None,
                       vocabulary: Vocabulary) -> list[dict]:
        raise NotImplementedError

    # --- vocabulary ---------------------------------------------------------------------------------------------
    def make_vocabulary(self, classes: str | Sequence[str], ids: Sequence[int] | None = None) -> Vocabulary:
        """``classes`` (``["traffic light", "cat,kitty"]``, ``"a;b,c"`` or ``"@classes.txt"``, as ``set_classes``)
        ready for ``predict(classes=...)``, without changing the model; ``ids``: each class's category id (default:
        the ``id:`` lines of an ``@`` file, else 1, 2, …). A bad list raises ``ValueError`` naming the problem."""
        parsed, ids = parse_vocabulary(classes, "classes", ids)
        names, classifier = self._classifiers.get(tuple(parsed), lambda: self.build_classifier(parsed))
        return Vocabulary(tuple(names), tuple(ids), classifier)

    def set_classes(self, classes: str | Sequence[str] | Vocabulary, ids: Sequence[int] | None = None):
        """Set the model's own vocabulary (``make_vocabulary``'s arguments, or a ``Vocabulary``); returns the
        model. Text embeddings are cached per vocabulary (in memory and in ``text_cache``)."""
        self.use_vocabulary(self._as_vocabulary(classes, ids))
        return self

    def _as_vocabulary(self, classes, ids) -> Vocabulary:
        if not isinstance(classes, Vocabulary):
            return self.make_vocabulary(classes, ids)
        if ids is not None:
            raise ValueError("ids= with a Vocabulary: its category ids are given to make_vocabulary")
        return classes

    # --- folder I/O ---------------------------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, include_backbone: bool = False, card: dict | None = None) -> Path:
        """Write ``config.json``, ``model.safetensors`` (trained weights; the CLIP weights too when
        ``include_backbone`` or when the backbone cannot be restored from its source, e.g. random init) and the
        model card ``README.md``. ``card``: what the run knows (``training_data``, ``metrics``, ``run``), kept in
        ``config.json`` and carried over when a loaded model is saved again."""
        from safetensors.torch import save_file

        directory = Path(directory)
        state = self.state_dict() if include_backbone else self.checkpoint_state_dict()
        tensors = {k: v.detach().cpu().contiguous() for k, v in state.items()}
        included = any(k.startswith("backbone.") for k in tensors)
        bb = self.backbone
        model_cfg = dataclasses.asdict(self.cfg_model)
        source = model_cfg.get("pretrained")
        if not included and isinstance(source, str) and Path(source).is_file():
            # a local CLIP file is recorded relative to the folder: read from any working directory, and the
            # folder and the file can be moved together (e.g. a whole demo or run tree)
            model_cfg["pretrained"] = os.path.relpath(Path(source).resolve(), directory.resolve())
        config = {
            "kind": self.KIND, "format_version": FORMAT_VERSION,
            "model": model_cfg,
            "backbone": {"name": bb.name, "weights": model_cfg.get("pretrained") or bb.weights,
                         "included": included},
            **self.pretrained_config(),
            "card": {**getattr(self, "card_info", {}), **(card or {})},
        }
        directory.mkdir(parents=True, exist_ok=True)
        with atomic_path(directory / WEIGHTS_FILE) as tmp:
            save_file(tensors, str(tmp), metadata={"kind": self.KIND})
        atomic_write_json(directory / CONFIG_FILE, config)
        from shared.hub import write_model_card

        write_model_card(directory, self.model_card(config))
        return directory

    def model_card(self, config: dict) -> str:
        """The ``README.md`` of a saved folder: vocabulary, backbone, training data and the run's metrics."""
        from shared.hub import metrics_table, model_card, training_section

        bb, card = config["backbone"], config.get("card", {})
        classes, ids = config.get("classes") or [], config.get("category_ids") or []
        shown = [f"{i}: {c}" for i, c in zip(ids, classes)][:100]
        vocab = (f"{len(classes)} classes (`id: name,synonyms`; `*` = stuff), set with `set_classes`:\n\n"
                 + ", ".join(f"`{c}`" for c in shown)
                 + (f" … and {len(classes) - len(shown)} more (all in config.json `classes`)"
                    if len(classes) > len(shown) else ""))
        backbone = (f"ViTamin CLIP `{bb['name']}`; weights "
                    + ("in this folder's model.safetensors" if bb.get("included")
                       else f"from `{bb.get('weights')}` (open_clip tag or file, loaded by from_pretrained)"))
        usage = (f"```python\n{self.CARD_IMPORT}\nmodel = {type(self).__name__}.from_pretrained(\"<this folder or "
                 f"org/name>\")\nresult = model.predict(\"image.jpg\")\n```")
        return model_card(f"{self.CARD_TITLE} ({bb['name']})", usage, [
            ("Vocabulary", vocab), ("Backbone", backbone), ("Training data", training_section(card)),
            ("Metrics", "Measured by the run that wrote this folder:\n\n" + metrics_table(card.get("metrics") or {})),
        ], pipeline_tag=self.PIPELINE_TAG, tags=["vitamin", "open-vocabulary", *self.CARD_TAGS])

    def push_to_hub(self, repo_id: str, *, include_backbone: bool | None = None, private: bool | None = None,
                    token: str | None = None, commit_message: str = "Upload model", revision: str | None = None,
                    create_pr: bool = False):
        """``save_pretrained`` into a temporary folder and upload it to the Hub model ``repo_id`` (created if
        needed). The CLIP weights go along when ``include_backbone`` or when they come from a local file (which
        would not exist where the model is downloaded). Returns the ``CommitInfo``."""
        import tempfile

        from shared.hub import push_folder

        source = self.cfg_model.pretrained if hasattr(self.cfg_model, "pretrained") else None
        if include_backbone is None:
            include_backbone = isinstance(source, str) and Path(source).is_file()
        with tempfile.TemporaryDirectory(prefix="push-") as tmp:
            self.save_pretrained(tmp, include_backbone=include_backbone)
            return push_folder(tmp, repo_id, private=private, token=token, commit_message=commit_message,
                               revision=revision, create_pr=create_pr)

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device = "cpu",
                        text_cache: str | None = "outputs/text_cache", *, revision: str | None = None,
                        cache_dir: str | Path | None = None, token: str | bool | None = None):
        """The model saved in ``directory`` (eval mode, on ``device``) with its saved vocabulary set.
        ``directory``: a folder, or a Hub id ``org/name`` (``revision``, ``cache_dir``, ``token`` as
        ``huggingface_hub``; offline with ``HF_HUB_OFFLINE=1``: from the local cache).
        ``text_cache``: folder for the text-classifier cache (None: compute every time)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        from shared.engine import CheckpointError
        from shared.hub import ModelFolderError, resolve_folder

        try:
            directory = resolve_folder(directory, revision, cache_dir, token)
        except ModelFolderError as e:
            raise PretrainedError(str(e)) from None
        cfg_file, weights_file = directory / CONFIG_FILE, directory / WEIGHTS_FILE
        for f in (cfg_file, weights_file):
            if not f.is_file():
                raise PretrainedError(f"{directory}: not a pretrained folder ({f.name} missing)")
        try:
            config = json.loads(cfg_file.read_text())
        except json.JSONDecodeError as e:
            raise PretrainedError(f"{cfg_file}: invalid json ({e})") from None
        if config.get("kind") != cls.KIND:
            raise PretrainedError(f"{cfg_file}: kind {config.get('kind')!r}, expected {cls.KIND!r} "
                                  f"(a folder saved by another model)")
        if config.get("format_version") != FORMAT_VERSION:
            raise PretrainedError(f"{cfg_file}: format_version {config.get('format_version')!r}, this code reads "
                                  f"{FORMAT_VERSION}")
        try:
            state = load_file(str(weights_file), device="cpu")
        except (SafetensorError, OSError) as e:
            raise PretrainedError(f"cannot read {weights_file}: {e}") from None
        model_cfg = dict(config["model"])
        source = model_cfg.get("pretrained")
        if not config["backbone"]["included"] and isinstance(source, str) and (directory / source).is_file():
            model_cfg["pretrained"] = str((directory / source).resolve())  # saved relative to the folder
        elif not config["backbone"]["included"] and isinstance(source, str) and _names_a_file(source):
            where = source if Path(source).is_absolute() else f"{source} relative to the folder, " \
                                                                  f"{(directory / source).resolve()}"
            raise PretrainedError(f"{cfg_file}: the folder was saved without its CLIP weights, which come from {where}: "
                                  f"not found (moved apart?). Put the file back there, or save the folder with "
                                  f"save_pretrained(..., include_backbone=True)")
        model = cls.build_from_pretrained(model_cfg, config, config["backbone"]["included"])
        try:
            model.load_checkpoint_state_dict(state, str(weights_file))
        except CheckpointError as e:
            raise PretrainedError(str(e)) from None
        model.text_cache = text_cache
        model.card_info = config.get("card") or {}  # what the run recorded, written again by save_pretrained
        model.to(device).eval()
        model.restore_vocabulary(config)
        return model

    def load_trained(self, checkpoint: str | Path | dict) -> None:
        """Weights in the trainer's layout: its ``last.pt`` or a state dict (e.g. a converted reference one)."""
        from shared.engine import CheckpointError, load_checkpoint

        if isinstance(checkpoint, dict):
            self.load_checkpoint_state_dict(checkpoint, "the given state dict")
            return
        state = load_checkpoint(checkpoint)
        if "model" not in state:
            raise CheckpointError(f"{checkpoint}: no 'model' entry (not a checkpoint of this repo's trainer)")
        self.load_checkpoint_state_dict(state["model"], str(checkpoint))

    # --- inference ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def predict(self, images: Any, score_threshold: float | None = None, batch_size: int = 2,
                classes: str | Sequence[str] | Vocabulary | None = None, ids: Sequence[int] | None = None):
        """Predictions for one image (a path, PIL image, numpy array or tensor: one dict) or a list / batch tensor
        of them (a list of dicts), run ``batch_size`` at a time at the model's input size. ``classes`` (with
        ``ids``, as ``make_vocabulary``; or a ``Vocabulary``): this call's vocabulary, the model's own left as it
        is; default the model's own. A model in eval mode is only read, so threads may share it."""
        if classes is None and ids is not None:
            raise ValueError("ids= needs classes= (the model's own vocabulary has its ids)")
        vocabulary = self.vocabulary if classes is None else self._as_vocabulary(classes, ids)
        if vocabulary is None:
            raise ValueError("no vocabulary: call set_classes([...]) first or pass classes=")
        items, single = as_image_list(images)
        # read (and check) every input before the first forward: a bad 100th path fails at once
        rgb = [to_rgb(im, f"image {i}") for i, im in enumerate(items)]
        was_training = self.training
        if was_training:  # a model already in eval mode is not written to (shared between threads)
            self.eval()
        out: list[dict] = []
        try:
            for i in range(0, len(rgb), batch_size):
                out += self._predict_batch(rgb[i:i + batch_size], score_threshold, vocabulary)
        finally:
            if was_training:
                self.train()
        return out[0] if single else out

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device


def _names_a_file(source: str) -> bool:
    """A backbone source that is a weights file (a path or a file name), not an open_clip tag (``datacomp1b``)."""
    return "/" in source or "\\" in source or source.endswith((".safetensors", ".bin", ".pt", ".pth", ".ckpt"))


def restore_config(schema: type, values: dict, source: str):
    """A model-config dataclass from its saved dict; unknown keys are an error naming them."""
    names = {f.name for f in dataclasses.fields(schema)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise PretrainedError(f"{source}: unknown model config keys {unknown} (saved by a newer version?)")
    kw = {k: tuple(v) if isinstance(v, list) and isinstance(getattr(schema, k, None), tuple) else v
          for k, v in values.items()}
    return schema(**kw)


def check_classes_list(value: Sequence, source: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise PretrainedError(f"{source}: expected a non-empty list of class names")
    return list(value)
