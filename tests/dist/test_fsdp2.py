"""LLaVA under FSDP2 (``fully_shard`` as configs/fsdp2.json wraps it) on 2 gloo processes: the frozen tower shares
shard groups with the trained LM, the projector keeps its own learning rate by name, and the gathered weights
after 2 steps equal unsharded training on the same batches."""
import json
from pathlib import Path

import pytest

from torchrun_helpers import torchrun


@pytest.mark.dist
def test_fsdp2_equals_unsharded_training(dist_world, tmp_path):
    torchrun(Path(__file__).with_name("fsdp2_worker.py"), tmp_path, str(dist_world.root), str(tmp_path), timeout=400)
    r = json.loads((tmp_path / "result.json").read_text())
    assert r["wrapped_layers"] == 2 and r["dtensor"] and not r["frozen_tower_trainable"]  # tiny LM: 2 layers
    assert r["projector_group"] and all("multi_modal_projector" in n for n in r["projector_group"])
    assert max(r["max_diff"].values()) < 1e-5, sorted(r["max_diff"].items(), key=lambda kv: -kv[1])[:5]
    # not vacuous: training moved the LM and the projector, and left the frozen tower as it was
    moved = r["moved_by_training"]
    assert max(v for k, v in moved.items() if "multi_modal_projector" in k) > 1e-4
    assert max(v for k, v in moved.items() if "language_model" in k) > 1e-4
    assert max(v for k, v in moved.items() if "vision_tower" in k) == 0
