"""``benchmarks/dataset_memory.py``: its pieces at tiny sizes (memory figures not checked), so the script cannot rot."""
import json
import sys

import pytest

from benchmarks import dataset_memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/smaps_rollup")


@pytest.mark.parametrize("which", ["fvit", "fcclip"])
def test_both_layouts_read_the_same_records_in_forked_workers(tmp_path, which):
    n = 12
    ann = (dataset_memory.write_lvis_train_like if which == "fvit" else dataset_memory.write_panoptic_train_like)(
        tmp_path, n)
    data = json.loads(ann.read_text())
    if which == "fvit":
        assert all(im["coco_url"].endswith(f"/train2017/{im['id']:012d}.jpg") for im in data["images"])
        expected = len(data["annotations"])  # no crowd, no degenerate box: every polygon is an instance
    else:
        expected = sum(not s["iscrowd"] for a in data["annotations"] for s in a["segments_info"])
    old, new = (dataset_memory.measure_child(which, layout, tmp_path, workers=2) for layout in ("old", "new"))
    for out in (old, new):
        assert out["records"] == n and out["instances"] == expected > 0
        assert out["build_s"] > 0 and out["read_s"] > 0 and out["rss"] > 0
        assert {"rss_growth", "workers_uss_growth", "pss_growth"} <= set(out)
    assert old["packed_bytes"] == 0 and new["packed_bytes"] > 0


def test_smaps_rollup_in_bytes():
    m = dataset_memory.smaps_rollup()
    assert m["Rss"] >= m["Pss"] > 0 and m["Rss"] % 1024 == 0 and dataset_memory._private(m) > 0
