"""Typed options of a feature backbone, validated with errors that name the key."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

# the choices, as types for the config schemas that pass them on (checked when a config is read)
Mode = Literal["sliding", "interpolate"]
Res5Mode = Literal["maxpool", "subsample"]
Placement = Literal["aligned", "reference"]
MODES, RES5_MODES, PLACEMENTS = get_args(Mode), get_args(Res5Mode), get_args(Placement)


@dataclass
class BackboneOptions:
    """How features are taken out of the CLIP image tower.

    mode: ``sliding`` — native-size windows at ``window_stride`` (default: window, i.e. no overlap), outputs of
        overlapping windows averaged; ``interpolate`` — one forward at the input size with the position
        embedding resized to the token grid.
    window_stride: pixels between window origins (FC-CLIP test 112, F-ViT 168); int or (y, x).
    window_placement: ``aligned`` rounds origins down to the token stride so every window lands exactly on the
        token grid; ``reference`` keeps origins at i·stride and pastes at ⌊origin/stride⌋ like the reference code.
    window_batch_size: windows per network call (bounds memory; all windows of a batch are batched together).
    res5: derivation of the stride-32 map for towers that stop at stride 16 (2×2 max-pool as F-ViT, or
        ``subsample`` = every second row/column as FC-CLIP).
    block_indices: transformer blocks whose outputs are returned as ``block{i}`` maps (negative = from the end).
    normalize_dense: L2-normalise ``clip_dense`` over channels.
    frozen: no gradients into the CLIP model and eval mode kept even when the parent is put in ``train()``.
    reference_skip_pos_embed: reproduce the reference forks, which skip ViTamin's learned position embedding
        (only for checkpoints trained that way; wrong for CLIP features).
    """

    mode: str = "sliding"
    window_stride: int | tuple[int, int] | None = None
    window_placement: str = "aligned"
    window_batch_size: int = 16
    res5: str = "maxpool"
    block_indices: tuple[int, ...] = field(default_factory=tuple)
    normalize_dense: bool = True
    frozen: bool = True
    reference_skip_pos_embed: bool = False

    def __post_init__(self):
        def bad(key: str, expected: str) -> ValueError:
            return ValueError(f"backbone option {key}={getattr(self, key)!r}: expected {expected}")

        if self.mode not in MODES:
            raise bad("mode", " or ".join(MODES))
        if self.window_placement not in PLACEMENTS:
            raise bad("window_placement", " or ".join(PLACEMENTS))
        if self.res5 not in RES5_MODES:
            raise bad("res5", " or ".join(RES5_MODES))
        if not isinstance(self.window_batch_size, int) or self.window_batch_size < 1:
            raise bad("window_batch_size", "a positive int")
        if self.window_stride is not None:
            s = self.window_stride
            s = (s, s) if isinstance(s, int) else tuple(s)
            if len(s) != 2 or not all(isinstance(v, int) and v > 0 for v in s):
                raise bad("window_stride", "a positive int or a pair of them")
            self.window_stride = s
        self.block_indices = tuple(int(i) for i in self.block_indices)

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "BackboneOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise TypeError(f"unknown backbone option(s) {unknown}; known: {sorted(known)}")
        return cls(**kwargs)
