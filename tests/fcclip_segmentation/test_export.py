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


def test_export_refuses_a_size_below_the_window(fcclip_world, tmp_path):
    torch.manual_seed(0)
    model = FCCLIP.from_config(make_config(fcclip_world, tmp_path), class_names=CLASSES)
    with pytest.raises(ValueError, match="window 128"):
        export_onnx(model, 100, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.slow  # ~40 s on 2 busy cores: one export and a few graph runs
def test_cli_graph_equals_pytorch_on_world_images(exported, fcclip_world):
    tmp, model = exported
    meta = json.loads((tmp / "fcclip.onnx").with_suffix(".json").read_text())
    assert meta["classes"] == ["red circle", "blue square,blue box", "purple blob", "sky"]
    assert meta["is_thing"] == [True, True, True, False] and meta["size"] == 256 and meta["pad"] == "mean"
    spec = model.backbone.spec
    picture = np.asarray(Image.open(fcclip_world.images_val / "000001.jpg").convert("RGB"))
    q = model.cfg.num_queries
    for pic in (picture[:80], picture[:, :70]):  # two content sizes through the same graph
        image, size, _ = canvas(pic, 256)
        got = run_onnx(tmp / "fcclip.onnx", image, size)
        assert got["probs"].shape == (q, 5) and got["mask_logits"].shape == (q, 64, 64)
        x, (h, w) = eval_input(pic, 256, spec.mean, spec.std, model.test_pad)
        with torch.no_grad():
            probs, masks = model.infer(x[None])
            ref = model({"images": x[None], "image_sizes": [(h, w)]})[0]
        np.testing.assert_allclose(got["probs"], probs[0].numpy(), atol=PROB_ATOL, rtol=0)
        np.testing.assert_allclose(got["mask_logits"], masks[0].numpy(), atol=LOGIT_ATOL, rtol=0)
        out = postprocess(got, meta["size"], size)
        assert out["mask_logits"].shape == ref["mask_logits"].shape == (q, h, w)
        np.testing.assert_allclose(out["mask_logits"].numpy(), ref["mask_logits"].numpy(), atol=LOGIT_ATOL, rtol=0)
        pan, segs = panoptic_inference(out["probs"], out["mask_logits"], torch.tensor(meta["is_thing"]), 0.0,
                                       meta["overlap_threshold"])
        ref_pan, ref_segs = panoptic_inference(ref["probs"], ref["mask_logits"], model.is_thing, 0.0,
                                               model.cfg.overlap_threshold)
        assert len(ref_segs) > 0 and [s["category"] for s in segs] == [s["category"] for s in ref_segs]
        assert (pan != ref_pan).float().mean() < 1e-4
