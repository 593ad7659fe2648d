"""Arguments of ``python -m llava_lmm.train``: HF ``TrainingArguments`` + model/data args, from YAML and CLI."""
from __future__ import annotations

import sys
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Literal

from transformers import HfArgumentParser, TrainingArguments


@dataclass
class ModelArguments:
    model_name_or_path: str = field(default="tiny", metadata={"help": "causal LM (HF id or dir, e.g. "
        "lmsys/vicuna-7b-v1.5), a saved LLaVA dir, or 'tiny' (random tiny Llama + tokenizer trained on data_path)"})
    vision_tower: str = field(default="ViTamin-Tiny", metadata={"help": "open_clip ViTamin name (ViTamin-L-336) or timm name"})
    vision_tower_weights: str | None = field(default=None, metadata={"help": "open_clip pretrained tag (datacomp1b) or "
        "a local CLIP / visual-only .safetensors/.bin; none = random init"})
    image_size: int | None = field(default=None, metadata={"help": "override the tower's native input size"})
    mm_vision_select_layer: int = field(default=-2, metadata={"help": "hidden state fed to the projector"})
    pretrain_mm_mlp_adapter: str | None = field(default=None, metadata={"help": "stage-1 mm_projector.bin"})
    stage: Literal["stage1", "full", "lora"] = field(default="stage1", metadata={
        "help": "stage1 (projector only) | full | lora"})
    lora_r: int = 128
    lora_alpha: int = 256
    lora_dropout: float = 0.05
    mm_projector_lr: float | None = field(default=None, metadata={"help": "separate LR of the projector"})
    attn_implementation: str | None = field(default=None, metadata={"help": "LM attention (sdpa, flash_attention_2)"})
    tiny_hidden_size: int = 96
    tiny_layers: int = 2
    tiny_heads: int = 4
    tiny_vocab_size: int = 400


@dataclass
class DataArguments:
    data_path: str | None = field(default=None, metadata={"help": "LLaVA json (LCS-558K / mix665k format)"})
    image_folder: str | None = None
    template: Literal["plain", "v1", "vicuna_v1", "llava_v1"] = field(default="plain", metadata={
        "help": "plain (stage 1) | v1 (stage 2; = vicuna_v1) | llava_v1"})
    image_aspect_ratio: Literal["square", "pad"] = field(default="square", metadata={"help": "square | pad"})
    image_reading: Literal["photo", "reference"] = field(default="photo", metadata={"help": "photo (EXIF "
        "orientation applied, 16-bit PNGs scaled: shared.image.read_image) | reference (LLaVA's "
        "Image.open(path).convert('RGB'): stored orientation); eval and chat read as the model was trained"})
    group_by_modality_length: bool = False
    on_bad_image: Literal["error", "skip"] = field(default="error", metadata={"help": "missing / unreadable image "
        "files (opened before training: header and size; a file corrupt beyond its header when drawn): error (lists "
        "them) | skip (counted)"})
    on_bad_record: Literal["error", "skip"] = field(default="error", metadata={"help": "malformed records (checked in one pass before "
        "training): error (lists the first 20) | skip (counted)"})
    cache_images: bool = field(default=False, metadata={"help": "keep processed images in RAM (small data only)"})
    tokenizer_corpus: str | None = field(default=None, metadata={"help": "extra LLaVA json for training the tiny tokenizer"})


@dataclass
class LlavaTrainingArguments(TrainingArguments):
    model_max_length: int = field(default=2048, metadata={"help": "max tokens incl. the image placeholders"})
    merge_lora: bool = field(default=True, metadata={"help": "LoRA: also save the merged model in output_dir"})
    resume_changes: Literal["refuse", "allow"] = field(default="refuse", metadata={"help": "resuming a checkpoint-* with settings that "
        "change the result: refuse (exit 2, listing them) | allow (recorded in output_dir/history.jsonl)"})


ARG_CLASSES = (ModelArguments, DataArguments, LlavaTrainingArguments)


