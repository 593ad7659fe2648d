"""ONNX export of FC-CLIP: the graph (deformable-attention pixel decoder included), run by onnxruntime, gives
PyTorch's per-query class probabilities and mask logits, and the same panoptic result after Python post-processing."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("onnxruntime")

from fcclip_helpers import make_config  # noqa: E402
from fcclip_segmentation import FCCLIP  # noqa: E402
from fcclip_segmentation.export import export_onnx, main, postprocess  # noqa: E402
from fcclip_segmentation.modeling.postprocess import panoptic_inference  # noqa: E402
from shared.onnx_export import canvas, run_onnx  # noqa: E402
from shared.transforms import eval_input  # noqa: E402

CLASSES = "red circle;blue square,blue box;purple blob;sky*"
PROB_ATOL, LOGIT_ATOL = 1e-5, 1e-4  # measured: ~3e-7 for both


@pytest.fixture(scope="module")
def exported(fcclip_world, tmp_path_factory):
    """``--pretrained`` export of a random-init model saved with ``save_pretrained``."""
    tmp = tmp_path_factory.mktemp("fcclip_export")
    torch.manual_seed(0)
    model = FCCLIP.from_config(make_config(fcclip_world, tmp), class_names=CLASSES)
    model.save_pretrained(tmp / "pretrained")
    assert main(["--pretrained", str(tmp / "pretrained"), "--out", str(tmp / "fcclip.onnx")]) == 0
    return tmp, model


def test_export_refuses_sizes_it_cannot_take(fcclip_world, tmp_path):
    torch.manual_seed(0)
    model = FCCLIP.from_config(make_config(fcclip_world, tmp_path), class_names=CLASSES)
    assert model.backbone.spec.size_divisibility == 32
    with pytest.raises(ValueError, match="window 128; try 128$"):
        export_onnx(model, 100, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match=r"--size 300: .* multiple of 32 .* try 288 or 320$"):
        export_onnx(model, 300, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def _check_against_pytorch(model, graph, pic, size, meta):
    """Graph vs the PyTorch model on ``pic``'s canvas: probabilities, mask logits after ``postprocess``, and the
    panoptic result."""
    spec = model.backbone.spec
    q = model.cfg.num_queries
    image, image_size = canvas(pic, size)
    got = run_onnx(graph, image, image_size)
    assert got["probs"].shape == (q, len(meta["classes"]) + 1) and got["mask_logits"].shape == (q, size // 4,
                                                                                                   size // 4)
    x, (h, w) = eval_input(pic, size, spec.mean, spec.std, model.test_pad)
    assert [h, w] == image_size.tolist()
    with torch.no_grad():
        ref = model({"images": x[None], "image_sizes": [(h, w)]})[0]
    np.testing.assert_allclose(got["probs"], ref["probs"].numpy(), atol=PROB_ATOL, rtol=0)
    out = postprocess(got, meta["size"], image_size)  # the graph's mask logits, upsampled and cropped
    assert out["mask_logits"].shape == ref["mask_logits"].shape == (q, h, w)
    np.testing.assert_allclose(out["mask_logits"].numpy(), ref["mask_logits"].numpy(), atol=LOGIT_ATOL, rtol=0)
    pan, segs = panoptic_inference(out["probs"], out["mask_logits"], torch.tensor(meta["is_thing"]), 0.0,
                                   meta["overlap_threshold"])
    ref_pan, ref_segs = panoptic_inference(ref["probs"], ref["mask_logits"], model.is_thing, 0.0,
                                           model.cfg.overlap_threshold)
    assert len(ref_segs) > 0 and [s["category"] for s in segs] == [s["category"] for s in ref_segs]
    assert (pan != ref_pan).float().mean() < 1e-4


def test_cli_graph_equals_pytorch_on_real_photos(fcclip_world, tmp_path):
    """Exported by the CLI at the smallest canvas (the 128 window), checked there on a portrait and a wide real
    photo, and compared here on both (raw outputs and the panoptic result)."""
    from real_files import real_photo

    from shared.image import read_image

    torch.manual_seed(0)
    model = FCCLIP.from_config(make_config(fcclip_world, tmp_path), class_names=CLASSES)
    model.image_size = 128
    model.save_pretrained(tmp_path / "pretrained")
    photos = [real_photo("tower.jpg"), real_photo("groot.jpeg")]  # 600×377, 512×910
    assert main(["--pretrained", str(tmp_path / "pretrained"), "--out", str(tmp_path / "fcclip.onnx"),
                 "--check-image", str(photos[0]), "--check-image", str(photos[1])]) == 0
    meta = json.loads((tmp_path / "fcclip.json").read_text())
    assert meta["size"] == 128 and list(meta["parity"]["checked"]) == [str(p) for p in photos]
    for photo in photos:
        _check_against_pytorch(model, tmp_path / "fcclip.onnx", np.asarray(read_image(photo)), 128, meta)


@pytest.mark.slow  # ~40 s on 2 busy cores: one export and a few graph runs
def test_cli_graph_equals_pytorch_on_world_images(exported, fcclip_world):
    tmp, model = exported
    meta = json.loads((tmp / "fcclip.onnx").with_suffix(".json").read_text())
    assert meta["classes"] == ["red circle", "blue square,blue box", "purple blob", "sky"]
    assert meta["is_thing"] == [True, True, True, False] and meta["size"] == 256 and meta["pad"] == "mean"
    assert list(meta["parity"]["checked"]) == ["built-in scene, landscape", "built-in scene, portrait"]
    picture = np.asarray(Image.open(fcclip_world.images_val / "000001.jpg").convert("RGB"))
    for pic in (picture[:80], picture[:, :70]):  # two content sizes through the same graph
        _check_against_pytorch(model, tmp / "fcclip.onnx", pic, 256, meta)
