"""The ViTamin vision tower as a small HF ``PreTrainedModel`` around the timm ViTamin trunk.

Registered with ``AutoConfig`` / ``AutoModel`` (model type ``vitamin_vision``) when ``llava_lmm`` is imported, so
``LlavaForConditionalGeneration`` builds and reloads it natively — no ``trust_remote_code``.

Output: ``hidden_states`` = (tokens after patch embedding + position embedding, block 1, …, block L), each
(B, N, C) with N = (R/16)² (ViTamin has no CLS token) and C the trunk width read from the model. LLaVA selects
``vision_feature_layer = -2`` (block L-1) with strategy ``full``.
While every parameter is frozen the tower stays in eval mode (even under ``model.train()``) and runs under
``torch.no_grad()``; drop-path is always 0.
"""
from __future__ import annotations

import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithPooling

from backbone.tiny import register as _register_tiny

_register_tiny()


class ViTaminVisionConfig(PretrainedConfig):
    model_type = "vitamin_vision"
    base_config_key = "vision_config"

    def __init__(self, timm_model_name: str = "vitamin_tiny_128", hidden_size: int = 64, image_size: int = 128,
                 patch_size: int = 16, num_hidden_layers: int = 4, num_channels: int = 3,
                 open_clip_name: str | None = None, image_mean=(0.48145466, 0.4578275, 0.40821073),
                 image_std=(0.26862954, 0.26130258, 0.27577711), **kwargs):
        self.timm_model_name = timm_model_name
        self.hidden_size = hidden_size
        self.image_size = image_size
        self.patch_size = patch_size
        self.num_hidden_layers = num_hidden_layers
        self.num_channels = num_channels
        self.open_clip_name = open_clip_name
        self.image_mean = list(image_mean)
        self.image_std = list(image_std)
        super().__init__(**kwargs)

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @classmethod
    def from_timm(cls, timm_model_name: str, image_size: int | None = None, **kwargs) -> "ViTaminVisionConfig":
        """Sizes read from the timm model itself (built on the meta device: no memory, no init time)."""
        with torch.device("meta"):
            trunk = _create_trunk(timm_model_name, image_size)
        grid = tuple(trunk.patch_embed.grid_size)
        img = tuple(trunk.patch_embed.img_size)
        if grid[0] != grid[1] or img[0] != img[1]:
            raise ValueError(f"{timm_model_name}: only square inputs are supported (grid {grid}, image {img})")
        return cls(timm_model_name=timm_model_name, hidden_size=int(trunk.embed_dim), image_size=int(img[0]),
                   patch_size=int(img[0] // grid[0]), num_hidden_layers=len(trunk.blocks), **kwargs)

    @classmethod
    def from_open_clip(cls, name: str, image_size: int | None = None, **kwargs) -> "ViTaminVisionConfig":
        """Config of the image trunk of an open_clip ViTamin model (``ViTamin-L-336`` …).

        The trunk's own native size wins over the open_clip ``image_size`` (ViTamin-XL-384 says 256).
        """
        import open_clip

        cfg = open_clip.get_model_config(name)
        if cfg is None:
            raise ValueError(f"unknown open_clip model {name!r} (try `python -m backbone list`)")
        timm_name = cfg.get("vision_cfg", {}).get("timm_model_name")
        if not timm_name or not timm_name.startswith("vitamin"):
            raise ValueError(f"open_clip model {name!r} has no timm ViTamin image trunk (timm name {timm_name!r})")
        return cls.from_timm(timm_name, image_size=image_size, open_clip_name=name, **kwargs)


def _create_trunk(timm_model_name: str, image_size: int | None = None) -> nn.Module:
    import timm

    kwargs = dict(num_classes=0, drop_path_rate=0.0, drop_rate=0.0, pretrained=False)
    if image_size is not None:
        kwargs["img_size"] = image_size
    return timm.create_model(timm_model_name, **kwargs)


class ViTaminVisionModel(PreTrainedModel):
    config_class = ViTaminVisionConfig
    config: ViTaminVisionConfig
    main_input_name = "pixel_values"
    base_model_prefix = "vitamin"
    _no_split_modules = ["Block"]
    _supports_sdpa = True  # the timm trunk uses F.scaled_dot_product_attention itself (fused_attn)
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True

    def __init__(self, config: ViTaminVisionConfig):
        super().__init__(config)
        self.trunk = _create_trunk(config.timm_model_name, config.image_size)
        grid = self.trunk.patch_embed.grid_size
        self.patch_size = config.image_size // grid[0]
        if int(self.trunk.embed_dim) != config.hidden_size or len(self.trunk.blocks) != config.num_hidden_layers:
            raise ValueError(
                f"config of {config.timm_model_name} says hidden_size {config.hidden_size} / "
                f"{config.num_hidden_layers} layers, the model has {self.trunk.embed_dim} / {len(self.trunk.blocks)}")
        self.post_init()

    def _init_weights(self, module):  # timm initialises its own modules; keep them
        return

    def init_weights(self):  # the trunk is already initialised by timm
        return

    @property
    def num_image_tokens(self) -> int:
        return int(self.trunk.patch_embed.num_patches)

    @property
    def is_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.parameters())

    def train(self, mode: bool = True):
        super().train(mode)
        if mode and self.is_frozen:  # Trainer's model.train() must not switch a frozen tower to train mode
            super().train(False)
        return self

    def _features(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        t = self.trunk
        x = t.patch_embed(pixel_values)
        x = t._pos_embed(x)
        x = t.patch_drop(x)
        x = t.norm_pre(x)
        hidden = [x]
        for blk in t.blocks:
            x = blk(x)
            hidden.append(x)
        return hidden

    def forward(self, pixel_values: torch.Tensor, output_hidden_states=None, return_dict=None, **kwargs):
        p = next(self.parameters())
        pixel_values = pixel_values.to(device=p.device, dtype=p.dtype)
        if self.is_frozen:
            if self.training:
                super().train(False)
            with torch.no_grad():
                hidden = self._features(pixel_values)
        else:
            hidden = self._features(pixel_values)
        last = hidden[-1]
        pooled = self.trunk.fc_norm(last.mean(dim=1)) if hasattr(self.trunk, "fc_norm") else last.mean(dim=1)
        # transformers 5 passes output_hidden_states=vision_feature_layer (an int or a list): anything but
        # None/False means "all hidden states" (a plain truth test would break for layer 0).
        want = output_hidden_states is not None and output_hidden_states is not False
        return BaseModelOutputWithPooling(last_hidden_state=last, pooler_output=pooled,
                                          hidden_states=tuple(hidden) if want else None)


def register() -> None:
    from transformers import AutoConfig, AutoModel

    try:
        AutoConfig.register("vitamin_vision", ViTaminVisionConfig)
    except ValueError:
        pass  # already registered
    try:
        AutoModel.register(ViTaminVisionConfig, ViTaminVisionModel)
    except ValueError:
        pass


register()
