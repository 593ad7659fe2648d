"""``python -m fvit_detection.convert --reference REF.pth --out OURS.pt`` (and ``--to-reference CKPT --out REF.pth``)

Checkpoints of the reference Sliding F-ViT (mmdetection 2.x state dicts of ViTamin's ``vitamin_fvit/F-ViT`` =
CLIPSelf's ``F-ViT``: detector ``FViT``, backbone ``CLIPViTamin``, neck ``FPN``, ``CustomRPNHead`` / ``RPNHead``,
``FViTRoIHead`` with ``FViTBBoxHead`` and ``FCNMaskHead``) ⇄ this repo's ``FViT`` (torchvision FPN and RPN head, our
RoI head). The frozen CLIP (``backbone.visual.*``) is not carried over: it is rebuilt from its open_clip source
(``model.pretrained``).

Key map: ``KEY_MAP`` below, one row per rule with the shapes of ViTamin-L OV-LVIS (``python -m
fvit_detection.convert --keys`` prints it). The frozen CLIP (``backbone.visual.*``) is not in it: counted, not
copied; ``interpolate3`` = Identity on the block-15 tap (our ``c4_block`` 14) and ``interpolate4`` = 2×2 max-pool
(our ``res5``) have no weights.

Same semantics, checked against the mmdet / mmcv sources: conv+norm modules have no conv bias in both
(``ConvModule`` bias='auto', torchvision ``Conv2dNormActivation`` / our RoI convs); nearest upsampling to the lower
level's size and P6 = max-pool(k=1, s=2) in both FPNs; RPN anchors in the same order (location-major, then the
ratios 0.5, 1, 2, ratio = h/w, one scale) so ``rpn_cls`` channel a and ``rpn_reg`` channels 4a..4a+3 = (dx, dy,
dw, dh) of anchor a are torchvision's layout too (no permutation), one sigmoid logit per anchor, positive =
object, deltas with stds (1, 1, 1, 1) in both; RoI head: flatten C×7×7, ReLU after every fc including the cls fc,
cosine × temperature against text embeddings with the background LAST in both (ref buffer [D, C+1], ours
(C+1, D)), class-agnostic deltas (stds .1/.1/.2/.2 = our weights 10/10/5/5), class-agnostic 1-channel mask.

RPN head layouts (``--rpn-layout``): the OV-LVIS config's ``CustomRPNHead`` puts an MMSyncBN after each RPN conv
(conv without bias → BN → ReLU), which is our ``model.rpn_norm=bn`` (the OV-LVIS configs set it): such files map
name for name, exact also in training. The OV-COCO ``RPNHead`` (num_convs=2, conv + bias → ReLU) is our
``model.rpn_norm=none``. Across layouts the converter rewrites, identical at inference but not in training:
``plain`` folds a BN into its conv (W·γ/√(σ²+ε), (b−μ)·γ/√(σ²+ε)+β, ε = 1e-5, mmcv's default, not stored in the
file); ``syncbn`` turns a conv bias into a BN with running mean 0, var 1, γ = √(1+ε), β = the bias (the identity plus
bias, up to float rounding). ``auto``: reference → ours keeps the file's layout; ours → reference writes ``syncbn``
when the model has RPN BNs or a mask head (OV-LVIS), else ``plain``. mmcv loads checkpoints with strict=False, so a
wrong layout would only be a logged warning there (MMSyncBN γ initialised uniform at random) — pick the layout of the
config you load into.

Not converted (``DROPPED``, ``LEFT_AT_REFERENCE_INIT``; the CLI prints each with its reason): the unused
``fc_cls``, the class-embedding buffer ``all_embeddings`` (ours is the vocabulary set from class names at
eval/predict time) and the frozen CLIP. Refused with an explanation (no counterpart in our model, ``REFUSED`` and
``_check_reference_layout``): a learned background, the transposed-conv adapters of the ViT / EVA backbones,
class-specific ``fc_reg`` or mask ``conv_logits``, a softmax RPN. Ours → reference refuses models without a
reference layout: ``model.norm`` gn, ``roi_fc_dim`` ≠ the CLIP embedding dim, ``model.cls_relu=false`` (read from
the checkpoint's ``metadata.fvit_config``; a bare state dict cannot show it).

Outside the weights (documented, not converted): torchvision rounds the base anchors to integers (≤ 0.5 px from
mmdet's), clamps only large log-size deltas (mmdet also clamps below −log(1000/16)) and its Matcher has no
``min_pos_iou``. To evaluate a converted ViTamin-L checkpoint as the reference ran it, use
``fvit_detection/configs/reference_ov_lvis_vitamin_l_336_eval.yaml`` (or ``reference_ov_coco_vitamin_l_336_eval.yaml``:
the reference's window placement and RPN head); ``--reference`` prints the ``model.*`` settings the file's shapes
imply.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field

import torch

from shared.engine import CheckpointError, load_checkpoint, load_state_dict_file, save_checkpoint
from shared.keymap import OURS, REFERENCE, Converted, KeyMap

BH, MH = "roi_head.bbox_head.", "roi_head.mask_head."
BN_ENTRIES = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
# placeholders: {i} a layer index ({3i} / {3i+1} / {2i+1}: our nn.Sequential index of conv, norm, fc when conv,
# norm and ReLU are separate entries), {p} weight|bias, {bn} the five BatchNorm entries
FIELDS = {"i": r"\d+", "p": "weight|bias", "bn": "|".join(BN_ENTRIES)}
KEY_MAP = KeyMap([  # (reference, ours, what: shapes for ViTamin-L OV-LVIS); the first matching row wins
    ("backbone.interpolate1.0.{p}", "adapters.adapt2.0.{p}", "3×3 conv 160→160 (stride 4)"),
    ("backbone.interpolate1.1.{bn}", "adapters.adapt2.1.{bn}", "SyncBN(160) (then GELU)"),
    ("backbone.interpolate1.3.{p}", "adapters.adapt2.3.{p}", "3×3 conv 160→160"),
    ("backbone.interpolate2.0.{p}", "adapters.adapt3.{p}", "3×3 conv 320→320 (stride 8)"),
    ("neck.lateral_convs.{i}.conv.weight", "fpn.inner_blocks.{i}.0.weight", "1×1, no bias (norm follows)"),
    ("neck.lateral_convs.{i}.bn.{bn}", "fpn.inner_blocks.{i}.1.{bn}"),
    ("neck.fpn_convs.{i}.conv.weight", "fpn.layer_blocks.{i}.0.weight", "3×3, no bias"),
    ("neck.fpn_convs.{i}.bn.{bn}", "fpn.layer_blocks.{i}.1.{bn}"),
    ("rpn_head.rpn_conv.{i}.conv.{p}", "rpn.head.conv.{i}.0.{p}", "3×3 256→256 (+ReLU)"),
    ("rpn_head.rpn_conv.{i}.bn.{bn}", "rpn.head.conv.{i}.1.{bn}", "OV-LVIS CustomRPNHead's MMSyncBN (rpn_norm=bn)"),
    ("rpn_head.rpn_conv.{p}", "rpn.head.conv.0.0.{p}", "num_convs=1 heads (export: _single_rpn_conv)"),
    ("rpn_head.rpn_cls.{p}", "rpn.head.cls_logits.{p}", "A=3 sigmoid logits / location"),
    ("rpn_head.rpn_reg.{p}", "rpn.head.bbox_pred.{p}", "4A deltas / location"),
    (BH + "shared_convs.{i}.conv.weight", "roi_heads.box_convs.{3i}.weight"),
    (BH + "shared_convs.{i}.bn.{bn}", "roi_heads.box_convs.{3i+1}.{bn}"),
    (BH + "shared_fcs.{i}.{p}", "roi_heads.box_fcs.{2i+1}.{p}", "256·7·7→768, 768→768"),
    (BH + "cls_fcs.0.{p}", "roi_heads.cls_fc.0.{p}", "768→768 (+ReLU)"),
    (BH + "reg_fcs.0.{p}", "roi_heads.reg_fc.0.{p}", "768→768 (+ReLU)"),
    (BH + "fc_reg.{p}", "roi_heads.reg_fc.2.{p}", "768→4, class-agnostic"),
    (BH + "detect_temperature", "roi_heads.temperature", "scalar (init 50)"),
    (MH + "upsample.{p}", "roi_heads.mask_head.12.{p}", "2×2 s2 ConvTranspose (before the conv rows: 12 = 3·4)"),
    (MH + "conv_logits.{p}", "roi_heads.mask_head.14.{p}", "1×1 → 1 channel (class-agnostic)"),
    (MH + "convs.{i}.conv.weight", "roi_heads.mask_head.{3i}.weight"),
    (MH + "convs.{i}.bn.{bn}", "roi_heads.mask_head.{3i+1}.{bn}"),
], FIELDS)
REFERENCE_CLIP = "backbone.visual."
# reference keys with no counterpart in our model that are safe to drop (the why is printed)
DROPPED = {
    BH + "fc_cls.weight": "built by mmdet's ConvFCBBoxHead, never used by FViTBBoxHead.forward",
    BH + "fc_cls.bias": "built by mmdet's ConvFCBBoxHead, never used by FViTBBoxHead.forward",
    BH + "all_embeddings": "class-embedding buffer from the config's class_embed file; ours is the vocabulary set "
                           "from the class names at eval/predict time (fvit_detection.builder.set_vocabulary)",
}
# reference keys the exported file does not set: the reference model keeps its own init / file for them
LEFT_AT_REFERENCE_INIT = {
    BH + "fc_cls.{weight,bias}": "unused by FViTBBoxHead (shape (C+1, 768) depends on the class list)",
    BH + "all_embeddings": "loaded by FViTBBoxHead.__init__ from the config's class_embed file",
    REFERENCE_CLIP + "*": "the frozen CLIP, loaded from the config's pretrained file",
}
REFUSED = {
    BH + "bg_embedding": "learned background embedding (learn_bg=True); our head classifies against the fixed text "
                         "embedding of 'background' and has no such parameter",
}
RPN_LAYOUTS = ("auto", "plain", "syncbn")
_RPN_CONV = re.compile(r"rpn\.head\.conv\.(\d+)\.0\.weight$")
BN_EPS = 1e-5  # mmcv / torch default; the reference configs do not change it and it is not in the state dict


@dataclass
class ConversionReport:
    """What a conversion left out or changed; ``lines()`` is what the CLI prints."""

    clip_tensors: int = 0
    dropped: dict[str, str] = field(default_factory=dict)         # key in the source → why it is not carried
    left_at_init: dict[str, str] = field(default_factory=dict)    # key of the target model the file does not set
    changed: list[str] = field(default_factory=list)              # exact-at-inference rewrites (BN folding)
    config: list[str] = field(default_factory=list)               # our model settings the source's shapes imply

    def lines(self) -> list[str]:
        out = []
        if self.clip_tensors:
            out.append(f"{self.clip_tensors} frozen CLIP tensors (backbone.visual.*) left out: they come from "
                       "model.pretrained")
        if self.changed:
            out.append("changed (same output at inference, not in training):")
            out += [f"  - {c}" for c in self.changed]
        if self.dropped:
            out.append("not carried over:")
            out += [f"  - {k}: {why}" for k, why in self.dropped.items()]
        if self.left_at_init:
            out.append("not in the file, so left as the reference model initialises them:")
            out += [f"  - {k}: {why}" for k, why in self.left_at_init.items()]
        if self.config:
            out.append("load with: " + " ".join(self.config))
        return out


def _norms(converted: Converted) -> dict[str, set[str]]:
    """{norm module of the converted keys: its entries present} for the rows with BatchNorm entries ``{bn}``."""
    norms: dict[str, set[str]] = {}
    for key, values in converted.values.items():
        if "bn" in values:
            module, entry = key.rsplit(".", 1)
            norms.setdefault(module, set()).add(entry)
    return norms


def _check_norms(norm_keys: dict[str, set[str]], source: str, target: str) -> None:
    bad = {m: sorted(e) for m, e in norm_keys.items() if not {"weight", "bias", "running_mean", "running_var"} <= e}
    if bad:
        m, e = next(iter(bad.items()))
        raise ValueError(f"{source}: {len(bad)} norm layers without BatchNorm running statistics (e.g. {m} has only "
                         f"{e}); {target} uses (Sync)BatchNorm there — a GroupNorm model (model.norm=gn) has no "
                         "counterpart")


def _fold_bn(w: torch.Tensor, b: torch.Tensor | None, bn: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """conv (w, b) followed by an eval-mode BatchNorm → one conv with bias (float32 arithmetic, so that the identity
    BatchNorm written by ``_identity_bn`` folds back to exactly the same tensors)."""
    f = {k: v.float() for k, v in bn.items()}
    scale = f["weight"] / torch.sqrt(f["running_var"] + BN_EPS)
    bias = b.float() if b is not None else torch.zeros_like(scale)
    return ((w.float() * scale[:, None, None, None]).to(w.dtype),
            ((bias - f["running_mean"]) * scale + f["bias"]).to(w.dtype))


def _identity_bn(bias: torch.Tensor) -> dict[str, torch.Tensor]:
    """The BatchNorm that, after a conv without bias, adds ``bias`` at inference: running mean 0, var 1,
    γ = √(1+ε), β = bias."""
    ones = torch.ones_like(bias)
    return {"weight": torch.sqrt(ones + BN_EPS), "bias": bias, "running_mean": torch.zeros_like(bias),
            "running_var": ones, "num_batches_tracked": torch.tensor(0)}


def _rpn_to_layout(sd: dict[str, torch.Tensor], layout: str, source: str, report: "ConversionReport") -> None:
    """Rewrite our RPN convs (``rpn.head.conv.{i}.0`` conv, ``.1`` norm) in place to ``layout``: ``plain`` folds a
    BatchNorm into its conv, ``syncbn`` turns a conv bias into the identity BatchNorm plus that bias, ``auto``
    keeps the tensors as they are. Both rewrites give the same outputs at inference, not in training."""
    if layout not in RPN_LAYOUTS:
        raise ValueError(f"rpn_layout={layout!r}: expected {', '.join(RPN_LAYOUTS)}")
    convs = sorted(int(m[1]) for k in sd if (m := _RPN_CONV.match(k)))
    for i in convs:
        conv, norm = f"rpn.head.conv.{i}.0.", f"rpn.head.conv.{i}.1."
        bn = {k[len(norm):]: sd[k] for k in sd if k.startswith(norm)}
        if layout == "plain" and bn:
            if not {"weight", "bias", "running_mean", "running_var"} <= bn.keys():
                raise ValueError(f"{source}: {norm[:-1]} has only {sorted(bn)}: a norm without BatchNorm running "
                                 "statistics (model.rpn_norm=gn) cannot be folded into the conv")
            for k in bn:
                del sd[norm + k]
            sd[conv + "weight"], sd[conv + "bias"] = _fold_bn(sd[conv + "weight"], sd.get(conv + "bias"), bn)
            report.changed.append(f"{norm[:-1]} (BatchNorm) folded into {conv[:-1]} (the plain RPN head has no norm; "
                                  f"ε = {BN_EPS})")
        elif layout == "syncbn" and not bn:
            if len(convs) == 1:
                raise ValueError(f"{source}: one RPN conv: mmdet's num_convs=1 RPN head is a plain conv without "
                                 "norm; use rpn_layout=plain")
            bias = sd.pop(conv + "bias")
            sd.update({norm + k: v for k, v in _identity_bn(bias).items()})
            report.changed.append(f"{conv[:-1]} bias → {norm[:-1]}: BatchNorm with running mean 0, var 1, γ = √(1+ε), "
                                  "β = bias (the OV-LVIS CustomRPNHead's MMSyncBN; identity + bias at inference)")


def _check_reference_layout(sd: dict[str, torch.Tensor], source: str) -> None:
    for key, why in REFUSED.items():
        if key in sd:
            raise ValueError(f"{source}: {key}: {why}")
    for key in ("backbone.interpolate1.0.weight", "backbone.interpolate1.3.weight", "backbone.interpolate2.0.weight"):
        if key in sd and tuple(sd[key].shape[-2:]) != (3, 3):
            raise ValueError(
                f"{source}: {key} has a {tuple(sd[key].shape[-2:])} kernel: the transposed-conv adapters of the "
                "reference's ViT / EVA backbones (CLIPViT / EvaCLIPViT). Our adapters are 3×3 convs on the backbone's "
                "res2 / res3 (the ViTamin layout): no counterpart")
    reg = sd.get(BH + "fc_reg.weight")
    if reg is not None and reg.shape[0] != 4:
        raise ValueError(f"{source}: {BH}fc_reg.weight has {reg.shape[0]} outputs: class-specific regression "
                         "(reg_class_agnostic=False); our RoI head regresses one class-agnostic box")
    logits = sd.get(MH + "conv_logits.weight")
    if logits is not None and logits.shape[0] != 1:
        raise ValueError(f"{source}: {MH}conv_logits.weight has {logits.shape[0]} outputs: a class-specific mask "
                         "head (class_agnostic=False); our mask head predicts one class-agnostic mask")
    cls, box = sd.get("rpn_head.rpn_cls.weight"), sd.get("rpn_head.rpn_reg.weight")
    if cls is not None and box is not None and 4 * cls.shape[0] != box.shape[0]:
        raise ValueError(f"{source}: rpn_head.rpn_cls has {cls.shape[0]} outputs for {box.shape[0] // 4} anchors: a "
                         "softmax RPN (use_sigmoid=False, 2 logits per anchor); torchvision's RPN head has one "
                         "sigmoid logit per anchor")


def reference_to_ours(sd: dict[str, torch.Tensor], source: str = "checkpoint",
                      rpn_layout: str = "auto") -> tuple[dict, ConversionReport]:
    """A reference state dict → (our state dict without the CLIP, report of what was left out or folded).

    rpn_layout: ``auto`` keeps the file's RPN head (the OV-LVIS CustomRPNHead's SyncBN → our ``model.rpn_norm=bn``,
    exact also in training); ``plain`` folds that BatchNorm into the conv (for ``model.rpn_norm=none``; same outputs
    at inference only); ``syncbn`` gives a plain head the identity BatchNorm (for ``model.rpn_norm=bn``).
    """
    _check_reference_layout(sd, source)
    report = ConversionReport()
    kept = {}
    for key, value in sd.items():
        if key.startswith(REFERENCE_CLIP):
            report.clip_tensors += 1
        elif key in DROPPED:
            report.dropped[key] = DROPPED[key]
        else:
            kept[key] = value
    converted = KEY_MAP.convert(kept, OURS, source, collision_hint=" (a layer count our model lacks)")
    out, unknown, norms = converted.state_dict, converted.unknown, _norms(converted)
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} keys are not F-ViT reference keys, e.g. {unknown[:5]}")
    _check_norms(norms, source, "our model")
    for norm in norms:
        if norm.startswith("rpn.head.conv.") and norm.rsplit(".", 1)[0] + ".0.weight" not in out:
            raise ValueError(f"{source}: {norm}: an RPN BatchNorm without its conv")
    _rpn_to_layout(out, rpn_layout, source, report)
    report.config = _implied_config(sd, out)
    return out, report


def _implied_config(ref: dict, ours: dict) -> list[str]:
    """Our ``model.*`` settings a reference checkpoint's shapes imply (printed, so the right config is used)."""
    mask = any(k.startswith("roi_heads.mask_head.") for k in ours)
    rpn_convs = sum(bool(re.fullmatch(r"rpn\.head\.conv\.\d+\.0\.weight", k)) for k in ours)
    rpn_norm = "bn" if "rpn.head.conv.0.1.running_var" in ours else "none"
    cfg = [f"model.with_mask={str(mask).lower()}", f"model.rpn_convs={rpn_convs}", f"model.rpn_norm={rpn_norm}"]
    if "fpn.inner_blocks.0.0.weight" in ours:
        cfg.append(f"model.fpn_channels={ours['fpn.inner_blocks.0.0.weight'].shape[0]}")
    if "roi_heads.box_convs.0.weight" in ours:
        cfg.append(f"model.roi_conv_channels={ours['roi_heads.box_convs.0.weight'].shape[0]}")
    blocks = {int(m[1]) for k in ref if (m := re.match(re.escape(REFERENCE_CLIP) + r"trunk\.blocks\.(\d+)\.", k))}
    if blocks:  # the reference taps C4 after blocks[:len(blocks) // 2]
        cfg.append(f"model.c4_block={(max(blocks) + 1) // 2 - 1}")
    return cfg


