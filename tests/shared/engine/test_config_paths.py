"""The shipped configs from any working directory (their class-name / novel-class files resolve by one rule: the
working directory first, then the code root), and offline (a Hub tag that is not cached: one line at once)."""
import json
from pathlib import Path

import pytest

from fcclip_segmentation.config import FCCLIPConfig
from fcclip_segmentation.data import training_class_names
from fvit_detection.builder import novel_mask
from fvit_detection.config import FViTConfig
from fvit_detection.train import main as fvit_train
from real_files import REPO
from shared.engine import load_config
from shared.engine.config import CODE_ROOT

OV_COCO = REPO / "fvit_detection/configs/ov_coco_vitamin_l_336.yaml"
NOVEL = "fvit_detection/configs/ov_coco/mscoco_novel_classes.json"


def test_shipped_config_files_resolve_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # outside the repository
    assert CODE_ROOT == REPO
    cfg = load_config(FViTConfig, "fvit_detection/configs/ov_coco_vitamin_l_336.yaml")  # the README's command line
    assert cfg.data.novel_classes_file == str(REPO / NOVEL)  # was: not found, relative to the working directory
    assert cfg.data.train_ann == "data/coco/annotations/instances_train2017_ov_base.json"  # the user's data: cwd
    assert cfg.model.pretrained == "datacomp1b" and cfg.train.out_dir == "outputs/fvit_ov_coco_vitamin_l_336"
    fc = load_config(FCCLIPConfig, REPO / "fcclip_segmentation/configs/coco_to_ade20k_vitamin_l_336.yaml")
    assert fc.data.train_class_names == str(REPO / "fcclip_segmentation/configs/classnames/"
                                                    "coco_panoptic_with_prompt_eng.txt")
    assert len(training_class_names(fc.data.train_class_names, fc.data.train_json)) == 133
    # a config built in code (not through load_config) finds the shipped file the same way
    code_built = FViTConfig()
    code_built.data.novel_classes_file = NOVEL
    novel = json.loads((REPO / NOVEL).read_text())
    names = ["person", *novel]  # every novel class must be in the vocabulary
    assert novel_mask("unused.json", names, code_built).tolist() == [False] + [True] * len(novel)


def test_a_file_in_the_working_directory_wins_and_a_missing_one_names_the_base(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / NOVEL).parent.mkdir(parents=True)
    (tmp_path / NOVEL).write_text(json.dumps(["person"]))  # the user's own copy, same relative name
    cfg = load_config(FViTConfig, OV_COCO)
    assert cfg.data.novel_classes_file == NOVEL  # relative, read from the working directory
    assert novel_mask("unused.json", ["person", "dog"], cfg).tolist() == [True, False]
    cfg = load_config(FViTConfig, OV_COCO, ["data.novel_classes_file=lists/novel.json"])
    with pytest.raises(FileNotFoundError) as e:
        novel_mask("unused.json", ["person"], cfg)
    assert str(e.value) == (f"novel class list (data.novel_classes_file) not found: lists/novel.json (relative to "
                            f"the working directory {tmp_path})")


def test_shipped_config_offline_is_one_line_at_once(tmp_path, monkeypatch, capsys):
    """``pretrained: datacomp1b`` with no internet: one line naming the local-file option, before anything is built
    (was ≈55 s of retries and a WeightsError traceback)."""
    import huggingface_hub
    import open_clip
    import open_clip.pretrained

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    for module in (huggingface_hub, open_clip.pretrained):
        monkeypatch.setattr(module, "hf_hub_download", lambda *a, **k: pytest.fail("network"))
    monkeypatch.setattr(open_clip, "create_model", lambda *a, **k: pytest.fail("model built"))
    monkeypatch.chdir(tmp_path)
    assert fvit_train(["--config", str(OV_COCO), f"train.out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = [x for x in err.splitlines() if x.startswith("error:")]
    assert len(line) == 1 and line[0].startswith(
        f"error: open_clip weights ViTamin-L-336/datacomp1b: not in the Hugging Face cache ({tmp_path / 'hf' / 'hub'})"
        " and HF_HUB_OFFLINE is set (no downloads): give a local copy with model.pretrained=")
    assert not [p for p in Path(tmp_path / "run").iterdir() if p.name != ".lock"]  # nothing written
