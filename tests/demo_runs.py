"""Reuse of the CI demo's training runs by the end-to-end tests (imported by test files)."""
from pathlib import Path


DEMO_DIR = Path(__file__).resolve().parents[1] / "outputs" / "demo"


def ci_demo_run(step: str, dest: Path, world, files=("config.yaml", "last.pt", "eval_final.json", "metrics.jsonl")):
    """The training run the demo just made for ``step``, copied into ``dest``; ``None`` outside CI.

    ``.ci/run`` runs ``python -m apps.demo`` from the same tree right before pytest (``CI=true``), and the demo
    trains the same synthetic setting as the end-to-end tests (on the world CLIP instead of a random-init tower);
    reusing that run keeps CI within its time budget. Elsewhere (and if the demo run is missing) the tests train.
    The demo's world must be the test's world byte for byte (same seed and sizes)."""
    import json
    import os
    import shutil

    summary = DEMO_DIR / "summary.json"
    if os.environ.get("CI") != "true" or not summary.is_file():
        return None
    record = {s["name"]: s for s in json.loads(summary.read_text())["steps"]}.get(step)
    assert record is not None and record["status"] == "ok", f"the CI demo's {step} step did not finish: {record}"
    for f in sorted((Path(world.root) / "annotations").glob("*.json")):
        assert f.read_bytes() == (DEMO_DIR / "world" / "annotations" / f.name).read_bytes(), f"demo world differs: {f}"
    images = sorted(p.relative_to(world.root).as_posix() for p in Path(world.images).rglob("*.jpg"))
    assert images == sorted(p.relative_to(DEMO_DIR / "world").as_posix()
                            for p in (DEMO_DIR / "world" / "images").rglob("*.jpg")), "demo world's images differ"
    dest.mkdir(parents=True, exist_ok=True)
    for name in files:
        shutil.copy2(DEMO_DIR / step / name, dest / name)
    return json.loads((dest / "eval_final.json").read_text())
