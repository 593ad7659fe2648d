"""``python -m fcclip_segmentation.convert --reference REF.pth --out OURS.pt`` (and ``--to-reference``)

Checkpoints of the reference FC-CLIP / Sliding FC-CLIP code (detectron2 state dicts: ``sem_seg_head.pixel_decoder.*``,
``sem_seg_head.predictor.*``, ``void_embedding``, ``global_pos_embed``) ⇄ this repo's (transformers' Mask2Former
module names). Pure key renaming, except the decoder self-attention, whose packed ``in_proj_{weight,bias}`` (rows
q | k | v) are split into / joined from ``q_proj``/``k_proj``/``v_proj``. The frozen CLIP
(``backbone.clip_model.*``) is not carried over: it is rebuilt from its open_clip source (``model.pretrained``).

To evaluate a converted ViTamin checkpoint as the reference ran it, use the ViTamin-L-336 config with
``model.reference_skip_pos_embed=true model.window_placement=reference data.test_pad=black`` (test stride 112,
α 0.45, β 0.7 are the config's values).
"""
from __future__ import annotations

import argparse
import re
import sys

import torch

from shared.engine import CheckpointError, load_checkpoint, load_state_dict_file, save_checkpoint

PD, PRED = "sem_seg_head.pixel_decoder.", "sem_seg_head.predictor."
# (reference key pattern, our key pattern); {i} / {j} are layer indices. Applied in both directions.
KEY_MAP: list[tuple[str, str]] = [
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
    (PRED + "transformer_self_attention_layers.{i}.self_attn.out_proj.{p}",
     "transformer.decoder.layers.{i}.self_attn.out_proj.{p}"),
    (PRED + "transformer_self_attention_layers.{i}.norm.{p}", "transformer.decoder.layers.{i}.self_attn_layer_norm.{p}"),
    (PRED + "transformer_ffn_layers.{i}.linear1.{p}", "transformer.decoder.layers.{i}.fc1.{p}"),
    (PRED + "transformer_ffn_layers.{i}.linear2.{p}", "transformer.decoder.layers.{i}.fc2.{p}"),
    (PRED + "transformer_ffn_layers.{i}.norm.{p}", "transformer.decoder.layers.{i}.final_layer_norm.{p}"),
    (PRED + "decoder_norm.{p}", "transformer.decoder.layernorm.{p}"),
    (PRED + "mask_embed.layers.{i}.{p}", "transformer.decoder.mask_predictor.mask_embedder.{i}.0.{p}"),
    (PRED + "_mask_pooling_proj.{i}.{p}", "mask_pool_proj.{i}.{p}"),
    # ours is an nn.Sequential with the ReLUs in between: Linear layers 0, 2, 4
    (PRED + "class_embed.layers.0.{p}", "class_embed.0.{p}"),
    (PRED + "class_embed.layers.1.{p}", "class_embed.2.{p}"),
    (PRED + "class_embed.layers.2.{p}", "class_embed.4.{p}"),
    (PRED + "logit_scale", "logit_scale"),
    ("void_embedding.weight", "void_embedding.weight"),
    ("global_pos_embed.{lvl}", "position.maps.{lvl}"),
    ("criterion.empty_weight", "criterion.empty_weight"),
]
SELF_ATTN = PRED + "transformer_self_attention_layers.{i}.self_attn.in_proj_{p}"
OURS_QKV = "transformer.decoder.layers.{i}.self_attn.{x}_proj.{p}"
REFERENCE_CLIP = "backbone.clip_model."
FIELDS = {"i": r"(?P<i>\d+)", "j": r"(?P<j>\d+)", "p": r"(?P<p>weight|bias)",
          "x": r"(?P<x>[qkv])",
          "m": r"(?P<m>sampling_offsets|attention_weights|value_proj|output_proj)", "lvl": r"(?P<lvl>res[2-5])"}


def _regex(pattern: str) -> re.Pattern:
    out = re.escape(pattern)
    for name, rx in FIELDS.items():
        out = out.replace(re.escape("{" + name + "}"), rx)
    return re.compile(out + "$")


RULES = [(_regex(ref), ref, _regex(ours), ours) for ref, ours in KEY_MAP]


def _rename(key: str, forward: bool) -> str | None:
    for ref_rx, ref, ours_rx, ours in RULES:
        m = (ref_rx if forward else ours_rx).match(key)
        if m:
            return (ours if forward else ref).format(**m.groupdict())
    return None


def reference_to_ours(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> tuple[dict, int]:
    """A reference state dict → (our state dict without the CLIP, number of CLIP tensors left out)."""
    out, unknown, clip = {}, [], 0
    qkv = _regex(SELF_ATTN)
    for key, value in sd.items():
        if key.startswith(REFERENCE_CLIP):
            clip += 1
            continue
        m = qkv.match(key)
        if m:
            if value.shape[0] % 3:
                raise ValueError(f"{source}: {key} has {value.shape[0]} rows, expected 3 × hidden size (q | k | v)")
            for x, part in zip("qkv", value.chunk(3, dim=0)):
                out[OURS_QKV.format(i=m["i"], x=x, p=m["p"])] = part.clone()
            continue
        new = _rename(key, forward=True)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} keys are not FC-CLIP reference keys, e.g. {unknown[:5]}")
    return out, clip


def ours_to_reference(sd: dict[str, torch.Tensor], source: str = "checkpoint") -> dict:
    """Our state dict (trained parts) → the reference layout (the CLIP is not included)."""
    out, unknown = {}, []
    qkv = _regex(OURS_QKV)
    parts: dict[tuple[str, str], dict[str, torch.Tensor]] = {}
    for key, value in sd.items():
        if key.startswith("backbone."):
            continue
        m = qkv.match(key)
        if m:
            parts.setdefault((m["i"], m["p"]), {})[m["x"]] = value
            continue
        new = _rename(key, forward=False)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    for (i, p), qkv_parts in parts.items():
        if sorted(qkv_parts) != ["k", "q", "v"]:
            raise ValueError(f"{source}: decoder layer {i} self-attention {p} lacks one of q/k/v")
        out[SELF_ATTN.format(i=i, p=p)] = torch.cat([qkv_parts[x] for x in "qkv"], dim=0)
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} keys have no reference name, e.g. {unknown[:5]}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fcclip_segmentation.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--reference", help="reference checkpoint (.pth) → our checkpoint")
    src.add_argument("--to-reference", metavar="CKPT", help="our checkpoint → reference layout")
    p.add_argument("--out", required=True, help="checkpoint file; with --config: a pretrained folder")
    p.add_argument("--config", help="--reference only: write a pretrained folder (config.json + model.safetensors, "
                                    "for from_pretrained / predict --pretrained) at --out, with this training "
                                    "config's model, input size and training classes")
    args = p.parse_args(argv)
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
    except (CheckpointError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
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
