"""``python -m backbone`` CLI and the counts it reports."""
import json
import subprocess
import sys

import pytest
from PIL import Image

from backbone.__main__ import main
from backbone.profile import backbone_info, count_macs

# Published ViTamin model-zoo numbers (Beckschen/ViTamin README / MODEL_HUB, via the fact sheets):
# image params (M) and image GMACs at the native size.
PAPER = {"ViTamin-L-336": (333.6, 163.4), "ViTamin-L-384": (333.7, 213.4), "ViTamin-B": (87.5, 21.8)}
INFO_KEYS = {"name", "image_size", "embed_dim", "params_image", "params_text", "macs_image", "macs_text",
             "macs_image_with_attention", "pyramid"}


@pytest.mark.parametrize("name", list(PAPER))
def test_counts_match_published_model_zoo(name):
    info = backbone_info(name)
    params_m, gmacs = PAPER[name]
    assert info["params_image"] / 1e6 == pytest.approx(params_m, abs=0.06)
    # the zoo counts conv + linear layers; ours lands within 0.3 % of it
    assert info["macs_image"] / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert info["macs_image_with_attention"] > info["macs_image"]


def test_attention_products_counted_separately():
    import torch

    q = torch.empty(1, 2, 10, 8, device="meta")
    macs = count_macs(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert macs == {"linear_conv": 0, "attention": 2 * 2 * 10 * 10 * 8}  # QKᵀ + AV, 2 heads
    lin = torch.nn.Linear(8, 4, device="meta")
    assert count_macs(lambda: lin(torch.empty(3, 5, 8, device="meta")))["linear_conv"] == 3 * 5 * 8 * 4


def test_info_json_subprocess():
    out = subprocess.run([sys.executable, "-m", "backbone", "info", "ViTamin-L-336", "--json"],
                         capture_output=True, text=True, check=True).stdout
    info = json.loads(out)
    assert INFO_KEYS <= set(info)
    assert info["image_size"] == [336, 336] and info["embed_dim"] == 768
    assert {k: v["channels"] for k, v in info["pyramid"].items()} == {
        "stem": 160, "res2": 160, "res3": 320, "res4": 1024, "res5": 1024, "clip_dense": 768}
    assert info["params_text"] / 1e6 == pytest.approx(123.7, abs=0.1)


def test_features_and_errors(tmp_path, capsys):
    img = tmp_path / "im.png"
    Image.new("RGB", (300, 200), (120, 30, 200)).save(img)
    assert main(["features", "ViTamin-Tiny", "--image", str(img), "--size", "200", "300", "--stride", "64"]) == 0
    text = capsys.readouterr().out
    assert "res4       (1, 64, 14, 20)" in text and "clip_dense (1, 64, 14, 20)" in text
    assert main(["features", "ViTamin-Tiny", "--image", str(tmp_path / "missing.jpg")]) == 2
    assert "missing.jpg" in capsys.readouterr().err
    assert main(["info", "NoSuchModel"]) == 2
