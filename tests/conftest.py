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


@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    """``HF_HUB_OFFLINE=1`` with the Hub cache in ``tmp_path`` and every socket connect refused: nothing can reach the
    network. Returns ``put(repo_id, folder)``, which lays a folder into the cache as a download would
    (``models--org--name/refs/main`` → ``snapshots/<commit>/<files>``)."""
    import shutil
    import socket

    import huggingface_hub.constants as hub_constants

    cache = tmp_path / "hub_cache"
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", True)  # read at import time
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(cache))

    def no_network(*a, **k):
        raise OSError("network access in a test")

    monkeypatch.setattr(socket.socket, "connect", no_network)

    def put(repo_id, folder, commit="0123456789abcdef0123456789abcdef01234567"):
        repo = cache / ("models--" + repo_id.replace("/", "--"))
        shutil.copytree(folder, repo / "snapshots" / commit)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(commit)
        return commit

    return put
