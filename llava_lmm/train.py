"""``python -m llava_lmm.train`` — LLaVA-1.5 stage 1 (projector) / stage 2 (full or LoRA) with a ViTamin tower.

    python -m llava_lmm.train --config llava_lmm/configs/stage1_vitamin_l_336_vicuna7b.yaml [--flag value ...]
    torchrun --nproc_per_node 8 -m llava_lmm.train --config ... --deepspeed llava_lmm/configs/zero2.json

Any HF ``TrainingArguments`` flag works (bf16, activation_checkpointing, deepspeed, fsdp, report_to tensorboard,
resume_from_checkpoint, …). An existing ``checkpoint-*`` in ``output_dir`` is resumed automatically.
Outputs: stage1 → ``<out>/mm_projector.bin`` (reference keys) + ``<out>/base_lm`` when the LM is ``tiny``;
full/lora → a complete model dir in ``<out>`` (LoRA: merged; adapter in ``<out>/adapter``). Every folder (and each
``checkpoint-N``) carries the run's ``LlavaProcessor`` (``llava_lmm/processor.py``): ``AutoProcessor`` +
``LlavaForConditionalGeneration`` (lmms-eval's ``llava_hf``) then see what ``llava_lmm.eval`` sees.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

import llava_lmm  # noqa: F401  (registers the tower)
from shared.cli import report_user_error
from shared.engine.rundir import hold_run_folder
from shared.errors import USER_ERRORS

from .config import ArgumentError, DataArguments, LlavaTrainingArguments, ModelArguments, parse_args
from .data.dataset import (DataCollator, LazySupervisedDataset, ModalityLengthGroupedSampler, check_llava_data,
                           load_llava_json)
from .data.image import make_image_processor
from .modeling.builder import (apply_lora, load_projector, load_tower_weights, make_llava_config,
                               projector_state_to_reference, resize_embeddings_for, set_trainable,
                               tiny_text_config, vision_config_for)

log = logging.getLogger("llava_lmm.train")


def _is_llava_dir(path: str) -> bool:
    cfg = Path(path) / "config.json"
    return cfg.is_file() and json.loads(cfg.read_text()).get("model_type") == "llava"


@contextlib.contextmanager
def hub_source(option: str, name: str):
    """An ``OSError`` of transformers' ``from_pretrained`` (no such folder or Hub id, no network) as one
    ``PretrainedError`` naming the option and the local-folder way."""
    from shared.pretrained import PretrainedError

    try:
        yield
    except OSError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise PretrainedError(f"{option} {name}: cannot load it ({first}); give a local folder instead, or, offline, "
                              f"set HF_HUB_OFFLINE=1 to use the Hugging Face cache without retries") from None


def build_tokenizer(m: ModelArguments, d: DataArguments, max_len: int):
    if m.model_name_or_path == "tiny":
        from .data.tokenizer import corpus_from_llava_json, train_tiny_tokenizer

        recs = load_llava_json(d.data_path, d.on_bad_record, d.template)
        if d.tokenizer_corpus:
            recs = recs + load_llava_json(d.tokenizer_corpus, d.on_bad_record, "v1")
        tok = train_tiny_tokenizer(corpus_from_llava_json(recs), vocab_size=m.tiny_vocab_size)
    else:
        from transformers import AutoTokenizer

        with hub_source("--model_name_or_path", m.model_name_or_path):
            tok = AutoTokenizer.from_pretrained(m.model_name_or_path)
        if tok.pad_token is None or tok.pad_token != tok.unk_token:
            tok.pad_token = tok.unk_token  # as LLaVA does for Vicuna (v1)
        if "<image>" not in tok.get_vocab():
            tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    tok.model_max_length = max_len
    tok.padding_side = "right"
    return tok


def build_model(m: ModelArguments, tok, dtype=torch.float32):
    """LlavaForConditionalGeneration: LM from ``model_name_or_path`` (or tiny), ViTamin tower, fresh projector."""
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration
    from transformers.models.llava.modeling_llava import LlavaMultiModalProjector

    from .modeling.vision_tower import ViTaminVisionModel

    image_id = tok.convert_tokens_to_ids("<image>")
    if _is_llava_dir(m.model_name_or_path):
        model = LlavaForConditionalGeneration.from_pretrained(m.model_name_or_path, dtype=dtype)
        return model
    if m.model_name_or_path == "tiny":
        from transformers import LlamaForCausalLM

        lm = LlamaForCausalLM(tiny_text_config(len(tok), m.tiny_hidden_size, m.tiny_layers, m.tiny_heads))
    else:
        kw = {"attn_implementation": m.attn_implementation} if m.attn_implementation else {}
        with hub_source("--model_name_or_path", m.model_name_or_path):
            lm = AutoModelForCausalLM.from_pretrained(m.model_name_or_path, dtype=dtype, **kw)
    vcfg = vision_config_for(m.vision_tower, m.image_size)
    cfg = make_llava_config(vcfg, lm.config, image_id, m.mm_vision_select_layer)
    with torch.device("meta"):
        model = LlavaForConditionalGeneration(cfg)
    model.model.language_model = lm.model  # no second copy of the LM in memory
    model.lm_head = lm.lm_head
    model.model.vision_tower = ViTaminVisionModel(cfg.vision_config)
    model.model.multi_modal_projector = LlavaMultiModalProjector(cfg)
    left = [n for n, p in list(model.named_parameters()) + list(model.named_buffers()) if p.device.type == "meta"]
    if left:
        raise RuntimeError(f"parameters left on meta after assembling the model: {left[:5]}")
    model.to(dtype)
    resize_embeddings_for(model, len(tok))
    if m.vision_tower_weights:
        src = load_tower_weights(model.model.vision_tower, m.vision_tower_weights)
        log.info("vision tower weights: %s", src)
    return model


def atomic_save_model_dir(model, tok, processor, out_dir: Path, extra: dict | None = None,
                          state_dict: dict | None = None) -> None:
    """save_pretrained into a temporary folder beside ``out_dir``, then move every file in (config.json last).
    ``processor``: a ``LlavaProcessor`` (``llava_lmm.processor.make_processor``: it writes the tokenizer too) or an
    image processor (saved beside ``tok``). ``state_dict``: the weights to write instead of the model's own (a
    gathered copy of a sharded model)."""
    from .processor import save_into

    def save(tmp: Path) -> None:
        model.save_pretrained(tmp, safe_serialization=True, state_dict=state_dict)
        if not hasattr(processor, "tokenizer"):
            tok.save_pretrained(tmp)
        processor.save_pretrained(tmp)
        if extra:
            (tmp / "llava_lmm.json").write_text(json.dumps(extra, indent=2) + "\n")

    save_into(out_dir, save)


def folder_processor(tok, image_processor, config, aspect: str, template: str):
    """The ``LlavaProcessor`` the run's folders carry (``llava_lmm.processor``), or None with a warning when this
    tokenizer's prompts cannot be reproduced by one (the folder then loads through ``llava_lmm`` only)."""
    from .processor import make_processor

    try:
        return make_processor(tok, image_processor, config, aspect, template)
    except ValueError as e:
        log.warning("no LlavaProcessor in the saved folders: %s", e)
        return None


