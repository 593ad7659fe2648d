"""Build ``LlavaForConditionalGeneration`` with a ViTamin tower: configs, weights, freezing, the tiny LM."""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from transformers import LlavaConfig, LlavaForConditionalGeneration

from shared.keymap import OURS, REFERENCE, KeyMap

from .vision_tower import ViTaminVisionConfig, ViTaminVisionModel

log = logging.getLogger(__name__)

LORA_TARGET_REGEX = r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)"


def vision_config_for(tower: str, image_size: int | None = None) -> ViTaminVisionConfig:
    """``tower``: an open_clip ViTamin name (``ViTamin-L-336``) or a timm name (``vitamin_large_336``)."""
    if tower.startswith("vitamin_"):
        return ViTaminVisionConfig.from_timm(tower, image_size=image_size)
    return ViTaminVisionConfig.from_open_clip(tower, image_size=image_size)


def tiny_text_config(vocab_size: int, hidden_size: int = 96, layers: int = 2, heads: int = 4,
                     max_positions: int = 512, **overrides):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab_size, hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                       num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                       max_position_embeddings=max_positions, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                       tie_word_embeddings=False, **overrides)


def make_llava_config(vision_config: ViTaminVisionConfig, text_config, image_token_id: int,
                      feature_layer: int = -2, projector_act: str = "gelu") -> LlavaConfig:
    cfg = LlavaConfig(vision_config=vision_config, text_config=text_config, image_token_id=image_token_id,
                      vision_feature_layer=feature_layer, vision_feature_select_strategy="full",
                      image_seq_length=vision_config.num_image_tokens, projector_hidden_act=projector_act,
                      multimodal_projector_bias=True, tie_word_embeddings=False)
    cfg.pad_token_id = getattr(text_config, "pad_token_id", None)
    return cfg


def load_tower_weights(tower: ViTaminVisionModel, source: str, open_clip_name: str | None = None) -> str:
    """Weights for the trunk from an open_clip checkpoint (tag or file; ``visual.trunk.*`` taken) or a
    visual-only safetensors/bin file (keys ``trunk.*``, ``visual.trunk.*`` or bare timm keys).

    Every trunk key must be present with the right shape; errors name the file.
    """
    from backbone.weights import WeightsError, create_clip_model, looks_like_path, read_state_dict

    expected = tower.trunk.state_dict()
    if looks_like_path(source):
        sd = read_state_dict(source)
        for prefix in ("visual.trunk.", "vision_tower.trunk.", "model.vision_tower.trunk.", "trunk."):
            hits = {k.split(prefix, 1)[1]: v for k, v in sd.items() if prefix in k}
            if hits:
                sd = hits
                break
        what = f"file {source}"
    else:
        name = open_clip_name or tower.config.open_clip_name
        if not name:
            raise WeightsError(f"{source!r} is not a file and the tower config names no open_clip model")
        clip, _ = create_clip_model(name, source)
        sd = {k[len("trunk."):]: v for k, v in clip.visual.state_dict().items() if k.startswith("trunk.")}
        what = f"open_clip {name}/{source}"
    missing = [k for k in expected if k not in sd]
    shapes = [f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items()
              if k in sd and sd[k].shape != v.shape]
    if missing or shapes:
        raise WeightsError(f"{what} does not fit the {tower.config.timm_model_name} trunk: "
                           f"missing {len(missing)} keys {missing[:5]}; shape mismatches {shapes[:5]}")
    unused = [k for k in sd if k not in expected]
    if unused:
        log.info("tower weights: %d keys of %s not used (e.g. %s)", len(unused), what, unused[:3])
    tower.trunk.load_state_dict({k: sd[k] for k in expected}, strict=True)
    return what


# the reference's mm_projector (mlp2x_gelu: Linear, GELU, Linear) ⇄ HF's LlavaMultiModalProjector
PROJECTOR_KEY_MAP = KeyMap([("mm_projector.0.{p}", "linear_1.{p}"), ("mm_projector.2.{p}", "linear_2.{p}")],
                           {"p": "weight|bias"})
# an original LLaVA checkpoint (LlavaLlamaForCausalLM) ⇄ HF LlavaForConditionalGeneration
REFERENCE_KEY_MAP = KeyMap(PROJECTOR_KEY_MAP.under("model.", "model.multi_modal_projector.") + [
    ("lm_head.{rest}", "lm_head.{rest}"),
    ("model.vision_tower.{rest}", "model.vision_tower.{rest}", "not in LLaVA's checkpoints, tolerated"),
    ("model.{lm}", "model.language_model.{lm}", "the LM: embed_tokens, layers, norm"),
], {"p": "weight|bias", "rest": ".+", "lm": r"(?!mm_projector\.).+"})