class ArgumentError(SystemExit):
    """A bad argument: exit status 2 (as argparse), ``str()`` is the message naming the argument."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message

    def __str__(self) -> str:
        return self.message


def parse_args(argv: list[str] | None = None, description: str = ""):
    """``--config FILE.yaml`` sets defaults (unknown keys → error naming key and file); CLI flags override.
    Bad values print ``error: …`` and raise ``ArgumentError`` (exit status 2) before any work."""
    try:
        return _parse_args(argv, description)
    except ArgumentError as e:
        print(f"error: {e}", file=sys.stderr)
        raise


def _parse_args(argv: list[str] | None, description: str):
    import yaml

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = HfArgumentParser(ARG_CLASSES, description=description)
    parser.add_argument("--config", type=str, default=None, help="YAML file of arguments (CLI flags override it)")

    def one_line(message: str):  # argparse would print the usage of every TrainingArguments flag first
        raise ArgumentError(f"{message} (--help lists the arguments)")

    parser.error = one_line
    cfg_path = None
    if "--config" in argv:
        k = argv.index("--config")
        if k + 1 >= len(argv):
            raise ArgumentError("--config needs a file")
        cfg_path = argv[k + 1]
        del argv[k:k + 2]
    if cfg_path:
        from shared.engine.config import resolve_input_path

        p = Path(resolve_input_path(cfg_path))  # a shipped config (llava_lmm/configs/…) from any directory
        if not p.is_file():
            raise ArgumentError(f"config file not found: {p}")
        try:
            values = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as e:
            raise ArgumentError(f"config file {p} is not valid YAML: {e}")
        if not isinstance(values, dict):
            raise ArgumentError(f"config file {p} must hold a mapping of argument names to values")
        known = {f.name for c in ARG_CLASSES for f in fields(c)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ArgumentError(f"config file {p}: unknown key(s) {unknown}")
        values = {k: _resolve(k, v) for k, v in values.items()}
        parser.set_defaults(**values)
    else:
        values = {}
    argv = _resolve_argv(argv)
    check_deepspeed(argv_value(argv, "deepspeed", values.get("deepspeed")))
    try:
        margs, dargs, targs = parser.parse_args_into_dataclasses(args=argv)[:3]  # 4th: the --config namespace
    except ValueError as e:  # TrainingArguments' own checks
        raise ArgumentError(str(e)) from None
    check_args(margs, dargs, targs)
    return margs, dargs, targs


# input files that shipped configs name relative to the repository (llava_lmm/configs/zero3.json): resolved by the
# rule of every config input path (shared.engine.config.resolve_input_path), from the config file and the command line
PATH_ARGS = ("data_path", "image_folder", "tokenizer_corpus", "pretrain_mm_mlp_adapter", "vision_tower_weights",
             "deepspeed", "fsdp_config")
FSDP2_CONFIG = "llava_lmm/configs/fsdp2_stage2_full_vitamin_l_336_vicuna7b.yaml"


def _resolve(name: str, value):
    from shared.engine.config import resolve_input_path

    return resolve_input_path(value) if name in PATH_ARGS and isinstance(value, str) and value else value


def _resolve_argv(argv: list[str]) -> list[str]:
    """``--name X`` and ``--name=X`` of the ``PATH_ARGS`` with X resolved (``_resolve``)."""
    out = []
    for i, a in enumerate(argv):
        if a.startswith("--") and "=" in a:
            name, value = a[2:].split("=", 1)
            a = f"--{name}={_resolve(name, value)}"
        elif i and argv[i - 1].startswith("--") and "=" not in argv[i - 1] and not a.startswith("--"):
            a = _resolve(argv[i - 1][2:], a)
        out.append(a)
    return out


def argv_value(argv: list[str], name: str, default=None):
    """The value of ``--name X`` / ``--name=X`` on the command line (the last one wins), else ``default``."""
    value = default
    for i, a in enumerate(argv):
        if a == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif a.startswith(f"--{name}="):
            value = a.split("=", 1)[1]
    return value


def check_deepspeed(deepspeed: str | None) -> None:
    """A ``--deepspeed`` config needs the ``deepspeed`` package; without it transformers fails deep inside its
    argument checks. Said here, before any work, with what to install or what to use instead."""
    import importlib.util

    if deepspeed and importlib.util.find_spec("deepspeed") is None:
        raise ArgumentError(f"--deepspeed {deepspeed}: DeepSpeed is not installed. Install it (pip install deepspeed; "
                            f"it builds against the CUDA toolkit), or train with PyTorch's FSDP2, which needs no "
                            f"extra package: --config {FSDP2_CONFIG} (or in your config replace deepspeed: by "
                            f"fsdp: true and fsdp_config: llava_lmm/configs/fsdp2.json)")


def check_hub_sources(m: "ModelArguments") -> None:
    """Offline (``HF_HUB_OFFLINE``), a Hub id that is not in the cache cannot load: ``--model_name_or_path`` and
    an open_clip tag in ``--vision_tower_weights`` are checked here, at once, instead of failing after a minute
    of retries."""
    from shared.offline import cached_hub_file, hub_offline, offline_message

    if not hub_offline():
        return
    name = m.model_name_or_path
    if name != "tiny" and not Path(name).exists() and not cached_hub_file(name, ["config.json"]):
        raise ArgumentError(offline_message(f"--model_name_or_path {name}", "--model_name_or_path /path/to/folder "
                                            "(a folder with config.json, tokenizer and weights)",
                                            f"huggingface-cli download {name}"))
    weights = m.vision_tower_weights
    if weights:
        from backbone.weights import WeightsError, check_tag_available, looks_like_path

        from .modeling.builder import vision_config_for

        if not looks_like_path(weights):
            try:
                name = vision_config_for(m.vision_tower).open_clip_name or m.vision_tower
            except Exception:  # noqa: BLE001 — an unknown tower is reported where the model is built
                return
            try:
                check_tag_available(name, weights)
            except WeightsError as e:
                raise ArgumentError(f"--vision_tower_weights: {e}") from None


# (argument, value is allowed, what is expected): out-of-range values are errors before any work
def _ranges(m: ModelArguments, d: DataArguments, t: LlavaTrainingArguments):
    return [("per_device_train_batch_size", t.per_device_train_batch_size > 0, "> 0"),
            ("gradient_accumulation_steps", t.gradient_accumulation_steps > 0, "> 0"),
            ("learning_rate", t.learning_rate > 0, "> 0"),
            ("mm_projector_lr", m.mm_projector_lr is None or m.mm_projector_lr > 0, "> 0 (or unset)"),
            ("weight_decay", t.weight_decay >= 0, ">= 0"),
            ("warmup_steps", t.warmup_steps >= 0, ">= 0 (steps, or a ratio in [0, 1))"),
            ("max_steps", t.max_steps > 0 or t.max_steps == -1, "> 0 (or -1: use num_train_epochs)"),
            ("num_train_epochs", t.max_steps > 0 or t.num_train_epochs > 0, "> 0"),
            ("logging_steps", t.logging_steps > 0, "> 0"), ("save_steps", t.save_steps > 0, "> 0"),
            ("model_max_length", t.model_max_length > 0, "> 0"),
            ("image_size", m.image_size is None or m.image_size > 0, "> 0 (or unset)"),
            ("lora_r", m.lora_r > 0, "> 0"), ("dataloader_num_workers", t.dataloader_num_workers >= 0, ">= 0")]


def check_args(m: ModelArguments, d: DataArguments, t: LlavaTrainingArguments) -> None:
    for name, ok, expected in _ranges(m, d, t):
        if not ok:
            value = next(getattr(a, name) for a in (t, m, d) if hasattr(a, name))
            raise ArgumentError(f"--{name} must be {expected}, got {value!r}")
    for args in (m, d, t):  # the Literal-typed arguments (a --config value does not pass argparse's choices)
        for name, tp in typing.get_type_hints(type(args)).items():
            allowed = typing.get_args(tp) if typing.get_origin(tp) is Literal else None
            if allowed and getattr(args, name) not in allowed:
                raise ArgumentError(f"--{name} must be one of {' | '.join(allowed)}, got {getattr(args, name)!r}")
    if not d.data_path:
        raise ArgumentError("data_path is required (a LLaVA json)")
    if not Path(d.data_path).is_file():
        from shared.io import relative_note

        raise ArgumentError(f"data_path not found: {d.data_path}{relative_note(d.data_path)}")
    check_hub_sources(m)
