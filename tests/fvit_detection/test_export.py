"""ONNX export of F-ViT: the traceable inference path equals the eager one; the CLI's graph, run by onnxruntime,
equals PyTorch (raw outputs and ``FViT.predict``'s result)."""
import json

import numpy as np
import pytest
import torch
from torchvision.ops import clip_boxes_to_image

pytest.importorskip("onnxruntime")

from fvit_helpers import CONFIG, make_config  # noqa: E402
from fvit_detection import FViT  # noqa: E402
from fvit_detection.export import export_onnx, main, postprocess  # noqa: E402
from fvit_detection.modeling.boxes import clip_boxes  # noqa: E402
from shared.engine import save_checkpoint  # noqa: E402
from shared.onnx_export import CanvasNormalize, canvas, run_onnx  # noqa: E402
from shared.transforms import eval_input, normalize_and_pad  # noqa: E402

CLASSES = "red circle;blue square,blue box;purple blob"
BOX_ATOL, SCORE_ATOL = 1e-3, 1e-5  # canvas pixels; probabilities (measured: ~1e-5 px, ~3e-7)


def _model(world, out_dir, *overrides, seed=0):
    torch.manual_seed(seed)
    m = FViT.from_config(make_config(world, out_dir, *overrides), class_names=CLASSES)
    torch.manual_seed(seed + 1)
    with torch.no_grad():  # spread the random heads' scores apart (no near-ties to reorder)
        for p in m.roi_heads.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return m


def test_clip_boxes_equals_torchvision_for_int_and_tensor_sizes():
    boxes = torch.tensor([[-5.0, 3.0, 300.0, 90.0], [10.0, -1.0, 20.0, 500.0], [250.0, 250.0, 260.0, 270.0]])
    want = clip_boxes_to_image(boxes, (100, 256))
    assert torch.equal(clip_boxes(boxes, (100, 256)), want)
    assert torch.equal(clip_boxes(boxes, torch.tensor([100, 256])), want)
    assert want[0].tolist() == [0.0, 3.0, 256.0, 90.0] and want[1].tolist() == [10.0, 0.0, 20.0, 100.0]


def test_multi_level_pooling_rows_equal_per_box_roi_align():
    from torchvision.ops import roi_align

    from fvit_detection.modeling.roi_align import MultiLevelRoIAlign

    pool = MultiLevelRoIAlign([4, 8, 16, 32], 7)
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 3, 512 // s, 512 // s, generator=g) for s in (4, 8, 16, 32)]
    boxes = [torch.tensor([[0.0, 0.0, 300.0, 300.0], [5.0, 9.0, 40.0, 50.0], [10.0, 10.0, 500.0, 480.0]]),
             torch.tensor([[20.0, 30.0, 150.0, 170.0], [1.0, 2.0, 30.0, 20.0]])]
    out = pool(feats, boxes)
    rows = [(i, b) for i, bs in enumerate(boxes) for b in bs]
    levels = pool.levels(boxes).tolist()
    assert levels == [2, 0, 3, 1, 0]
    for r, ((i, b), lvl) in enumerate(zip(rows, levels)):
        want = roi_align(feats[lvl], torch.cat([torch.tensor([float(i)]), b])[None], 7, pool.scales[lvl],
                         0, aligned=True)[0]
        assert torch.equal(out[r], want)


@pytest.mark.parametrize("pad", ["mean", "black"])
def test_canvas_normalisation_equals_normalize_and_pad(pad):
    mean, std = (0.48, 0.46, 0.41), (0.27, 0.26, 0.28)
    picture = np.random.default_rng(0).integers(0, 256, (90, 140, 3), dtype=np.uint8)
    image, size, scale = canvas(picture, 256)
    assert size.tolist() == [165, 256] and scale == pytest.approx(256 / 140)  # 90 · 256/140 = 164.6 → 165
    want = normalize_and_pad(image[:165], mean, std, 256, pad)
    norm = CanvasNormalize(mean, std, pad)
    assert torch.equal(norm(torch.from_numpy(image), torch.from_numpy(size))[0], want)
    image[170:] = 255  # what lies outside the content does not matter
    assert torch.equal(norm(torch.from_numpy(image), torch.from_numpy(size))[0], want)


def test_detect_with_tensor_sizes_equals_int_sizes(fvit_world, tmp_path):
    model = _model(fvit_world, tmp_path)
    x = torch.randn(1, 3, 256, 256, generator=torch.Generator().manual_seed(2))
    a = model.detect(x, [(200, 130)], paste_masks=False)[0]
    b = model.detect(x, [torch.tensor([200, 130])], paste_masks=False)[0]
    assert len(a["boxes"]) > 0 and all(torch.equal(a[k], b[k]) for k in a)
    assert float(a["boxes"][:, 2].max()) <= 130 and float(a["boxes"][:, 3].max()) <= 200
    assert a["masks"].shape[1:] == (1, 28, 28)


