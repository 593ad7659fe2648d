"""Ranking and per-class NMS with index tie-breaking (``fvit_detection/modeling/nms.py``): equal to torchvision
where no scores tie, the lower index first where they do, and the same in an onnxruntime graph as in PyTorch."""
import numpy as np
import pytest
import torch
from fvit_detection.modeling.nms import multiclass_nms, rank_scores, sort_descending, top_k


def _boxes(n, seed, size=100.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = 5 + torch.rand(n, 2, generator=g) * size / 3
    return torch.cat([xy, xy + wh], dim=1)


def test_sort_and_top_k_put_equal_values_in_index_order():
    x = torch.tensor([[0.5, 0.9, 0.5, 0.9, 0.1, 0.5]])
    assert sort_descending(x).tolist() == [[1, 3, 0, 2, 5, 4]]
    assert top_k(x, 4).tolist() == [[1, 3, 0, 2]]
    assert top_k(x, 10).tolist() == [[1, 3, 0, 2, 5, 4]]  # k above n: all
    r = rank_scores(torch.tensor([[0.5, 0.9, 0.5, 0.2]]), torch.tensor([[True, True, True, False]]))
    assert r.tolist() == [[3.0, 4.0, 2.0, 0.0]]  # n − rank; the invalid entry 0


def test_multiclass_nms_equals_torchvision_without_ties():
    """Distinct scores: the kept (box, class) pairs and their order are torchvision's ``batched_nms`` over the
    candidates listed box by box — with either of its algorithms (class offsets; a loop over the classes)."""
    from torchvision.ops.boxes import _batched_nms_coordinate_trick, _batched_nms_vanilla

    boxes = _boxes(300, 0)
    scores = torch.rand(4, 300, generator=torch.Generator().manual_seed(1))
    valid = scores > 0.3
    cls, idx = multiclass_nms(boxes, scores, valid, 0.5)
    cand, ccls = torch.where(valid.t())  # box-major, as F-ViT lists its candidates
    for algorithm in (_batched_nms_coordinate_trick, _batched_nms_vanilla):
        keep = algorithm(boxes[cand], scores[ccls, cand], ccls, 0.5)
        assert idx.tolist() == cand[keep].tolist() and cls.tolist() == ccls[keep].tolist()
    assert 20 < len(idx) < valid.sum()


def test_multiclass_nms_breaks_ties_by_box_index():
    """Four boxes in a chain (each overlaps its neighbours by IoU 0.6) with one score: visiting them in index
    order keeps 0 and 2; a visit in another order (a heap, an unstable sort) keeps other boxes."""
    boxes = torch.tensor([[0.0, 0, 10, 10], [2.5, 0, 12.5, 10], [5, 0, 15, 10], [7.5, 0, 17.5, 10]])
    scores = torch.full((1, 4), 0.7)
    cls, idx = multiclass_nms(boxes, scores, scores > 0, 0.5)
    assert idx.tolist() == [0, 2] and cls.tolist() == [0, 0]
    cls, idx = multiclass_nms(boxes.flip(0), scores, scores > 0, 0.5)  # the same boxes listed backwards
    assert idx.tolist() == [0, 2]  # boxes 3 and 1 of the first listing
    # equal scores across classes: ordered by box, then class
    cls, idx = multiclass_nms(boxes[:1].expand(2, 4), torch.full((2, 2), 0.5), torch.ones(2, 2, dtype=bool), 0.5)
    assert list(zip(idx.tolist(), cls.tolist())) == [(0, 0), (0, 1)]


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning", "ignore:Exporting aten::index operator")
def test_onnx_graph_of_top_k_and_nms_equals_pytorch_with_ties(tmp_path):
    """Traced: ONNX TopK and one multi-class NonMaxSuppression; onnxruntime keeps the same boxes in the same order
    as PyTorch on inputs full of ties (scores rounded to 1 decimal), and on an input with no candidates."""
    ort = pytest.importorskip("onnxruntime")

    class Module(torch.nn.Module):
        def forward(self, boxes, scores):
            keep = top_k(scores.max(0).values, 150)
            cls, idx = multiclass_nms(boxes[keep], scores[:, keep], scores[:, keep] > 0.25, 0.5)
            return keep[idx], cls

    boxes = _boxes(200, 2)
    scores = (torch.rand(3, 200, generator=torch.Generator().manual_seed(3)) * 10).round() / 10
    with torch.no_grad():
        torch.onnx.export(Module(), (boxes, scores), str(tmp_path / "m.onnx"), dynamo=False, opset_version=17,
                          input_names=["boxes", "scores"], output_names=["idx", "cls"],
                          dynamic_axes={"boxes": {0: "n"}, "scores": {1: "n"}, "idx": {0: "k"}, "cls": {0: "k"}})
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for s in (scores, scores * 0.2):  # the second: nothing above 0.25
        want = [t.numpy() for t in Module()(boxes, s)]
        got = sess.run(None, {"boxes": boxes.numpy(), "scores": s.numpy()})
        assert len(np.unique(s.numpy())) <= 11
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])
    assert len(want[0]) == 0 and len(Module()(boxes, scores)[0]) > 20


def test_rpn_filtering_equals_torchvision_without_ties():
    """F-ViT's proposal filtering (exact per-level NMS, index tie-breaking, ranking by logits) keeps torchvision's
    proposals, in its order, when no objectness ties — two images, boxes partly outside, tiny boxes."""
    from torchvision.models.detection.rpn import RegionProposalNetwork

    from fvit_detection.modeling.rpn import build_rpn

    ours = build_rpn(8, [4.0, 8.0], pre_nms=60, post_nms=25).eval()
    theirs = RegionProposalNetwork(ours.anchor_generator, ours.head, 0.7, 0.3, 256, 0.5, dict(training=60, testing=60),
                                   dict(training=25, testing=25), 0.7).eval()
    levels = [150, 90]
    boxes = torch.stack([_boxes(240, 4, size=120.0), _boxes(240, 5, size=120.0)]) - 10  # partly outside
    boxes[:, ::7, 2:] = boxes[:, ::7, :2] + 1e-4  # too small: dropped
    objectness = torch.randn(480, 1, generator=torch.Generator().manual_seed(6)) * 3
    sizes = [(100, 80), (90, 110)]
    got_boxes, got_scores = ours.filter_proposals(boxes, objectness, sizes, levels)
    want_boxes, want_scores = theirs.filter_proposals(boxes, objectness, sizes, levels)
    for g, w, gs, ws in zip(got_boxes, want_boxes, got_scores, want_scores):
        assert len(w) == 25 and torch.equal(g, w) and torch.equal(gs, ws)