class SaveProcessorCallback(TrainerCallback):
    """Write the ``LlavaProcessor`` into every ``checkpoint-N`` the Trainer saves (global rank 0)."""

    def __init__(self, processor):
        self.processor = processor

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.processor.save_pretrained(os.path.join(args.output_dir, f"checkpoint-{state.global_step}"))


class LlavaTrainer(Trainer):
    def __init__(self, *a, group_by_modality: bool = False, mm_projector_lr: float | None = None, **kw):
        self.group_by_modality = group_by_modality
        self.mm_projector_lr = mm_projector_lr
        super().__init__(*a, **kw)

    def _get_train_sampler(self, train_dataset=None):
        ds = train_dataset if train_dataset is not None else self.train_dataset
        if self.group_by_modality:
            return ModalityLengthGroupedSampler(self.args.train_batch_size,
                                                self.args.world_size * self.args.gradient_accumulation_steps,
                                                ds.modality_lengths, seed=self.args.seed)
        return super()._get_train_sampler(train_dataset)

    def _load_from_checkpoint(self, resume_from_checkpoint, model=None):
        """transformers 5 saves Llava checkpoints in the legacy key layout (``language_model.model.*``) and the
        Trainer's plain ``load_state_dict(strict=False)`` then loads nothing, silently; go through
        ``from_pretrained``, which applies the key conversion, and load strictly."""
        model = self.model if model is None else model
        if hasattr(model, "peft_config") or self.is_deepspeed_enabled or self.is_fsdp_enabled:
            return super()._load_from_checkpoint(resume_from_checkpoint, model)
        from transformers import LlavaForConditionalGeneration

        p = next(model.parameters())
        loaded = LlavaForConditionalGeneration.from_pretrained(resume_from_checkpoint, dtype=p.dtype)
        model.load_state_dict(loaded.state_dict(), strict=True)
        del loaded

    def create_optimizer(self, model=None):
        if self.mm_projector_lr is None or self.optimizer is not None:
            return super().create_optimizer(model)
        opt_model = self.model if model is None else model
        decay = set(self.get_decay_parameter_names(opt_model))
        groups = {(d, pj): [] for d in (True, False) for pj in (True, False)}
        for n, p in opt_model.named_parameters():
            if p.requires_grad:
                groups[(n in decay, "multi_modal_projector" in n)].append(p)
        param_groups = []
        for (d, pj), ps in groups.items():
            if ps:
                g = {"params": ps, "weight_decay": self.args.weight_decay if d else 0.0}
                if pj:
                    g["lr"] = self.mm_projector_lr
                param_groups.append(g)
        cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = cls(param_groups, **kwargs)
        return self.optimizer


