"""The floors of the house: ``shared ← backbone ← adapters ← apps``. Nothing under ``shared/`` or ``backbone/``
names an adapter or the top floor — no import, no module-name string (``importlib.import_module("…")``), no
comment pointing at one — so the ground floors run and read without the floors above. The top floor lists every
adapter's demo step and app tab."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOWER_FLOORS = ("shared", "backbone")
NOT_ADAPTERS = {"shared", "backbone", "apps", "tests", "benchmarks", "scripts"}
TEXT_SUFFIXES = {".py", ".yaml", ".yml", ".json", ".txt", ".toml", ".cfg"}  # code, configs, data (not READMEs)


def adapters() -> list[str]:
    """The adapter packages: top-level packages other than the floors below and the top floor."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_ADAPTERS)


def test_the_adapters_are_found():
    assert adapters() == ["fcclip_segmentation", "fvit_detection", "llava_lmm"]


def test_lower_floors_name_no_adapter_and_not_the_top_floor():
    names = adapters()
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b|\bapps\.(demo|web)\b|^\s*(from|import)\s+apps\b",
                         re.MULTILINE)
    hits = []
    for floor in LOWER_FLOORS:
        for f in sorted((ROOT / floor).rglob("*")):
            if f.is_file() and f.suffix in TEXT_SUFFIXES and "__pycache__" not in f.parts:
                text = f.read_text(errors="replace")
                hits += [f"{f.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}: {m.group(0)}"
                         for m in pattern.finditer(text)]
    assert not hits, "the lower floors name a floor above:\n" + "\n".join(hits)


def test_the_pattern_finds_a_module_name_string(tmp_path):
    """The check above reads strings and comments, not only imports."""
    names = adapters()
    pattern = re.compile(r"\b(" + "|".join(names) + r")\b")
    assert pattern.search('getattr(importlib.import_module("fvit_detection.pretrained"), "FViT")')
    assert not pattern.search("fvit_detection_extra = 1") and not pattern.search("my_llava_lmm_x")


def test_the_top_floor_lists_every_adapter():
    from apps.demo import STEPS
    from apps.web import TABS

    owners = lambda objs, attr: {getattr(o, attr).__module__.split(".")[0] for o in objs}  # noqa: E731
    assert owners(STEPS, "run") >= set(adapters()) and owners(TABS, "load") == set(adapters())
    assert [s.name for s in STEPS] == ["world_clip", "backbone", *["fvit_detection", "fcclip_segmentation",
                                                                   "llava_lmm"]]
