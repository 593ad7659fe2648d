import sys
from pathlib import Path

import pytest

from shared.synthetic import generate_world

sys.path.insert(0, str(Path(__file__).parent))  # fvit_helpers


@pytest.fixture(scope="session")
def fvit_world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("fvit_world"), seed=0, num_train=32, num_val=12, image_size=128)


@pytest.fixture(scope="session")
def fvit_saved(fvit_world, tiny_backbone, tmp_path_factory):
    """(a random-init tiny FViT built on a local CLIP file, the folder holding ``clip/vitamin_tiny.safetensors`` and
    ``pre/``: the model saved without its CLIP weights, which it records as ``../clip/vitamin_tiny.safetensors``)."""
    import torch
    from safetensors.torch import save_file

    from fvit_detection import FViT
    from fvit_helpers import make_config

    root = tmp_path_factory.mktemp("fvit_saved")
    clip = root / "clip" / "vitamin_tiny.safetensors"
    clip.parent.mkdir()
    save_file({k: v.contiguous() for k, v in tiny_backbone.clip.state_dict().items()}, str(clip))
    torch.manual_seed(0)
    model = FViT.from_config(make_config(fvit_world, root / "run", f"model.pretrained={clip}",
                                         "model.score_thresh=0.0"))
    model.save_pretrained(root / "pre")
    return model, root
