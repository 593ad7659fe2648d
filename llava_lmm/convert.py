"""``python -m llava_lmm.convert`` — an original LLaVA-1.5 checkpoint folder (``LlavaLlamaForCausalLM``, as the
ViTamin fork's ``finetune_vitamin.sh`` writes it) → one of our folders: HF ``LlavaForConditionalGeneration`` with the
ViTamin tower, tokenizer with ``<image>``, the ``LlavaProcessor`` (``llava_lmm/processor.py``) and a model card.

    python -m llava_lmm.convert --reference checkpoints/llava-v1.5-7b-vitamin-l-336 \\
        --vision-tower-weights datacomp1b --out converted/llava-v1.5-7b-vitamin-l-336
    python -m llava_lmm.eval answer --model converted/llava-v1.5-7b-vitamin-l-336 ...   # or lmms-eval's llava_hf

Keys: ``REFERENCE_KEY_MAP`` (``llava_lmm/modeling/builder.py``). The tower is not in LLaVA's checkpoints: its
weights come from ``--vision-tower-weights`` (an open_clip tag or a file); the tower itself from ``--vision-tower``
or the checkpoint's ``mm_vision_tower`` (``jienengchen/ViTamin-L-336px`` → ``ViTamin-L-336``). The ``<image>``
token is added (pad token = unk, as LLaVA sets) and the embeddings grown to a multiple of 64 with the mean row (the
rows are never read: ``<image>`` positions take the image features). Images are read as the reference reads them
(``--image-reading reference``) unless told otherwise; the template is ``v1`` and the aspect rule the checkpoint's
``image_aspect_ratio``. Every key and shape is checked against the model before anything is written.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import torch

import llava_lmm  # noqa: F401  (registers the tower)
from shared.cli import run_main
from shared.errors import UserError

# LLaVA's own config keys (llava_arch / train.py), not LlamaConfig's
LLAVA_CONFIG_KEYS = ("architectures", "model_type", "image_aspect_ratio", "image_grid_pinpoints",
                     "tokenizer_model_max_length", "tokenizer_padding_side", "tune_mm_mlp_adapter",
                     "freeze_mm_mlp_adapter", "unfreeze_mm_vision_tower", "use_mm_proj", "transformers_version",
                     "_name_or_path")
HUB_TOWER = re.compile(r"ViTamin-([A-Za-z0-9]+)-(\d+)px")


class ConversionError(UserError, ValueError):
    """A reference checkpoint this converter cannot turn into a folder (the message names file and field)."""


def tower_name(ref_config: dict, given: str | None, image_size: int | None) -> tuple[str, int | None]:
    """(open_clip name, input size) of the tower: ``given``, else from ``mm_vision_tower``
    (``jienengchen/ViTamin-L-336px`` → ``ViTamin-L-336``; ``…-224px`` → ``ViTamin-L`` at 224)."""
    import open_clip

    if given:
        return given, image_size
    hub = str(ref_config.get("mm_vision_tower") or "")
    m = HUB_TOWER.search(hub)
    if not m:
        raise ConversionError(f"config.json mm_vision_tower {hub!r} names no ViTamin tower (…/ViTamin-L-336px); "
                              "give --vision-tower (an open_clip ViTamin name, e.g. ViTamin-L-336)")
    size, res = m.group(1), int(m.group(2))
    name = f"ViTamin-{size}-{res}"
    if open_clip.get_model_config(name) is None:
        name = f"ViTamin-{size}"  # the 224 px models have no suffix
    return name, image_size or res


def check_reference_config(cfg: dict, source: str) -> None:
    """Only LLaVA-1.5's layout converts: ``mlp2x_gelu`` projector, flat patch merge, no start/end or patch tokens."""
    want = {"mm_projector_type": ("mlp2x_gelu",), "mm_patch_merge_type": ("flat", None),
            "mm_use_im_start_end": (False, None), "mm_use_im_patch_token": (False, None),
            "image_aspect_ratio": ("pad", "square", None)}
    for key, ok in want.items():
        if cfg.get(key) not in ok:
            raise ConversionError(f"{source}: {key} {cfg.get(key)!r} is not supported (expected one of {list(ok)})")
    if "mm_vision_select_layer" not in cfg or cfg.get("mm_vision_select_feature", "patch") != "patch":
        raise ConversionError(f"{source}: needs mm_vision_select_layer and mm_vision_select_feature 'patch' "
                              "(a LLaVA-1.5 stage-2 checkpoint)")


