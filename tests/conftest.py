import sys
import warnings
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # torchrun_helpers, demo_runs


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    yield


@pytest.fixture(scope="session")
def tiny_backbone():
    """Random-init ViTamin-Tiny, shared by read-only tests (do not mutate its options)."""
    from backbone import build_backbone

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_backbone("ViTamin-Tiny")

