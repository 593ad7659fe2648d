"""``benchmarks/data.py``: its quick path's pieces at tiny sizes (timings not checked), so the script cannot rot."""
import json

import numpy as np

from benchmarks import coco_like
from benchmarks.data import LOADERS, main, measure

KEYS = {"fcclip_loader_speedup", "fvit_loader_speedup", "lvis_eval_peak_rss_gib", "fcclip_loader_identical",
        "fvit_loader_identical", "lvis_eval_identical", "lvis_eval_s", "lvis_eval_old_s", "lvis_eval_old_peak_rss_gib"}


def test_measure_at_tiny_sizes_compares_every_path(tmp_path):
    lines = []
    out = measure(quick=True, work_dir=tmp_path, loader_images=2, rounds=1, lvis_images=5,
                  loaders=(("fcclip", "fcclip", 96), ("fvit", "fvit", 64)), image_sizes=((60, 80), (70, 45)),
                  llava=False, log=lines.append)  # data_llava has its own figures; not run here
    assert KEYS <= set(out)
    assert out["fcclip_loader_identical"] and out["fvit_loader_identical"] and out["lvis_eval_identical"]
    for key in ("fcclip", "fvit"):
        assert out[f"{key}_loader_speedup"] == out[f"{key}_loader_new_img_s"] / out[f"{key}_loader_old_img_s"] > 0
    assert out["lvis_detections"] == 5 * coco_like.LVIS_MAX_DETS
    assert out["lvis_eval_peak_rss_gib"] >= out["lvis_rss_before_gib"] > 0  # measured in the child
    assert 0 <= out["lvis_metrics"]["bbox_AP"] <= 1 and "segm_AP" in out["lvis_metrics"]
    assert len(lines) == 4 and "identical=True" in lines[-1]
    assert [k for k, _, _ in LOADERS] == ["fcclip", "fcclip_1024", "fvit"]  # the documented full-size set


def test_coco_like_writes_consistent_panoptic_and_instances(tmp_path):
    """The synthetic set the loaders read: every panoptic segment id is in its PNG (the reader checks), objects
    within 10–30, instance polygons inside the image."""
    from fcclip_segmentation.data.dataset import PanopticDataset

    p = coco_like.write_coco_like(tmp_path, 3, seed=0, sizes=((50, 70),))
    inst = json.loads(p.instances_json.read_text())
    per_image = np.bincount([a["image_id"] for a in inst["annotations"]])[1:]
    assert len(per_image) == 3 and per_image.min() >= 10 and per_image.max() <= 30
    xs = [v for a in inst["annotations"] for v in a["segmentation"][0][0::2]]
    assert 0 <= min(xs) and max(xs) <= 69
    ds = PanopticDataset(p.panoptic_json, p.panoptic_pngs, p.images, False, 64, (0.5,) * 3, (0.25,) * 3)
    assert len(ds) == 3 and ds[0]["sem_gt"].shape == (50, 70)  # reading checks json ids == PNG ids


def test_main_writes_json(tmp_path, monkeypatch):
    import benchmarks.data as data

    monkeypatch.setattr(data, "measure", lambda quick, lvis_images: {"quick": quick, "lvis_images": lvis_images})
    assert main(["--quick", "--lvis-images", "7", "--json", str(tmp_path / "o.json")]) == 0
    got = json.loads((tmp_path / "o.json").read_text())
    assert got["quick"] is True and got["lvis_images"] == 7 and got["total_s"] >= 0
