"""Pretrained folders a user got wrong — moved away from the CLIP file they were saved without, a backbone that does
not fit its CLIP source — are one line from ``predict`` (exit 2), and saved files keep the umask's mode."""
import json
import os
import shutil

import pytest
import torch
from safetensors.torch import save_file

from fvit_detection import FViT, PretrainedError
from fvit_detection.predict import main as predict_main


@pytest.fixture(scope="module")
def saved(fvit_saved):
    assert json.loads((fvit_saved[1] / "pre" / "config.json").read_text())["model"]["pretrained"] == \
        "../clip/vitamin_tiny.safetensors"  # recorded relative to the folder
    return fvit_saved


def _predict(folder, fvit_world, out):
    image = sorted(fvit_world.images_val.glob("*.jpg"))[0]
    return predict_main(["--pretrained", str(folder), "--images", str(image), "--out", str(out), "--no-progress"])


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("error:")]
    assert "Traceback" not in err and len(lines) == 1, err
    return lines[0]


def test_a_folder_moved_away_from_its_clip_file_names_where_it_looked(saved, fvit_world, tmp_path, capsys):
    _, root = saved
    moved = tmp_path / "elsewhere" / "pre"
    shutil.copytree(root / "pre", moved)
    expected = (f"{moved / 'config.json'}: the folder was saved without its CLIP weights, which come from "
                f"../clip/vitamin_tiny.safetensors relative to the folder, {tmp_path / 'elsewhere' / 'clip'}"
                f"/vitamin_tiny.safetensors: not found (moved apart?). Put the file back there, or save the folder "
                f"with save_pretrained(..., include_backbone=True)")
    with pytest.raises(PretrainedError) as e:
        FViT.from_pretrained(moved)
    assert str(e.value) == expected
    assert _predict(moved, fvit_world, tmp_path / "out") == 2
    assert _error_line(capsys) == f"error: {expected}"
    assert not (tmp_path / "out").exists()


def test_a_backbone_that_does_not_fit_its_clip_file_is_one_line_from_predict(saved, tiny_backbone, fvit_world,
                                                                              tmp_path, capsys):
    """The folder's backbone and its CLIP source disagree (the CLIP file was replaced by one of another model): the
    WeightsError names the file and the first mismatch (was a traceback from predict)."""
    _, root = saved
    sd = {k: v.contiguous() for k, v in tiny_backbone.clip.state_dict().items()}
    sd["logit_scale"] = torch.zeros(2)  # one tensor of another shape
    other = tmp_path / "other_clip.safetensors"
    save_file(sd, str(other))
    edited = tmp_path / "edited"
    shutil.copytree(root / "pre", edited)
    cfg = json.loads((edited / "config.json").read_text())
    cfg["model"]["pretrained"] = str(other)
    (edited / "config.json").write_text(json.dumps(cfg))
    assert _predict(edited, fvit_world, tmp_path / "out") == 2
    assert _error_line(capsys) == (f"error: {other} does not fit the full CLIP model ViTamin-Tiny: shape mismatches "
                                   f"(1): logit_scale: file (2,) vs model ()")


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_save_pretrained_files_get_the_umask_mode(saved, tmp_path, umask, mode):
    model, _ = saved
    old = os.umask(umask)
    try:
        model.save_pretrained(tmp_path / "pre")
    finally:
        os.umask(old)
    assert {p.name: p.stat().st_mode & 0o777 for p in (tmp_path / "pre").iterdir()} == {
        "config.json": mode, "model.safetensors": mode, "README.md": mode}  # safetensors alone writes 0600
