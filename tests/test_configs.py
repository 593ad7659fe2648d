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


@pytest.mark.parametrize("path", sorted(str(p.relative_to(REPO)) for p in (REPO / "llava_lmm/configs").glob("*.yaml")))
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


def test_llava_fsdp2_config(tmp_path):
    """FSDP2 beside ZeRO-2/3: version 2 (``fully_shard``), one shard group per decoder layer, FSDP's own activation
    checkpointing instead of the training argument's, a full state dict for saving; the rest is the ZeRO-3 stage-2
    config unchanged."""
    import yaml

    from llava_lmm.config import parse_args

    configs = REPO / "llava_lmm/configs"
    fsdp2 = yaml.safe_load((configs / "fsdp2_stage2_full_vitamin_l_336_vicuna7b.yaml").read_text())
    zero3 = yaml.safe_load((configs / "stage2_full_vitamin_l_336_vicuna7b.yaml").read_text())
    sharding = {"deepspeed", "fsdp", "fsdp_config", "activation_checkpointing"}
    assert {k: v for k, v in fsdp2.items() if k not in sharding} == {k: v for k, v in zero3.items() if k not in sharding}
    (tmp_path / "data.json").write_text("[]")
    m, d, t = parse_args(["--config", str(configs / "fsdp2_stage2_full_vitamin_l_336_vicuna7b.yaml"),
                          f"--output_dir={tmp_path}", "--bf16", "False", "--tf32", "False",
                          "--data_path", str(tmp_path / "data.json")])
    a = t.fsdp_plugin_args
    assert a["fsdp_version"] == 2 and a["transformer_cls_names_to_wrap"] == "LlamaDecoderLayer"
    assert a["activation_checkpointing"] is True and not t.activation_checkpointing
    assert a["state_dict_type"] == "FULL_STATE_DICT" and a["reshard_after_forward"] is True
    assert t.deepspeed is None and m.stage == "full"
