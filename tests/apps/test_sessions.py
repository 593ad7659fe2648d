"""Two web users at once: one model object per tab serves every request, each request runs with its own class list
(never another request's), an empty classes box means the model's saved vocabulary, and a request where nothing
passes says so. The handlers are called from threads, as Gradio's workers call them."""
import threading

import numpy as np
import pytest
import torch

from fcclip_segmentation.app import segment
from fvit_detection.app import detect

# two users with disjoint class lists: a label from the other list is the other user's vocabulary
DET = {"a": "red circle;blue square", "b": "green triangle;yellow circle;sky"}
SEG = {"a": "red circle;blue square;sky*", "b": "green triangle;yellow circle;grass*"}
# per user and tab. The old handlers (set_classes on the shared model, then predict) gave a user the other's labels
# in most runs of 10 (0–8 times); the model's own vocabulary, checked after the threads, caught them in every run
ITERATIONS = 10


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from shared.synthetic import generate_world

    return generate_world(tmp_path_factory.mktemp("sessions_world"), seed=0, num_train=4, num_val=2, image_size=96)


@pytest.fixture(scope="module")
def fvit(world, tmp_path_factory):
    from fvit_detection import FViT
    from fvit_detection.config import FViTConfig
    from fvit_detection.demo import CONFIG
    from shared.engine import load_config

    root = tmp_path_factory.mktemp("sessions_fvit")
    torch.manual_seed(0)
    cfg = load_config(FViTConfig, CONFIG, [f"data.train_ann={world.lvis_train_ov}", f"text_cache={root}/text_cache",
                                           "data.image_size=128", "model.score_thresh=0.0"])
    model = FViT.from_config(cfg)
    with torch.no_grad():  # the heads' random init gives every box the same score: spread them out
        for p in model.roi_heads.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.fixture(scope="module")
def fcclip(world, tmp_path_factory):
    from fcclip_segmentation import FCCLIP
    from fcclip_segmentation.config import FCCLIPConfig
    from fcclip_segmentation.demo import CONFIG, synthetic_overrides
    from shared.engine import load_config

    root = tmp_path_factory.mktemp("sessions_fcclip")
    torch.manual_seed(0)
    cfg = load_config(FCCLIPConfig, CONFIG, synthetic_overrides(world, root) + ["data.image_size=128",
                                                                                "model.object_mask_threshold=0.0"])
    return FCCLIP.from_config(cfg)


@pytest.fixture(scope="module")
def image(world):
    return str(sorted(world.images_val.glob("*.jpg"))[0])


def _names(classes: str) -> set[str]:
    return {c.split(",")[0].rstrip("*") for c in classes.split(";")}


def _run_users(handler, lists: dict[str, str]) -> dict[str, list]:
    """Each user's thread calls ``handler(classes)`` ITERATIONS times, all starting together; their results."""
    start = threading.Barrier(len(lists))
    results: dict[str, list] = {u: [] for u in lists}
    errors = []

    def user(u):
        try:
            start.wait()
            for _ in range(ITERATIONS):
                results[u].append(handler(lists[u]))
        except Exception as e:  # noqa: BLE001 — reported by the test
            errors.append(e)

    threads = [threading.Thread(target=user, args=(u,)) for u in lists]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    return results


def test_detection_users_get_their_own_classes(fvit, image):
    saved, saved_embeddings = fvit.vocabulary, fvit.roi_heads.text_embeddings.clone()
    results = _run_users(lambda classes: detect(fvit, image, classes, 0.0)[1], DET)
    for user, runs in results.items():
        for rows in runs:
            assert rows and {r[0] for r in rows} <= _names(DET[user]), (user, {r[0] for r in rows})
    # the shared model was only read: its own vocabulary is the one it was loaded with
    assert fvit.vocabulary is saved and torch.equal(fvit.roi_heads.text_embeddings, saved_embeddings)
    # an empty box after other users' requests: the saved vocabulary, as the API gives it
    ref = fvit.predict(image)
    _, rows, note = detect(fvit, image, "  ", 0.0)
    assert [r[0] for r in rows] == ref["label_names"] and note == ""
    assert {r[0] for r in rows} <= set(fvit.class_names)


def test_segmentation_users_get_their_own_classes(fcclip, image):
    saved, saved_embeddings = fcclip.vocabulary, fcclip.text_embeddings.clone()
    results = _run_users(lambda classes: segment(fcclip, image, classes)[1], SEG)
    for user, runs in results.items():
        for rows in runs:
            assert rows and {r[1] for r in rows} <= _names(SEG[user]), (user, {r[1] for r in rows})
    assert fcclip.vocabulary is saved and torch.equal(fcclip.text_embeddings, saved_embeddings)
    ref = fcclip.predict(image)
    _, rows, _ = segment(fcclip, image, "")
    assert [r[1] for r in rows] == [s["label_name"] for s in ref["segments"]]


def test_nothing_above_the_threshold_is_said(fvit, image):
    from PIL import Image

    picture, rows, note = detect(fvit, image, DET["a"], 1.0)
    best = fvit.predict(image, classes=DET["a"])["scores"].max()
    assert rows == [] and note.startswith("No detection scores ≥ 1.00") and f"{best:.2f}" in note
    np.testing.assert_array_equal(np.asarray(picture), np.asarray(Image.open(image).convert("RGB")))  # nothing drawn


def test_app_refuses_server_files_and_shows_bad_lists(fvit, image, tmp_path):
    gr = pytest.importorskip("gradio")
    (tmp_path / "classes.txt").write_text("cat\n")
    with pytest.raises(gr.Error, match="does not read @file"):
        detect(fvit, image, f"@{tmp_path / 'classes.txt'}", 0.3)
    with pytest.raises(gr.Error, match="class 2 is empty"):
        detect(fvit, image, "cat;;dog", 0.3)
