"""FC-CLIP: frozen CLIP pyramid → MSDeformAttn pixel decoder → masked-attention decoder (transformers' Mask2Former
modules) → in-vocabulary class head; at test time an out-of-vocabulary CLIP branch and the geometric ensemble."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Mask2FormerConfig
from transformers.models.mask2former.modeling_mask2former import (Mask2FormerPixelDecoder,
                                                                  Mask2FormerPreTrainedModel,
                                                                  Mask2FormerTransformerModule)

from backbone import ClipBackbone
from backbone.options import Mode, Placement, Res5Mode
from backbone.text import TextClassifier
from shared.engine import CheckpointError, PartialCheckpoint
from shared.engine.config import input_path

from .criterion import SetCriterion
from .ensemble import geometric_ensemble
from .pooling import mask_pool
from .position import PositionCompensation

LEVELS = ("res2", "res3", "res4", "res5")


class MaskVocabulary(NamedTuple):
    """The classes one inference scores: a max-over-synonyms text classifier for K classes, their (K,) thing/stuff
    and (K,) seen flags. Immutable, so one can serve several calls at once."""

    classifier: TextClassifier
    is_thing: torch.Tensor
    seen: torch.Tensor

    def to(self, device) -> "MaskVocabulary":
        return MaskVocabulary(self.classifier.to(device), self.is_thing.to(device), self.seen.to(device))


@dataclass
class FCCLIPModelConfig:
    """Defaults: the paper's ViTamin-L-336 setting (FC-CLIP yamls)."""

    backbone: str = "ViTamin-L-336"
    pretrained: str | None = input_path(None)  # an open_clip tag or a CLIP weights file
    backbone_mode: Mode = "sliding"  # "interpolate" = one whole-image forward (the ConvNeXt baseline)
    train_window_stride: int | None = None  # None = the window (16 windows on 1344²); the reference ran 112
    test_window_stride: int = 112
    window_batch_size: int = 16
    window_placement: Placement = "aligned"
    res5: Res5Mode = "subsample"
    reference_skip_pos_embed: bool = False
    position_compensation: bool = True
    position_compensation_size: int = 1344  # input size at which the learnable maps are stored
    position_compensation_init_std: float = 1.0
    hidden_dim: int = 256
    num_queries: int = 250
    encoder_layers: int = 6
    decoder_layers: int = 10  # transformers counts the initial prediction: 9 masked-attention layers
    num_heads: int = 8
    dim_feedforward: int = 2048
    encoder_feedforward_dim: int = 1024
    train_num_points: int = 12544
    oversample_ratio: float = 3.0
    importance_sample_ratio: float = 0.75
    no_object_weight: float = 0.1
    class_weight: float = 2.0
    mask_weight: float = 5.0
    dice_weight: float = 5.0
    alpha: float = 0.45
    beta: float = 0.7
    object_mask_threshold: float = 0.0
    overlap_threshold: float = 0.8
    test_topk: int = 100


def upsample_mask_logits(masks: torch.Tensor, size, image_sizes) -> list[torch.Tensor]:
    """(B, Q, h', w') mask logits of padded inputs of ``size`` (H, W) → per image (Q, h, w): bilinear to the
    input size, cropped to the image's content (h, w)."""
    up = F.interpolate(masks, size=tuple(size), mode="bilinear", align_corners=False)
    return [m[:, :h, :w] for m, (h, w) in zip(up, image_sizes)]