def sharding_of(trainer) -> str | None:
    """How the run sharded the model: fsdp2 | fsdp | deepspeed-zero<N> | None (accelerate enables FSDP only on
    accelerators: a CPU run asked for FSDP trains unsharded, and says so here)."""
    if trainer.is_fsdp_enabled:
        return "fsdp2" if trainer.accelerator.is_fsdp2 else "fsdp"
    if trainer.is_deepspeed_enabled:
        return f"deepspeed-zero{trainer.accelerator.state.deepspeed_plugin.zero_stage}"
    return None


def gathered_state_dict(trainer) -> dict | None:
    """The full state dict of a model whose weights are sharded (FSDP, DeepSpeed ZeRO-3: each rank holds a slice
    of every weight), gathered by a collective that every rank must join; rank 0 receives it. None otherwise
    (ZeRO-2 shards only optimizer state and gradients: every rank holds the whole model)."""
    if trainer.is_fsdp_enabled:
        return trainer.accelerator.get_state_dict(trainer.model)
    if trainer.is_deepspeed_enabled and trainer.accelerator.state.deepspeed_plugin.zero_stage == 3:
        return trainer.accelerator.get_state_dict(trainer.deepspeed)
    return None


def _unwrap_llava(model):
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def train(m: ModelArguments, d: DataArguments, t: LlavaTrainingArguments) -> dict:
    from transformers.trainer_utils import get_last_checkpoint

    from shared.io import atomic_path, atomic_write_json

    from .processor import save_into

    torch.manual_seed(t.seed)
    out = Path(t.output_dir)
    _ = t.device  # joins the torchrun process group, so the processes share the image check
    data = check_llava_data(d.data_path, d.template, d.image_folder, d.on_bad_record, d.on_bad_image)  # before the model
    tok = build_tokenizer(m, d, t.model_max_length)
    model = build_model(m, tok)
    if m.pretrain_mm_mlp_adapter:
        load_projector(model, m.pretrain_mm_mlp_adapter)
    vcfg = model.config.vision_config
    processor = make_image_processor(vcfg.image_size, vcfg.image_mean, vcfg.image_std)
    model.config.image_aspect_ratio = d.image_aspect_ratio
    model.config.image_reading = d.image_reading  # eval and chat read images as training did
    model.config.conv_template = model_template(d)
    # AutoProcessor / lmms-eval see what eval sees: checked (tokenisation) before training, saved with every folder
    llava_processor = folder_processor(tok, processor, model.config, d.image_aspect_ratio, model_template(d))
    model.config.use_cache = False
    model.config.text_config.use_cache = False
    set_trainable(model, m.stage)
    if m.stage == "lora":
        model = apply_lora(model, m.lora_r, m.lora_alpha, m.lora_dropout)
    if t.activation_checkpointing and m.stage != "stage1":
        _unwrap_llava(model).enable_input_require_grads()

    ds = LazySupervisedDataset(data, tok, processor, d.image_folder, d.template, d.image_aspect_ratio,
                               num_image_tokens=vcfg.num_image_tokens, model_max_length=t.model_max_length,
                               on_bad_image=d.on_bad_image, cache_images=d.cache_images,
                               on_bad_record=d.on_bad_record, image_reading=d.image_reading)
    trainer = LlavaTrainer(model=model, args=t, train_dataset=ds,
                           data_collator=DataCollator(tok.pad_token_id, t.model_max_length),
                           group_by_modality=d.group_by_modality_length, mm_projector_lr=m.mm_projector_lr,
                           callbacks=[SaveProcessorCallback(llava_processor)] if llava_processor else None)
    if trainer.is_world_process_zero():  # LLaVA's recipe fixes the global batch; the LR is never rescaled
        a = trainer.args
        log.info("global batch %d (%d/device x %d accumulation x %d processes), lr %g, projector lr %s (not scaled "
                 "with the batch)", a.per_device_train_batch_size * a.gradient_accumulation_steps * a.world_size,
                 a.per_device_train_batch_size, a.gradient_accumulation_steps, a.world_size, a.learning_rate,
                 m.mm_projector_lr or "= lr")
    resume = t.resume_from_checkpoint
    if resume is None and out.is_dir():
        resume = get_last_checkpoint(str(out))  # reference: resume automatically
    result = trainer.train(resume_from_checkpoint=resume)
    history = [h for h in trainer.state.log_history if "loss" in h]
    metrics = {"stage": m.stage, "steps": trainer.state.global_step, "train_loss": result.training_loss,
               "losses": [h["loss"] for h in history], "resumed_from": resume,
               "truncated": ds.truncated, "skipped": ds.skipped, "mismatched": ds.mismatched,
               "record_notes": dict(ds.notes),
               "sharding": sharding_of(trainer)}
    full = gathered_state_dict(trainer) if m.stage != "lora" else None  # on every rank, before rank 0 saves
    if trainer.is_world_process_zero():
        llava = _unwrap_llava(trainer.model)
        if m.stage == "stage1":
            proj = "model.multi_modal_projector."
            state = projector_state_to_reference(
                {k[len(proj):]: v for k, v in full.items() if k.startswith(proj)} if full is not None
                else llava.model.multi_modal_projector.state_dict())
            with atomic_path(out / "mm_projector.bin") as tmp:
                torch.save(state, tmp)
            if llava_processor is not None:
                save_into(out, llava_processor.save_pretrained)
            llava.config.to_json_file(str(out / "config.json.tmp"))
            os.replace(out / "config.json.tmp", out / "config.json")
            if m.model_name_or_path == "tiny":  # stage 2 must start from the same random LM + tokenizer
                base = out / "base_lm"
                base.mkdir(parents=True, exist_ok=True)
                lm = _lm_of(llava)
                atomic_save_model_dir(lm, tok, processor, base)
        else:
            final = trainer.model
            if m.stage == "lora":
                trainer.model.save_pretrained(str(out / "adapter"))
                final = trainer.model.merge_and_unload() if t.merge_lora else None
            if final is not None:
                final.config.use_cache = True
                final.config.text_config.use_cache = True
                atomic_save_model_dir(final, tok, llava_processor or processor, out, extra={
                    "template": model_template(d), "image_aspect_ratio": d.image_aspect_ratio,
                    "image_reading": d.image_reading},
                    state_dict=full if m.stage == "full" else None)
        atomic_write_json(out / "train_metrics.json", metrics)
        write_card(out, llava.config if m.stage == "stage1" else final, m, d, t, metrics)
    return metrics


