"""World CLIP pre-training: batch order, exact resume, loadable weights, bad inputs, zero-shot transfer."""
import json
import warnings

import pytest
import torch
from safetensors.torch import load_file

import backbone.pretrain as pt
from backbone import build_backbone
from shared.synthetic import generate_world


@pytest.fixture(scope="module")
def small_world(tmp_path_factory):
    return generate_world(tmp_path_factory.mktemp("clipworld"), seed=0, num_train=6, num_val=2, image_size=128)


def _cfg(world, out, **kw):
    return pt.PretrainConfig(world=str(world.root), out=str(out), **{"steps": 4, "batch_size": 8, "warmup": 1,
                                                                     "ckpt_every": 2, "progress": False, **kw})


def test_batch_indices_are_seeded_epoch_permutations():
    n, bs = 10, 4
    steps = [pt.batch_indices(s, bs, n, seed=3).tolist() for s in range(5)]  # 20 samples = 2 epochs
    flat = sum(steps, [])
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:]) == list(range(10))
    assert flat[:10] == torch.randperm(10, generator=torch.Generator().manual_seed(3 * 100003)).tolist()
    assert flat[:10] != flat[10:]  # a new permutation each epoch
    assert pt.batch_indices(2, bs, n, seed=3).tolist() == steps[2]  # a function of (seed, step) only
    assert pt.batch_indices(0, bs, n, seed=4).tolist() != steps[0]


def test_resume_is_exact_and_the_weights_load_in_backbone_and_llava(small_world, tmp_path, monkeypatch):
    full = pt.pretrain(_cfg(small_world, tmp_path / "a"))
    assert full["pairs"] == len(small_world.captions_train.read_text().splitlines()) - 1
    assert full["zero_shot"]["num_crops"] == len(json.loads(small_world.instances_val.read_text())["annotations"])
    assert full["zero_shot"]["chance"] == pytest.approx(1 / 12)

    real = pt.batch_indices

    def stop_at_step_3(step, *args):
        if step == 3:
            raise KeyboardInterrupt  # killed after the step-2 checkpoint
        return real(step, *args)

    monkeypatch.setattr(pt, "batch_indices", stop_at_step_3)
    with pytest.raises(KeyboardInterrupt):
        pt.pretrain(_cfg(small_world, tmp_path / "b"))
    assert torch.load(tmp_path / "b" / "last.pt", weights_only=True)["step"] == 2
    monkeypatch.setattr(pt, "batch_indices", real)
    resumed = pt.pretrain(_cfg(small_world, tmp_path / "b"))
    assert resumed["loss_first_last"] == full["loss_first_last"]
    a, b = (load_file(str(tmp_path / d / pt.WEIGHTS_FILE)) for d in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    with pytest.raises(ValueError, match="steps"):  # a checkpoint of another run is not silently continued
        pt.pretrain(_cfg(small_world, tmp_path / "b", steps=6))

    path = str(tmp_path / "a" / pt.WEIGHTS_FILE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bb = build_backbone("ViTamin-Tiny", pretrained=path)
    assert bb.weights.startswith("file:") and bb.weights.endswith("(full)")
    loaded, fresh = bb.clip.state_dict(), build_backbone("ViTamin-Tiny").clip.state_dict()
    assert loaded.keys() == a.keys() and all(torch.equal(loaded[k], a[k]) for k in a)  # image and text towers
    assert sum(not torch.equal(fresh[k], a[k]) for k in a) > len(a) // 2  # trained, not the random init

    from llava_lmm.modeling.builder import load_tower_weights, vision_config_for
    from llava_lmm.modeling.vision_tower import ViTaminVisionModel

    tower = ViTaminVisionModel(vision_config_for("ViTamin-Tiny", 128))
    load_tower_weights(tower, path)
    sd = tower.trunk.state_dict()
    assert all(torch.equal(v, a["visual.trunk." + k]) for k, v in sd.items())


def test_bad_inputs_are_named(tmp_path, small_world):
    with pytest.raises(FileNotFoundError, match="captions/train.tsv"):
        pt.pretrain(pt.PretrainConfig(world=str(tmp_path), out=str(tmp_path / "o"), progress=False))
    bad = tmp_path / "w" / "captions" / "train.tsv"
    bad.parent.mkdir(parents=True)
    bad.write_text("filepath\ttitle\nimages/x.jpg\n")
    with pytest.raises(ValueError, match=r"train.tsv:2: expected 'image path<TAB>caption'"):
        pt.pretrain(pt.PretrainConfig(world=str(tmp_path / "w"), out=str(tmp_path / "o"), progress=False))
    assert pt.main(["--world", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    with pytest.raises(ValueError, match="contrastive"):
        pt.pretrain(_cfg(small_world, tmp_path / "o", batch_size=1))


@pytest.mark.slow
def test_world_clip_classifies_held_out_crops_zero_shot(tmp_path):
    """A much smaller pre-training than the demo's (whose ≥ 3 × chance target test_demo checks on the CI run;
    under CI this test reads that run instead of pre-training again): 200 images, 40 steps; held-out val object crops, classified among the 12 thing classes by their names, above
    chance; the random-init model is not."""
    import json
    import os

    from demo_runs import DEMO_DIR

    demo = DEMO_DIR / "world_clip" / "metrics.json"
    if os.environ.get("CI") == "true" and demo.is_file():  # CI: the demo just pre-trained (150 steps, 400 images)
        m = json.loads(demo.read_text())
    else:
        world = generate_world(tmp_path / "w", seed=0, num_train=200, num_val=40, image_size=128)
        m = pt.pretrain(pt.PretrainConfig(world=str(world.root), out=str(tmp_path / "clip"), steps=40,
                                          progress=False))
    z, r = m["zero_shot"], m["zero_shot_random_init"]
    assert z["num_crops"] > 100 and z["num_novel_crops"] > 20
    assert z["accuracy"] >= 2 * z["chance"]  # measured 0.283 = 3.4 × chance (novel 0.189)
    assert r["accuracy"] < 1.5 * r["chance"]  # measured 0.109