def projector_state_from_reference(sd: dict[str, torch.Tensor], source: str = "state dict") -> dict:
    """``*mm_projector.{0,2}.*`` (reference ``mm_projector.bin``; any prefix, as LLaVA's loader) → HF
    ``linear_{1,2}.*``."""
    tails = {k[k.index("mm_projector."):]: v for k, v in sd.items() if "mm_projector." in k}
    converted = PROJECTOR_KEY_MAP.convert(tails, OURS, source)
    if converted.unknown:
        raise ValueError(f"{source}: unexpected projector key {converted.unknown[0]!r} (only mlp2x_gelu is "
                         "supported)")
    out = converted.state_dict
    if set(out) != {f"linear_{n}.{p}" for n in (1, 2) for p in ("weight", "bias")}:
        raise ValueError(f"{source}: no complete mm_projector.{{0,2}}.{{weight,bias}} set (found {sorted(sd)[:6]})")
    return out


def projector_state_to_reference(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """HF projector ``linear_{1,2}.*`` → the reference ``mm_projector.bin`` keys ``model.mm_projector.{0,2}.*``."""
    converted = PROJECTOR_KEY_MAP.convert({k: v.detach().cpu().clone() for k, v in state.items()}, REFERENCE)
    return {"model." + k: v for k, v in converted.state_dict.items()}


def load_projector(model: LlavaForConditionalGeneration, path: str | Path) -> None:
    """Load a reference-layout ``mm_projector.bin`` (or our safetensors of the same keys) into the model."""
    from backbone.weights import WeightsError, read_state_dict

    sd = read_state_dict(path)
    try:
        state = projector_state_from_reference(sd, str(path))
    except ValueError as e:
        raise WeightsError(str(e)) from None
    proj = model.model.multi_modal_projector
    expected = proj.state_dict()
    bad = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}" for k, v in expected.items()
           if state[k].shape != v.shape]
    if bad:
        raise WeightsError(f"{path} does not fit the projector: {bad}")
    proj.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()})


def convert_reference_state_dict(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Keys of an original LLaVA checkpoint → HF ``LlavaForConditionalGeneration`` keys (``REFERENCE_KEY_MAP``):
    ``model.mm_projector.{0,2}`` → ``model.multi_modal_projector.linear_{1,2}``; ``model.{embed_tokens,layers,norm}``
    → ``model.language_model.*``; ``lm_head`` unchanged; ``model.vision_tower.*`` kept (tolerated)."""
    converted = REFERENCE_KEY_MAP.convert(sd, OURS)
    if converted.unknown:
        raise ValueError(f"unexpected key in reference checkpoint: {converted.unknown[0]!r}")
    return converted.state_dict


def resize_embeddings_for(model: LlavaForConditionalGeneration, vocab: int, pad_to_multiple_of: int = 64) -> None:
    """Grow the LM's embeddings for added tokens (``<image>``, pad) — mean-initialised like llava-hf."""
    if model.get_input_embeddings().weight.shape[0] < vocab:
        model.resize_token_embeddings(vocab, pad_to_multiple_of=pad_to_multiple_of, mean_resizing=True)


def set_trainable(model, stage: str) -> None:
    """``stage1``: projector only; ``full``: LLM + projector; ``lora``: handled by peft (projector via
    modules_to_save). The tower is always frozen (and therefore stays in eval mode)."""
    model.requires_grad_(False)
    if stage == "stage1":
        model.model.multi_modal_projector.requires_grad_(True)
    elif stage == "full":
        model.model.language_model.requires_grad_(True)
        model.lm_head.requires_grad_(True)
        model.model.multi_modal_projector.requires_grad_(True)
    elif stage == "lora":
        pass
    else:
        raise ValueError(f"unknown stage {stage!r} (stage1 | full | lora)")
    model.model.vision_tower.requires_grad_(False)
    model.model.vision_tower.eval()


def apply_lora(model, r: int = 128, alpha: int = 256, dropout: float = 0.05):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, bias="none", task_type="CAUSAL_LM",
                     target_modules=LORA_TARGET_REGEX, modules_to_save=["multi_modal_projector"])
    pm = get_peft_model(model, cfg)
    for n, p in pm.named_parameters():  # the tower never trains
        if "vision_tower" in n:
            p.requires_grad_(False)
    return pm