def read_reference_weights(ref: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint's shards (``*.safetensors`` or ``pytorch_model*.bin``)."""
    from backbone.weights import read_state_dict

    files = sorted(ref.glob("*.safetensors")) or sorted(ref.glob("pytorch_model*.bin"))
    if not files:
        raise ConversionError(f"{ref}: no weights (*.safetensors or pytorch_model*.bin)")
    sd: dict[str, torch.Tensor] = {}
    for f in files:
        sd.update(read_state_dict(f))
    return sd


def grow_rows(t: torch.Tensor, rows: int) -> torch.Tensor:
    """``t`` with rows appended up to ``rows``, each the mean of the existing rows."""
    if t.shape[0] >= rows:
        return t
    extra = t.float().mean(0, keepdim=True).to(t.dtype).expand(rows - t.shape[0], -1)
    return torch.cat([t, extra])


def convert_reference_checkpoint(reference: str | Path, out: str | Path, vision_tower_weights: str,
                                 vision_tower: str | None = None, image_size: int | None = None,
                                 image_reading: str = "reference") -> Path:
    """Write ``out`` (see the module docstring); returns it."""
    from huggingface_hub import save_torch_state_dict
    from transformers import AutoTokenizer, LlamaConfig, LlavaForConditionalGeneration

    from .data.image import make_image_processor
    from .modeling.builder import convert_reference_state_dict, load_tower_weights, make_llava_config, \
        vision_config_for
    from .modeling.vision_tower import ViTaminVisionModel
    from shared.hub import write_model_card

    from .pretrained import META_FILE, model_card_text
    from .processor import make_processor, save_into

    ref, out = Path(reference), Path(out)
    cfg_file = ref / "config.json"
    if not cfg_file.is_file():
        raise ConversionError(f"{ref}: no config.json (not a LLaVA checkpoint folder)")
    ref_cfg = json.loads(cfg_file.read_text())
    check_reference_config(ref_cfg, str(cfg_file))
    aspect = ref_cfg.get("image_aspect_ratio") or "square"  # the reference's default
    vcfg = vision_config_for(*tower_name(ref_cfg, vision_tower, image_size))
    if ref_cfg.get("mm_hidden_size") not in (None, vcfg.hidden_size):
        raise ConversionError(f"{cfg_file}: mm_hidden_size {ref_cfg['mm_hidden_size']} but the "
                              f"{vcfg.timm_model_name} tower is {vcfg.hidden_size} wide")
    tower = ViTaminVisionModel(vcfg)  # the small part first: a wrong tower file fails before the LM is read
    load_tower_weights(tower, vision_tower_weights)

    tok = AutoTokenizer.from_pretrained(ref)
    tok.pad_token = tok.unk_token  # as LLaVA does for Vicuna (v1)
    if "<image>" not in tok.get_vocab():
        tok.add_special_tokens({"additional_special_tokens": ["<image>"]})
    text_cfg = LlamaConfig.from_dict({k: v for k, v in ref_cfg.items()
                                      if not k.startswith("mm_") and k not in LLAVA_CONFIG_KEYS})
    vocab = max(text_cfg.vocab_size, -(-len(tok) // 64) * 64)
    text_cfg.vocab_size = vocab
    cfg = make_llava_config(vcfg, text_cfg, tok.convert_tokens_to_ids("<image>"), ref_cfg["mm_vision_select_layer"])
    cfg.image_aspect_ratio, cfg.conv_template, cfg.image_reading = aspect, "v1", image_reading

    ref_sd = {k: v for k, v in read_reference_weights(ref).items() if not k.startswith("model.vision_tower.")}
    try:
        sd = convert_reference_state_dict(ref_sd)
    except ValueError as e:
        raise ConversionError(f"{ref}: {e}") from None
    dtype = sd["lm_head.weight"].dtype
    for k in ("model.language_model.embed_tokens.weight", "lm_head.weight"):
        sd[k] = grow_rows(sd[k], vocab)
    sd.update({f"model.vision_tower.{k}": v.to(dtype) for k, v in tower.state_dict().items()})
    with torch.device("meta"):
        expected = {k: v.shape for k, v in LlavaForConditionalGeneration(cfg).state_dict().items()}
    missing, unexpected = sorted(set(expected) - set(sd)), sorted(set(sd) - set(expected))
    shapes = [f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(s)}" for k, s in expected.items()
              if k in sd and tuple(sd[k].shape) != tuple(s)]
    if missing or unexpected or shapes:
        raise ConversionError(f"{ref}: does not fit the model: missing {missing[:5]}, unexpected {unexpected[:5]}, "
                              f"shapes {shapes[:5]}")

    processor = make_processor(tok, make_image_processor(vcfg.image_size, vcfg.image_mean, vcfg.image_std), cfg,
                               aspect, "v1")
    meta = {"template": "v1", "image_aspect_ratio": aspect, "image_reading": image_reading}

    card = {"training_data": {"converted from": str(ref), "tower weights": vision_tower_weights},
            "run": {"stage": "reference LLaVA-1.5 checkpoint"}}

    def save(tmp: Path) -> None:
        save_torch_state_dict({k: v.contiguous() for k, v in sd.items()}, tmp, max_shard_size="5GB")
        processor.save_pretrained(tmp)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        write_model_card(tmp, model_card_text(cfg, meta, card))
        cfg.save_pretrained(tmp)

    save_into(out, save)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m llava_lmm.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", required=True, help="the original LLaVA checkpoint folder (config.json + shards)")
    p.add_argument("--out", required=True, help="the folder to write")
    p.add_argument("--vision-tower-weights", required=True,
                   help="open_clip tag (e.g. datacomp1b) or a CLIP / visual-only weights file for the tower")
    p.add_argument("--vision-tower", help="open_clip ViTamin name (default: from mm_vision_tower)")
    p.add_argument("--image-size", type=int, help="tower input size (default: the tower's)")
    p.add_argument("--image-reading", choices=("reference", "photo"), default="reference",
                   help="how eval / chat read images: reference = Image.open(path).convert('RGB') (default), "
                        "photo = EXIF orientation applied (shared/image.py)")
    a = p.parse_args(argv)

    def convert() -> int:
        out = convert_reference_checkpoint(a.reference, a.out, a.vision_tower_weights, a.vision_tower,
                                           a.image_size, a.image_reading)
        print(f"converted -> {out}")
        return 0

    return run_main(convert)  # a user's error (ConversionError, WeightsError, a missing file, …): one line, exit 2


if __name__ == "__main__":
    sys.exit(main())