def _single_rpn_conv(ref: dict) -> None:
    """mmdet's RPNHead with num_convs=1 names its conv ``rpn_conv`` (a plain Conv2d, not a Sequential)."""
    if not any(k.startswith("rpn_head.rpn_conv.1.") for k in ref):
        for p in ("weight", "bias"):
            if f"rpn_head.rpn_conv.0.conv.{p}" in ref:
                ref[f"rpn_head.rpn_conv.{p}"] = ref.pop(f"rpn_head.rpn_conv.0.conv.{p}")


def ours_to_reference(sd: dict[str, torch.Tensor], source: str = "checkpoint", rpn_layout: str = "auto",
                      model_cfg: dict | None = None) -> tuple[dict, ConversionReport]:
    """Our state dict (trained parts) → (the reference layout without the CLIP, report).

    rpn_layout: ``plain`` (RPNHead / CustomRPNHead norm_cfg=None), ``syncbn`` (the OV-LVIS CustomRPNHead with
    MMSyncBN), ``auto`` (syncbn when our RPN has BatchNorms or there is a mask head, else plain). A BatchNorm of
    ours maps exactly to ``syncbn``; the other combinations are rewritten (``_rpn_to_layout``). model_cfg: our
    ``model`` config (from the checkpoint's metadata) — checked for settings the reference cannot express.
    """
    if rpn_layout not in RPN_LAYOUTS:
        raise ValueError(f"rpn_layout={rpn_layout!r}: expected {', '.join(RPN_LAYOUTS)}")
    if model_cfg:
        if model_cfg.get("cls_relu", True) is not True:
            raise ValueError(f"{source}: trained with model.cls_relu=false; the reference's FViTBBoxHead always "
                             "applies a ReLU after the classification fc (no counterpart)")
        if model_cfg.get("rpn_norm", "none") not in ("none", "bn"):
            raise ValueError(f"{source}: trained with model.rpn_norm={model_cfg['rpn_norm']!r}; the reference's RPN "
                             "head has SyncBN (OV-LVIS) or no norm (OV-COCO) (no counterpart)")
        if model_cfg.get("norm", "bn") != "bn":
            raise ValueError(f"{source}: trained with model.norm={model_cfg['norm']!r}; the reference uses SyncBN in "
                             "the adapters, FPN and RoI heads (no counterpart)")
    cls_fc = sd.get("roi_heads.cls_fc.0.weight")
    if cls_fc is not None and cls_fc.shape[0] != cls_fc.shape[1]:
        raise ValueError(f"{source}: roi_heads.cls_fc.0.weight is {tuple(cls_fc.shape)}: model.roi_fc_dim differs "
                         "from the CLIP embedding dim; the reference's cls fc is fc_out_channels → fc_out_channels "
                         "with fc_out_channels = the embedding dim (no counterpart)")
    report = ConversionReport()
    sd = {k: v for k, v in sd.items() if not k.startswith("backbone.")}
    if rpn_layout == "auto":
        with_bn = any(k.startswith("rpn.head.conv.") and k.endswith(".1.running_var") for k in sd)
        rpn_layout = "syncbn" if with_bn or any(k.startswith("roi_heads.mask_head.") for k in sd) else "plain"
    _rpn_to_layout(sd, rpn_layout, source, report)
    converted = KEY_MAP.convert(sd, REFERENCE, source)
    out, unknown, norms = converted.state_dict, converted.unknown, _norms(converted)
    if unknown:
        hint = ""
        if any(re.search(r"(inner_blocks|layer_blocks)\.\d+\.0\.bias$|box_convs\.\d+\.bias$|mask_head\.\d+\.bias$", k)
               for k in unknown):
            hint = (" (conv biases where the reference has conv + SyncBN without bias: a model.norm=gn/none model "
                    "has no reference layout)")
        raise ValueError(f"{source}: {len(unknown)} keys have no reference name, e.g. {unknown[:5]}{hint}")
    _check_norms(norms, source, "the reference")
    if rpn_layout == "plain":
        _single_rpn_conv(out)
    report.left_at_init = dict(LEFT_AT_REFERENCE_INIT)
    if not any(k.startswith(MH) for k in out):
        report.left_at_init[MH + "*"] = "no mask head in this model (the OV-COCO config has none)"
    return out, report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fvit_detection.convert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--reference", help="reference (mmdet) checkpoint .pth → our checkpoint")
    src.add_argument("--to-reference", metavar="CKPT", help="our checkpoint → reference (mmdet) layout")
    src.add_argument("--keys", action="store_true", help="print the key map (reference ⇄ ours) and exit")
    p.add_argument("--rpn-layout", choices=RPN_LAYOUTS, default="auto",
                   help="RPN conv layout of the target. --to-reference: syncbn = the OV-LVIS CustomRPNHead, plain = "
                        "the OV-COCO RPNHead (default: syncbn when the model has RPN BatchNorms or a mask head). "
                        "--reference: plain folds the file's RPN BatchNorms into the convs (model.rpn_norm=none), "
                        "syncbn adds identity BatchNorms to a plain head (model.rpn_norm=bn), default: as in the file")
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
            ours, report = reference_to_ours(load_state_dict_file(args.reference), args.reference, args.rpn_layout)
            if args.config:
                print(f"pretrained folder -> {write_pretrained(args.config, ours, args.out)}")
            else:
                save_checkpoint(args.out, {"model": ours, "step": 0,
                                           "metadata": {"converted_from": str(args.reference)}})
            print(f"{len(ours)} tensors -> {args.out}")
        else:
            state = load_checkpoint(args.to_reference)
            if "model" not in state:
                raise CheckpointError(f"{args.to_reference}: no 'model' entry (not a checkpoint of this repo)")
            model_cfg = ((state.get("metadata") or {}).get("fvit_config") or {}).get("model")
            ref, report = ours_to_reference(state["model"], args.to_reference, args.rpn_layout, model_cfg)
            save_checkpoint(args.out, {"state_dict": ref, "meta": {"converted_from": str(args.to_reference)}})
            print(f"{len(ref)} tensors -> {args.out} (mmdet layout under 'state_dict', without the CLIP)")
        for line in report.lines():
            print(line)
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

    from .config import FViTConfig
    from .pretrained import FViT

    return FViT.from_config(load_config(FViTConfig, config), state_dict).save_pretrained(out)


if __name__ == "__main__":
    sys.exit(main())
