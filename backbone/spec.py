"""What a backbone produces: levels, channels, strides, native size, padding rule."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LevelSpec:
    """One output map: ``channels`` × (H / stride) × (W / stride) for an input H × W (after padding).

    ``source`` says where it comes from (a module path of the model, or how it is derived).
    """

    channels: int
    stride: float
    source: str


@dataclass(frozen=True)
class BackboneSpec:
    """Everything an adapter needs to know about a backbone; read from the model, never typed in.

    Padding rule: inputs are zero-padded at the bottom and right (on the normalised tensor, i.e. with the
    mean colour) to a multiple of ``size_divisibility``; in ``sliding`` mode also up to at least the native
    size. Output maps cover the padded canvas.
    """

    name: str
    family: str
    native_size: tuple[int, int]
    embed_dim: int
    levels: dict[str, LevelSpec]
    num_blocks: int
    block_channels: int
    block_stride: float
    size_divisibility: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    warnings: tuple[str, ...] = field(default_factory=tuple)

    def output_shape(self) -> dict[str, LevelSpec]:
        """detectron2-style: level name → (channels, stride)."""
        return dict(self.levels)

    def padded_size(self, height: int, width: int, sliding: bool = False) -> tuple[int, int]:
        """Canvas size the input is padded to (see class docstring)."""
        d = self.size_divisibility
        h, w = -(-height // d) * d, -(-width // d) * d
        if sliding:
            h, w = max(h, self.native_size[0]), max(w, self.native_size[1])
            h, w = -(-h // d) * d, -(-w // d) * d
        return h, w

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["levels"] = {k: asdict(v) for k, v in self.levels.items()}
        return d
