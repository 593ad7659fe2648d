"""scripts/check_pos_embed.py end to end on the synthetic world with a tiny untrained checkpoint."""
import json

import torch

from fcclip_helpers import make_config
from fcclip_segmentation.builder import build_model
from fcclip_segmentation.eval import main as eval_main
from fcclip_segmentation.scripts.check_pos_embed import main
from shared.engine import save_checkpoint, save_config

POS_EMBED = "backbone.clip.visual.trunk.pos_embed"


def test_both_ways_in_one_run_equal_separate_evaluations(fcclip_world, tmp_path, capsys):
    cfg = make_config(fcclip_world, tmp_path)
    save_config(cfg, tmp_path / "config.yaml")
    model, _ = build_model(cfg)
    state = model.checkpoint_state_dict()  # random-init CLIP: stored in the checkpoint
    torch.manual_seed(0)
    state[POS_EMBED] = torch.randn_like(state[POS_EMBED])  # large enough to change the predictions
    save_checkpoint(tmp_path / "tiny.pt", {"model": state})
    base = ["--config", str(tmp_path / "config.yaml"), "--checkpoint", str(tmp_path / "tiny.pt")]
    assert main(base + ["--dataset", "", "--max-images", "2", "--out", str(tmp_path / "check")]) == 0
    printed = capsys.readouterr().out
    got = {name: json.loads((tmp_path / "check" / name / "metrics.json").read_text())
           for name in ("pos_embed_added", "pos_embed_skipped")}
    assert got["pos_embed_added"]["num_images"] == 2
    assert got["pos_embed_added"]["IoU_per_class"] != got["pos_embed_skipped"]["IoU_per_class"]
    summary = json.loads((tmp_path / "check" / "check_pos_embed.json").read_text())
    for name, metrics in got.items():
        assert summary[name] == {k: metrics[k] for k in ("PQ_all", "PQ_things", "PQ_stuff", "mIoU")}
        row = next(line for line in printed.splitlines() if line.startswith(name[10:]))
        assert f"{metrics['PQ_all']:.4f}" in row and f"{metrics['mIoU']:.4f}" in row
    # switching the option on the built model = building it with the option (the eval CLI, one model per setting)
    for name, skip in (("pos_embed_added", "false"), ("pos_embed_skipped", "true")):
        assert eval_main(base + ["--out", str(tmp_path / name), "eval.max_images=2",
                                 "eval.tasks=[panoptic,semantic]", f"model.reference_skip_pos_embed={skip}"]) == 0
        assert json.loads((tmp_path / name / "metrics.json").read_text()) == got[name], name


def test_bad_input_names_the_file(tmp_path, capsys):
    assert main(["--checkpoint", str(tmp_path / "missing.pt"), "--dataset", "ade20k_panoptic_val",
                 "--data-root", str(tmp_path)]) == 2
    assert "ADEChallengeData2016/images/validation" in capsys.readouterr().err  # checked before any model build
