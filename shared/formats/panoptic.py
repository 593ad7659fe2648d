"""COCO-panoptic PNG encoding: segment id = R + 256·G + 256²·B, 0 = void."""
from __future__ import annotations

import numpy as np


def id_to_rgb(ids: np.ndarray) -> np.ndarray:
    """(H, W) int segment ids → (H, W, 3) uint8."""
    ids = ids.astype(np.int64)
    if ids.min() < 0 or ids.max() >= 256**3:
        raise ValueError(f"segment ids must be in [0, 256^3), got [{ids.min()}, {ids.max()}]")
    return np.stack([ids % 256, ids // 256 % 256, ids // 256**2], axis=-1).astype(np.uint8)


def rgb_to_id(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 → (H, W) int64 segment ids."""
    rgb = rgb.astype(np.int64)
    return rgb[..., 0] + 256 * rgb[..., 1] + 256**2 * rgb[..., 2]
