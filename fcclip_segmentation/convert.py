"""``python -m fcclip_segmentation.convert --reference REF.pth --out OURS.pt`` (and ``--to-reference``)

Checkpoints of the reference FC-CLIP / Sliding FC-CLIP code (detectron2 state dicts: ``sem_seg_head.pixel_decoder.*``,
``sem_seg_head.predictor.*``, ``void_embedding``, ``global_pos_embed``) ⇄ this repo's (transformers' Mask2Former
module names). Pure key renaming by ``KEY_MAP`` (``--keys`` prints it), except the decoder self-attention, whose
packed ``in_proj_{weight,bias}`` (rows q | k | v) are split into / joined from ``q_proj``/``k_proj``/``v_proj``. The frozen CLIP
(``backbone.clip_model.*``) is not carried over: it is rebuilt from its open_clip source (``model.pretrained``).

To evaluate a converted ViTamin checkpoint as the reference ran it, use the ViTamin-L-336 config with
``model.reference_skip_pos_embed=true model.window_placement=reference data.test_pad=black`` (test stride 112,
α 0.45, β 0.7 are the config's values).
"""
from __future__ import annotations

import argparse
import sys

import torch

from shared.engine import CheckpointError, load_checkpoint, load_state_dict_file, save_checkpoint
from shared.keymap import OURS, REFERENCE, KeyMap, Split

PD, PRED = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor."
# placeholders: {i} / {j} layer indices, {p} weight|bias, {m} the deformable-attention projections, {lvl} a pyramid
# level, {x} one of q, k, v
FIELDS = {"i": r"\d+", "j": r"\d+", "p": "weight|bias", "x": "[qkv]",
          "m": "sampling_offsets|attention_weights|value_proj|output_proj", "lvl": "res[2-5]"}
KEY_MAP = KeyMap([  # (reference, ours[, note]); the first matching row wins
    (PD + "input_proj.{i}.{j}.{p}", "pixel_decoder.input_projections.{i}.{j}.{p}"),
    (PD + "transformer.level_embed", "pixel_decoder.level_embed"),
    (PD + "transformer.encoder.layers.{i}.self_attn.{m}.{p}", "pixel_decoder.encoder.layers.{i}.self_attn.{m}.{p}"),
    (PD + "transformer.encoder.layers.{i}.norm1.{p}", "pixel_decoder.encoder.layers.{i}.self_attn_layer_norm.{p}"),
    (PD + "transformer.encoder.layers.{i}.linear1.{p}", "pixel_decoder.encoder.layers.{i}.fc1.{p}"),
    (PD + "transformer.encoder.layers.{i}.linear2.{p}", "pixel_decoder.encoder.layers.{i}.fc2.{p}"),
    (PD + "transformer.encoder.layers.{i}.norm2.{p}", "pixel_decoder.encoder.layers.{i}.final_layer_norm.{p}"),
    (PD + "mask_features.{p}", "pixel_decoder.mask_projection.{p}"),
    (PD + "adapter_{i}.weight", "pixel_decoder.adapter_{i}.0.weight"),
    (PD + "adapter_{i}.norm.{p}", "pixel_decoder.adapter_{i}.1.{p}"),
    (PD + "layer_{i}.weight", "pixel_decoder.layer_{i}.0.weight"),
    (PD + "layer_{i}.norm.{p}", "pixel_decoder.layer_{i}.1.{p}"),
    (PRED + "query_feat.weight", "transformer.queries_features.weight"),
    (PRED + "query_embed.weight", "transformer.queries_embedder.weight"),
    (PRED + "level_embed.weight", "transformer.level_embed.weight"),
    (PRED + "transformer_cross_attention_layers.{i}.multihead_attn.in_proj_{p}",
     "transformer.decoder.layers.{i}.cross_attn.in_proj_{p}"),
    (PRED + "transformer_cross_attention_layers.{i}.multihead_attn.out_proj.{p}",
     "transformer.decoder.layers.{i}.cross_attn.out_proj.{p}"),
    (PRED + "transformer_cross_attention_layers.{i}.norm.{p}", "transformer.decoder.layers.{i}.cross_attn_layer_norm.{p}"),
    Split(PRED + "transformer_self_attention_layers.{i}.self_attn.in_proj_{p}",
          "transformer.decoder.layers.{i}.self_attn.{x}_proj.{p}", "x", ("q", "k", "v"),
          note="nn.MultiheadAttention's packed in_proj (rows q | k | v)"),
    (PRED + "transformer_self_attention_layers.{i}.self_attn.out_proj.{p}",
     "transformer.decoder.layers.{i}.self_attn.out_proj.{p}"),
    (PRED + "transformer_self_attention_layers.{i}.norm.{p}", "transformer.decoder.layers.{i}.self_attn_layer_norm.{p}"),
    (PRED + "transformer_ffn_layers.{i}.linear1.{p}", "transformer.decoder.layers.{i}.fc1.{p}"),
    (PRED + "transformer_ffn_layers.{i}.linear2.{p}", "transformer.decoder.layers.{i}.fc2.{p}"),
    (PRED + "transformer_ffn_layers.{i}.norm.{p}", "transformer.decoder.layers.{i}.final_layer_norm.{p}"),
    (PRED + "decoder_norm.{p}", "transformer.decoder.layernorm.{p}"),
    (PRED + "mask_embed.layers.{i}.{p}", "transformer.decoder.mask_predictor.mask_embedder.{i}.0.{p}"),
    (PRED + "_mask_pooling_proj.{i}.{p}", "mask_pool_proj.{i}.{p}"),
    (PRED + "class_embed.layers.{i}.{p}", "class_embed.{2i}.{p}", "ours: an nn.Sequential with ReLUs in between"),
    (PRED + "logit_scale", "logit_scale"),
    ("void_embedding.weight", "void_embedding.weight"),
    ("global_pos_embed.{lvl}", "position.maps.{lvl}", "position compensation maps"),
    ("criterion.empty_weight", "criterion.empty_weight"),
], FIELDS)
REFERENCE_CLIP = "backbone.clip_model."