def write_card(out: Path, model_or_config, m: ModelArguments, d: DataArguments, t: LlavaTrainingArguments,
               metrics: dict) -> None:
    """``<out>/README.md``: the model, its prompt rules, the training data and the run's numbers."""
    from shared.hub import write_model_card

    from .pretrained import model_card_text

    if model_or_config is None:  # LoRA without merge: only the adapter was written
        return
    cfg = getattr(model_or_config, "config", model_or_config)
    card = {"training_data": {"data_path": d.data_path, "image_folder": d.image_folder, "template": d.template},
            "run": {"stage": m.stage, "base model": m.model_name_or_path, "steps": metrics["steps"],
                    "output_dir": t.output_dir},
            "metrics": {k: metrics[k] for k in ("train_loss", "steps", "truncated", "skipped", "mismatched")
                        if isinstance(metrics.get(k), (int, float))}}
    meta = {"template": model_template(d), "image_aspect_ratio": d.image_aspect_ratio,
            "image_reading": d.image_reading}
    write_model_card(out, model_card_text(cfg, meta, card))


RUN_ARGS_NAME = "run_args.json"
# TrainingArguments that change the trained weights; the rest (cadence, logging, workers, output paths, max_steps or
# num_train_epochs to extend a run, sharding backend) may change on resume. ModelArguments and DataArguments are
# compared in full. warmup_ratio exists in transformers < 5 only (absent arguments are skipped).
RESULT_TRAINING_ARGS = ("learning_rate", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
                        "lr_scheduler_type", "warmup_ratio", "warmup_steps", "per_device_train_batch_size",
                        "gradient_accumulation_steps", "seed", "data_seed", "bf16", "fp16", "optim", "model_max_length",
                        "group_by_length", "label_smoothing_factor")