def test_export_refuses_missing_vocabulary_and_small_size(fvit_world, tmp_path):
    model = _model(fvit_world, tmp_path)
    with pytest.raises(ValueError, match="window"):
        export_onnx(model, 100, tmp_path / "m.onnx")
    model.roi_heads.text_embeddings = torch.zeros(1, model.roi_heads.text_embeddings.shape[1])
    with pytest.raises(ValueError, match="vocabulary"):
        export_onnx(model, 256, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_cli_arguments_and_config_checkpoint_loading(fvit_world, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "m.onnx")])  # neither source
    with pytest.raises(SystemExit):
        main(["--pretrained", "x", "--config", CONFIG, "--out", str(tmp_path / "m.onnx")])
    assert "either --pretrained" in capsys.readouterr().err
    assert main(["--pretrained", str(tmp_path / "nope"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert "not a pretrained folder" in capsys.readouterr().err
    (tmp_path / "a_file").write_text("")
    assert main(["--pretrained", str(tmp_path / "nope"), "--out", str(tmp_path / "a_file" / "m.onnx")]) == 2
    assert "not writable" in capsys.readouterr().err  # before the model loads
    model = _model(fvit_world, tmp_path)
    save_checkpoint(tmp_path / "ckpt.pt", {"model": model.checkpoint_state_dict()})
    cfg = make_config(fvit_world, tmp_path)
    overrides = [f"data.train_ann={cfg.data.train_ann}", f"text_cache={cfg.text_cache}"]
    # the model loads (checkpoint, classes), then the size check stops it before the export
    assert main(["--config", CONFIG, "--checkpoint", str(tmp_path / "ckpt.pt"), "--classes", "purple blob;red circle",
                 "--size", "100", "--out", str(tmp_path / "m.onnx"), *overrides]) == 2
    assert "smaller than the backbone's window 128" in capsys.readouterr().err


@pytest.fixture(scope="module")
def exported(fvit_world, tmp_path_factory):
    """``--pretrained`` export of a random-init model saved with ``save_pretrained``."""
    tmp = tmp_path_factory.mktemp("fvit_export")
    # a threshold that leaves fewer boxes than the cap: the count varies from image to image
    model = _model(fvit_world, tmp, "model.score_thresh=0.3")
    model.save_pretrained(tmp / "pretrained")
    assert main(["--pretrained", str(tmp / "pretrained"), "--out", str(tmp / "fvit.onnx")]) == 0
    return tmp, model


@pytest.mark.slow  # ~40 s on 2 busy cores: one export and a few graph runs
def test_cli_graph_equals_pytorch_on_world_images(exported, fvit_world):
    from PIL import Image

    tmp, model = exported
    meta = json.loads((tmp / "fvit.onnx").with_suffix(".json").read_text())
    assert meta["classes"] == ["red circle", "blue square,blue box", "purple blob"] and meta["size"] == 256
    assert meta["outputs"] == ["boxes", "scores", "labels", "mask_probs"]
    spec = model.backbone.spec
    picture = np.asarray(Image.open(fvit_world.images_val / "000001.jpg").convert("RGB"))
    # a landscape and a portrait crop: two content sizes through the same graph
    for pic in (picture[:80], picture[:, :70]):
        image, size, scale = canvas(pic, 256)
        got = run_onnx(tmp / "fvit.onnx", image, size)
        x, (h, w) = eval_input(pic, 256, spec.mean, spec.std)
        assert [h, w] == size.tolist()
        with torch.no_grad():
            ref = model.detect(x[None], [(h, w)], paste_masks=False)[0]
        assert 10 < len(ref["scores"]) < model.roi_heads.detections_per_img
        assert len(got["scores"]) == len(ref["scores"])
        np.testing.assert_array_equal(got["labels"], ref["labels"].numpy())
        np.testing.assert_allclose(got["boxes"], ref["boxes"].numpy(), atol=BOX_ATOL, rtol=0)
        np.testing.assert_allclose(got["scores"], ref["scores"].numpy(), atol=SCORE_ATOL, rtol=0)
        np.testing.assert_allclose(got["mask_probs"], ref["masks"][:, 0].numpy(), atol=SCORE_ATOL, rtol=0)
        assert got["boxes"][:, 2].max() <= w and got["boxes"][:, 3].max() <= h  # clipped to the content
        # the user-level result: FViT.predict on the original picture
        res, want = postprocess(got, size, scale, pic.shape[:2], meta["classes"]), model.predict(pic)
        assert res["label_names"] == want["label_names"]
        np.testing.assert_allclose(res["boxes"], want["boxes"], atol=BOX_ATOL / scale, rtol=0)
        assert res["masks"].shape == want["masks"].shape and (res["masks"] != want["masks"]).mean() < 1e-4


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")
def test_traced_mask_branch_runs_on_zero_boxes(fvit_world, tmp_path):
    """A graph traced with detections gets none at run time (nothing above the score threshold)."""
    import onnxruntime as ort

    heads = _model(fvit_world, tmp_path).roi_heads
    feats = [torch.randn(1, 64, 256 // s, 256 // s, generator=torch.Generator().manual_seed(s)) for s in (4, 8, 16, 32)]

    class MaskBranch(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = heads

        def forward(self, boxes):
            return self.heads.mask_head(self.heads.mask_pool(feats, [boxes])).sigmoid()

    boxes = torch.tensor([[10.0, 20.0, 60.0, 90.0], [0.0, 0.0, 250.0, 200.0]])  # levels 0 and 1 (of 4)
    branch = MaskBranch().eval()
    with torch.no_grad():
        torch.onnx.export(branch, (boxes,), str(tmp_path / "m.onnx"), dynamo=False, opset_version=17,
                          input_names=["boxes"], dynamic_axes={"boxes": {0: "n"}})
        sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
        for b in (boxes, boxes[:0], torch.tensor([[5.0, 5.0, 250.0, 250.0]])):
            got = sess.run(None, {"boxes": b.numpy()})[0]
            want = branch(b).numpy()
            assert got.shape == want.shape == (len(b), 1, 28, 28)
            np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