class MLP(nn.Sequential):
    def __init__(self, dims: list[int]):
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class FCCLIP(PartialCheckpoint, nn.Module):
    """``forward(batch)``: losses in train mode; per image {probs (Q, K+1), mask_logits (Q, h, w)} in eval mode,
    masks at the image's content size (h, w) in the padded input."""

    def __init__(self, cfg: FCCLIPModelConfig, backbone: ClipBackbone, num_train_classes: int):
        super().__init__()
        self.cfg = cfg
        spec = backbone.spec
        backbone.options.res5 = cfg.res5
        self.backbone = backbone
        channels = [spec.levels[k].channels for k in LEVELS]
        strides = [int(spec.levels[k].stride) for k in LEVELS]
        self.m2f_config = Mask2FormerConfig(
            feature_size=cfg.hidden_dim, mask_feature_size=cfg.hidden_dim, hidden_dim=cfg.hidden_dim,
            encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers, num_attention_heads=cfg.num_heads,
            dim_feedforward=cfg.dim_feedforward, encoder_feedforward_dim=cfg.encoder_feedforward_dim,
            num_queries=cfg.num_queries, common_stride=strides[0], feature_strides=strides,
            num_labels=num_train_classes, train_num_points=cfg.train_num_points,
            oversample_ratio=cfg.oversample_ratio, importance_sample_ratio=cfg.importance_sample_ratio,
            no_object_weight=cfg.no_object_weight, class_weight=cfg.class_weight, mask_weight=cfg.mask_weight,
            dice_weight=cfg.dice_weight, use_auxiliary_loss=True)
        self.pixel_decoder = Mask2FormerPixelDecoder(self.m2f_config, feature_channels=channels)
        self.transformer = Mask2FormerTransformerModule(cfg.hidden_dim, self.m2f_config)
        # transformers initialises these only inside its PreTrainedModel (level_embed is even left as torch.empty)
        init = Mask2FormerPreTrainedModel(self.m2f_config)
        self.pixel_decoder.apply(init._init_weights)
        self.transformer.apply(init._init_weights)
        self.position = None
        if cfg.position_compensation:
            s = cfg.position_compensation_size
            self.position = PositionCompensation(
                {k: c for k, c in zip(LEVELS, channels)},
                {k: (s // st, s // st) for k, st in zip(LEVELS, strides)}, cfg.position_compensation_init_std)
        d = spec.embed_dim
        self.mask_pool_proj = nn.Sequential(nn.LayerNorm(cfg.hidden_dim), nn.Linear(cfg.hidden_dim, cfg.hidden_dim))
        self.class_embed = MLP([cfg.hidden_dim, cfg.hidden_dim, cfg.hidden_dim, d])
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.void_embedding = nn.Embedding(1, d)
        self.criterion = SetCriterion(self.m2f_config, {"loss_cross_entropy": cfg.class_weight,
                                                        "loss_mask": cfg.mask_weight, "loss_dice": cfg.dice_weight})
        self.register_buffer("text_embeddings", torch.zeros(1, d), persistent=False)
        self.register_buffer("text_class_index", torch.zeros(1, dtype=torch.long), persistent=False)
        self.register_buffer("seen", torch.ones(1, dtype=torch.bool), persistent=False)
        self.register_buffer("is_thing", torch.ones(1, dtype=torch.bool), persistent=False)
        self.class_names: list[str] = []

    # --- vocabulary ------------------------------------------------------------------------------
    def prepare_vocabulary(self, classifier: TextClassifier, is_thing: torch.Tensor,
                           seen: torch.Tensor) -> MaskVocabulary:
        """A max-over-synonyms text classifier for K classes, their thing/stuff flags and seen flags, checked, on
        the model's device."""
        if classifier.reduce != "max":
            raise ValueError("FC-CLIP scores a class by the max over its synonyms: build the classifier with reduce='max'")
        k = classifier.num_classes
        if is_thing.shape != (k,) or seen.shape != (k,):
            raise ValueError(f"is_thing {tuple(is_thing.shape)} and seen {tuple(seen.shape)} must be ({k},)")
        device = self.logit_scale.device
        return MaskVocabulary(classifier.to(device), is_thing.bool().to(device), seen.bool().to(device))

    def set_vocabulary(self, classifier: TextClassifier, is_thing: torch.Tensor, seen: torch.Tensor) -> None:
        """The model's own vocabulary (training, eval, export): ``prepare_vocabulary``'s arguments."""
        clf, self.is_thing, self.seen = self.prepare_vocabulary(classifier, is_thing, seen)
        self.class_names = list(clf.class_names)
        self.text_embeddings, self.text_class_index = clf.embeddings, clf.class_index

    def _classifier(self) -> TextClassifier:
        return TextClassifier(self.class_names, self.text_embeddings, self.text_class_index, "max")

    @property
    def mask_vocabulary(self) -> MaskVocabulary:
        """The model's own vocabulary."""
        return MaskVocabulary(self._classifier(), self.is_thing, self.seen)

    # --- heads -----------------------------------------------------------------------------------
    def classify(self, queries: torch.Tensor, mask_logits: torch.Tensor, mask_features: torch.Tensor,
                 classifier: TextClassifier | None = None) -> torch.Tensor:
        """In-vocabulary logits (B, Q, K+1), void last: mask-pooled pixel features + query → MLP → cosine with the
        text embeddings (max over synonyms) × a learned temperature (capped at 100). ``classifier``: default the
        model's own."""
        z = self.class_embed(self.mask_pool_proj(mask_pool(mask_features, mask_logits)) + queries)
        scale = self.logit_scale.exp().clamp(max=100)
        logits = (self._classifier() if classifier is None else classifier).logits(z, scale)
        void = scale * F.normalize(z, dim=-1) @ F.normalize(self.void_embedding.weight, dim=-1).t()
        return torch.cat([logits, void], dim=-1)

    def out_of_vocabulary_logits(self, clip_map: torch.Tensor, mask_logits: torch.Tensor,
                                 classifier: TextClassifier | None = None) -> torch.Tensor:
        """Mask-pool the frozen CLIP map with each predicted mask, apply the CLIP head, classify with the frozen
        CLIP temperature: (B, Q, K). ``classifier``: default the model's own."""
        b, q = mask_logits.shape[:2]
        pooled = mask_pool(clip_map.float(), mask_logits.float())
        emb = self.backbone.embed_vectors(pooled.flatten(0, 1)).view(b, q, -1)
        scale = self.backbone.clip.logit_scale.exp().clamp(max=100)
        return (self._classifier() if classifier is None else classifier).logits(emb, scale)

    # --- forward ---------------------------------------------------------------------------------
    def forward(self, batch: dict, vocabulary: MaskVocabulary | None = None):
        """Training: the weighted losses. Eval: per image {probs (Q, K+1), mask_logits (Q, h, w)} cropped to its
        content, scored with ``vocabulary`` (this call only; default the model's own)."""
        images = batch["images"]
        if not self.training:
            probs, masks = self.infer(images, vocabulary)
            up = upsample_mask_logits(masks, images.shape[-2:], batch["image_sizes"])
            return [{"probs": p, "mask_logits": m} for p, m in zip(probs, up)]
        # None: the window (no overlap), not the backbone options' stride
        feats, pd, dec = self._decode(images, self.cfg.train_window_stride or tuple(self.backbone.spec.native_size))
        masks = dec.masks_queries_logits
        queries = [h.transpose(0, 1) for h in dec.intermediate_hidden_states]
        logits = [self.classify(qs, m, pd.mask_features) for qs, m in zip(queries, masks)]
        targets = batch["targets"]
        losses = self.criterion(masks[-1], logits[-1], [t["masks"].float() for t in targets],
                                [t["labels"] for t in targets],
                                [{"masks_queries_logits": m, "class_queries_logits": c}
                                 for m, c in zip(masks[:-1], logits[:-1])])
        return self.criterion.weighted(losses)

    def _decode(self, images: torch.Tensor, window_stride):
        feats = self.backbone(images, window_stride=window_stride)
        maps = {k: feats[k] for k in LEVELS}
        if self.position is not None:
            maps = self.position(maps)
        with torch.autocast(images.device.type, enabled=False):  # the deformable pixel decoder runs in fp32
            pd = self.pixel_decoder([maps[k].float() for k in LEVELS])
        return feats, pd, self.transformer(list(pd.multi_scale_features), pd.mask_features)

    def infer(self, images: torch.Tensor, vocabulary: MaskVocabulary | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Test-time class probabilities (B, Q, K+1), void last, and mask logits (B, Q, H/s, W/s) at the mask
        features' stride s, for the padded input (an exported graph ends here; ``forward`` upsamples and crops).
        ``vocabulary``: this call's classes (default: the model's own, which it leaves untouched)."""
        clf, _, seen = self.mask_vocabulary if vocabulary is None else vocabulary
        feats, pd, dec = self._decode(images, self.cfg.test_window_stride)
        masks = dec.masks_queries_logits[-1]
        logits_in = self.classify(dec.intermediate_hidden_states[-1].transpose(0, 1), masks, pd.mask_features, clf)
        clip_map = feats[self.backbone.extractor.clip_source]
        logits_out = self.out_of_vocabulary_logits(clip_map, masks, clf)
        probs = geometric_ensemble(logits_in.float(), logits_out.float(), seen, self.cfg.alpha, self.cfg.beta)
        return probs, masks.float()

    def checkpoint_skip_prefixes(self) -> tuple[str, ...]:
        # a frozen CLIP loaded from its own source is left out; a random-init one exists nowhere else
        return ("backbone.",) if self.backbone.restorable else ()

    def load_checkpoint_state_dict(self, sd: dict, source: str) -> None:
        check_class_count(sd, self.criterion.empty_weight.shape[0] - 1, source)
        super().load_checkpoint_state_dict(sd, source)


def check_class_count(sd: dict, num_train_classes: int, source: str) -> None:
    """A checkpoint's state dict fits a model of ``num_train_classes`` training classes: the criterion's no-object
    weights (K + 1 values) record how many classes it was trained with."""
    trained = sd.get("criterion.empty_weight")
    if isinstance(trained, torch.Tensor) and trained.ndim == 1 and trained.shape[0] - 1 != num_train_classes:
        raise CheckpointError(f"{source} was trained with {trained.shape[0] - 1} classes, but the training "
                              f"vocabulary has {num_train_classes}: data.train_class_names (else data.train_json's "
                              f"categories) must list the classes it was trained with")