def run_settings(m: ModelArguments, d: DataArguments, t: LlavaTrainingArguments) -> dict:
    """The settings of a run that change its result, as stored in ``output_dir/run_args.json``."""
    from dataclasses import asdict

    world = int(os.environ.get("WORLD_SIZE", "1"))  # the global batch depends on it
    return json.loads(json.dumps({"model": asdict(m), "data": asdict(d), "world_size": world,
                                  "training": {k: getattr(t, k) for k in RESULT_TRAINING_ARGS if hasattr(t, k)}},
                                 default=str))


def check_resume_settings(out: Path, settings: dict, policy: str) -> dict:
    """Compare a resumed run's settings with the stored ones before any work (``shared.engine.rundir``'s rule:
    every stored key is one that changes the result, so any difference is refused — ``ConfigError``, exit 2,
    every key ``old -> new`` — unless ``policy == "allow"``); return the changes."""
    from shared.engine.rundir import resume_changes

    stored = out / RUN_ARGS_NAME
    step = _checkpoint_step(out)
    if step is None or not stored.is_file():
        return {}
    return resume_changes(out, step, json.loads(stored.read_text()), settings, may_change=(), policy=policy,
                          key="--output_dir", allow="--resume_changes allow")


def record_run_settings(out: Path, settings: dict, changes: dict, step: int | None) -> None:
    from shared.engine.rundir import record_changes
    from shared.io import atomic_write_json

    if changes:
        record_changes(out, {"step": step, "changes": {k: [o, n] for k, (o, n) in changes.items()}})
    atomic_write_json(out / RUN_ARGS_NAME, settings)


def _checkpoint_step(out: Path) -> int | None:
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(out)) if out.is_dir() else None
    return int(last.rsplit("-", 1)[1]) if last else None


def model_template(d: DataArguments) -> str:
    return "v1" if d.template == "plain" else d.template


def _lm_of(llava):
    """The language model of a Llava model as a standalone causal LM (shares the weights)."""
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        lm = AutoModelForCausalLM.from_config(llava.config.text_config)
    lm.model = llava.model.language_model
    lm.lm_head = llava.lm_head
    return lm


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    m, d, t = parse_args(argv, description=__doc__)
    out = Path(t.output_dir)

    def check_and_record() -> None:
        settings = run_settings(m, d, t)
        changes = check_resume_settings(out, settings, t.resume_changes)
        record_run_settings(out, settings, changes, _checkpoint_step(out))

    lock = None
    try:
        # global rank 0 holds the folder (one run per output_dir, as the engine's runs); every rank stops if it refused
        lock = hold_run_folder(out, t.process_index == 0, "--output_dir", check_and_record)
        metrics = train(m, d, t)
    except ArgumentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 — a user's error (shared.errors.USER_ERRORS, a full disk) is one line
        if report_user_error(e, USER_ERRORS):
            return 2
        raise
    finally:
        if lock is not None:
            lock.release()
    print(json.dumps({k: v for k, v in metrics.items() if k != "losses"}))
    print(f"outputs in {t.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
