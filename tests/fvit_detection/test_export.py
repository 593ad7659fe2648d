"""ONNX export of F-ViT: the traceable inference path equals the eager one, the CLI's graph equals PyTorch."""
import json

import numpy as np
import pytest
import torch
from torchvision.ops import clip_boxes_to_image

pytest.importorskip("onnxruntime")

from fvit_helpers import CONFIG, make_config  # noqa: E402
from fvit_detection.builder import build_model, set_vocabulary  # noqa: E402
from fvit_detection.export import ExportableFViT, canvas, export_onnx, main, paste_masks, run_onnx  # noqa: E402
from fvit_detection.modeling.boxes import clip_boxes  # noqa: E402
from shared.engine import save_checkpoint  # noqa: E402
from shared.transforms import eval_input, normalize_and_pad  # noqa: E402

BOX_ATOL, SCORE_ATOL = 1e-3, 1e-5  # canvas pixels; probabilities


def _classes(world):
    names = [c["name"] for c in json.loads(world.lvis_train_ov.read_text())["categories"]][:2]
    return names + ["purple blob,blob"]  # not a training class: novel (the CLI's rule)


def _model(cfg, world, seed=0):
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    names = _classes(world)
    set_vocabulary(model, names, torch.tensor([False, False, True]), cfg.text_cache)
    return model


def test_clip_boxes_equals_torchvision_for_int_and_tensor_sizes():
    boxes = torch.tensor([[-5.0, 3.0, 300.0, 90.0], [10.0, -1.0, 20.0, 500.0], [250.0, 250.0, 260.0, 270.0]])
    want = clip_boxes_to_image(boxes, (100, 256))
    assert torch.equal(clip_boxes(boxes, (100, 256)), want)
    assert torch.equal(clip_boxes(boxes, torch.tensor([100, 256])), want)
    assert want[0].tolist() == [0.0, 3.0, 256.0, 90.0] and want[1].tolist() == [10.0, 0.0, 20.0, 100.0]


def test_graph_preprocessing_equals_normalize_and_pad(fvit_world, tmp_path):
    model = _model(make_config(fvit_world, tmp_path), fvit_world)
    wrapper = ExportableFViT(model, 256)
    rng = np.random.default_rng(0)
    picture = rng.integers(0, 256, (90, 140, 3), dtype=np.uint8)
    image, size, scale = canvas(picture, 256)
    assert size.tolist() == [165, 256] and scale == pytest.approx(256 / 140)
    spec = model.backbone.spec
    want = normalize_and_pad(image[:165, :256], spec.mean, spec.std, 256)
    got = wrapper.normalize(torch.from_numpy(image), torch.from_numpy(size))[0]
    assert torch.equal(got, want)
    # what lies outside the content does not matter
    image[170:] = 255
    assert torch.equal(wrapper.normalize(torch.from_numpy(image), torch.from_numpy(size))[0], want)


def test_detect_with_tensor_sizes_equals_int_sizes(fvit_world, tmp_path):
    model = _model(make_config(fvit_world, tmp_path), fvit_world)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    a = model.detect(x, [(200, 130)], paste_masks=False)[0]
    b = model.detect(x, [torch.tensor([200, 130])], paste_masks=False)[0]
    assert len(a["boxes"]) > 0 and all(torch.equal(a[k], b[k]) for k in a)
    assert float(a["boxes"][:, 2].max()) <= 130 and float(a["boxes"][:, 3].max()) <= 200
    assert a["masks"].shape[1:] == (1, 28, 28)


def test_export_refuses_missing_vocabulary_and_small_size(fvit_world, tmp_path):
    cfg = make_config(fvit_world, tmp_path)
    with pytest.raises(ValueError, match="vocabulary"):
        export_onnx(build_model(cfg), 256, tmp_path / "m.onnx")
    with pytest.raises(ValueError, match="window"):
        export_onnx(_model(cfg, fvit_world), 100, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


@pytest.fixture(scope="module")
def exported(fvit_world, tmp_path_factory):
    """The CLI run once on a random-init checkpoint of the synthetic config."""
    tmp = tmp_path_factory.mktemp("fvit_export")
    cfg = make_config(fvit_world, tmp)
    torch.manual_seed(0)
    save_checkpoint(tmp / "ckpt.pt", {"model": build_model(cfg).checkpoint_state_dict()})
    overrides = [f"data.train_ann={fvit_world.lvis_train_ov}", f"text_cache={tmp}/text_cache"]
    classes = ";".join(_classes(fvit_world))
    assert main(["--config", CONFIG, "--checkpoint", str(tmp / "ckpt.pt"), "--classes", classes,
                 "--out", str(tmp / "fvit.onnx"), *overrides]) == 0
    return tmp, cfg


@pytest.mark.slow  # ~40 s on 2 busy cores: one export and four graph runs
def test_cli_graph_equals_pytorch_on_world_images(exported, fvit_world):
    from PIL import Image

    from fvit_detection.eval import load_trained

    tmp, cfg = exported
    meta = json.loads((tmp / "fvit.onnx").with_suffix(".json").read_text())
    assert meta["classes"] == _classes(fvit_world) and meta["size"] == 256
    assert meta["outputs"] == ["boxes", "scores", "labels", "mask_probs"]
    model = load_trained(cfg, str(tmp / "ckpt.pt")).eval()
    set_vocabulary(model, meta["classes"], torch.tensor([False, False, True]), cfg.text_cache)
    spec = model.backbone.spec
    picture = np.asarray(Image.open(fvit_world.images / "val" / "000001.jpg").convert("RGB"))
    # a landscape and a portrait crop: different content sizes through the same graph
    for pic in (picture[:80], picture[:, :70]):
        image, size, _ = canvas(pic, 256)
        got = run_onnx(tmp / "fvit.onnx", image, size)
        x, (h, w) = eval_input(pic, 256, spec.mean, spec.std)
        assert [h, w] == size.tolist()
        with torch.no_grad():
            ref = model({"images": x[None], "image_sizes": [(h, w)]})[0]
        assert len(ref["scores"]) > 10 and len(got["scores"]) == len(ref["scores"])
        np.testing.assert_array_equal(got["labels"], ref["labels"].numpy())
        np.testing.assert_allclose(got["boxes"], ref["boxes"].numpy(), atol=BOX_ATOL, rtol=0)
        np.testing.assert_allclose(got["scores"], ref["scores"].numpy(), atol=SCORE_ATOL, rtol=0)
        assert got["boxes"][:, 2].max() <= w and got["boxes"][:, 3].max() <= h  # clipped to the content
        masks = paste_masks(got["mask_probs"], got["boxes"], (h, w))
        ref_masks = (ref["masks"][:, 0] > 0.5).numpy()
        assert masks.shape == ref_masks.shape and (masks != ref_masks).mean() < 1e-4