def reference_to_ours(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> tuple[dict, int]:
    """A reference state dict → (our state dict without the CLIP, number of CLIP tensors left out)."""
    kept = {k: v for k, v in sd.items() if not k.startswith(REFERENCE_CLIP)}
    converted = KEY_MAP.convert(kept, OURS, source)
    if converted.unknown:
        raise ValueError(f"{source}: {len(converted.unknown)} keys are not FC-CLIP reference keys, e.g. "
                         f"{converted.unknown[:5]}")
    return converted.state_dict, len(sd) - len(kept)


def ours_to_reference(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> dict:
    """Our state dict (trained parts) → the reference layout (the CLIP is not included)."""
    converted = KEY_MAP.convert({k: v for k, v in sd.items() if not k.startswith("backbone.")}, REFERENCE, source)
    if converted.unknown:
        raise ValueError(f"{source}: {len(converted.unknown)} keys have no reference name, e.g. "
                         f"{converted.unknown[:5]}")
    return converted.state_dict


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--reference", help="reference checkpoint (.pth) → our checkpoint")
    src.add_argument("--to-reference", metavar="CKPT", help="our checkpoint → reference layout")
    src.add_argument("--keys", action="store_true", help="print the key map (reference ⇄ ours) and exit")
    p.add_argument("--out", help="checkpoint file; with --config: a pretrained folder")
    p.add_argument("--config", help="--reference only: write a pretrained folder (config.json + model.safetensors, "
                                    "for from_pretrained / predict --pretrained) at --out, with this training "
                                    "config's model, input size and training classes")
    args = p.parse_args(argv)
    if args.keys:
        print("\n".join(KEY_MAP.table()))
        return 0
    if not (args.reference or args.to_reference) or not args.out:
        p.error("--reference or --to-reference, and --out, are required (or --keys)")
    if args.config and not args.reference:
        p.error("--config goes with --reference (it writes a pretrained folder of the converted model)")
    try:
        if args.reference:
            ours, clip = reference_to_ours(load_state_dict_file(args.reference), args.reference)
            if args.config:
                print(f"pretrained folder -> {write_pretrained(args.config, ours, args.out)}")
            else:
                save_checkpoint(args.out, {"model": ours, "step": 0,
                                           "metadata": {"converted_from": str(args.reference)}})
            print(f"{len(ours)} tensors -> {args.out} ({clip} frozen CLIP tensors left out: they come from "
                  f"model.pretrained)")
        else:
            state = load_checkpoint(args.to_reference)
            if "model" not in state:
                raise CheckpointError(f"{args.to_reference}: no 'model' entry (not a checkpoint of this repo)")
            ref = ours_to_reference(state["model"], args.to_reference)
            save_checkpoint(args.out, {"model": ref})
            print(f"{len(ref)} tensors -> {args.out} (reference layout, without the CLIP)")
    except Exception as e:  # noqa: BLE001 — a user's error is one line (shared.errors), anything else re-raised
        from shared.cli import report_user_error

        if not report_user_error(e):
            raise
        return 2
    return 0


def write_pretrained(config: str, state_dict: dict, out: str):
    """A pretrained folder from a converted state dict and a training config (its model must name the CLIP
    weights in ``model.pretrained``, or the state dict must hold them)."""
    from shared.engine import load_config

    from .config import FCCLIPConfig
    from .pretrained import FCCLIP

    return FCCLIP.from_config(load_config(FCCLIPConfig, config), state_dict).save_pretrained(out)


if __name__ == "__main__":
    sys.exit(main())
