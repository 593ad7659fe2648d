"""Every shipped YAML config loads against its schema (a typo in a paper setting fails here, not on a cluster)."""
from pathlib import Path

import pytest

from shared.engine import load_config

REPO = Path(__file__).parents[1]


def _schemas():
    from fcclip_segmentation.config import FCCLIPConfig
    from fvit_detection.config import FViTConfig

    return {"fvit_detection": FViTConfig, "fcclip_segmentation": FCCLIPConfig}


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for pkg in ("fvit_detection", "fcclip_segmentation")
                                        for p in (REPO / pkg / "configs").glob("*.yaml")))
def test_adapter_config_loads(path):
    schema = _schemas()[path.split("/")[0]]
    cfg = load_config(schema, REPO / path)
    assert cfg.train.max_steps > 0 and cfg.model.backbone


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in (REPO / "llava_lmm/configs").glob("*.yaml")
                                        if p.name != "fsdp.yaml"))
def test_llava_config_parses(path, tmp_path):
    """Keys and values valid for the HF argument classes. What needs a GPU or DeepSpeed is checked apart: bf16 / tf32
    are switched off and the DeepSpeed json must exist (it is only parsed where deepspeed is installed); the data
    path, which the synthetic configs leave to the demo, is given."""
    import importlib.util

    import yaml

    from llava_lmm.config import parse_args

    values = yaml.safe_load((REPO / path).read_text())
    if values.get("deepspeed"):
        assert (REPO / values["deepspeed"]).is_file(), values["deepspeed"]
        if importlib.util.find_spec("deepspeed") is None:
            del values["deepspeed"]
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(values))
    (tmp_path / "data.json").write_text("[]")
    m, d, t = parse_args(["--config", str(tmp_path / "cfg.yaml"), f"--output_dir={tmp_path}", "--bf16", "False",
                          "--tf32", "False", "--data_path", str(tmp_path / "data.json")])
    assert m.vision_tower and t.output_dir == str(tmp_path)
