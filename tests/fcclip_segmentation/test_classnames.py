"""The shipped FC-CLIP class-name files (``configs/classnames/*_with_prompt_eng.txt``): byte-exact copies of the
reference, and the class / synonym / seen-class counts of the design fact sheet (§1.6, §1.9, §3.2)."""
import hashlib
from pathlib import Path

import pytest

import fcclip_segmentation
from fcclip_segmentation.data.dataset import read_class_names
from fcclip_segmentation.modeling.ensemble import seen_classes

CLASSNAMES = Path(fcclip_segmentation.__file__).parent / "configs" / "classnames"

# file: (lines, classes, synonyms counted with repetition, seen vs COCO, valid indices, git blob id in
# bytedance/fc-clip@2b0bbe2 = Beckschen/ViTamin@24f7475 vitamin_fcclip/)
FILES = {
    "coco_panoptic_with_prompt_eng.txt": (201, 133, 254, 133, None, "76dc9729374dff8a314638c7a8e0ed0707c78328"),
    "ade20k_150_with_prompt_eng.txt": (151, 150, 403, 64, range(1, 151), "5226edfa39dd317be992f30c661185aa030c8180"),
    "ade20k_847_with_prompt_eng.txt": (848, 847, 1342, 101, range(1, 848), "b7631743521190368745270b3fd73d418040d12a"),
    "pascal_ctx_59_with_prompt_eng.txt": (60, 59, 160, 51, range(1, 60), "5bd5242d89b7bf12043cc051fa0d8f72e99110fe"),
    "pascal_ctx_459_with_prompt_eng.txt": (460, 459, 559, 85, range(1, 460),
                                           "c281c47a5ffa24dde42e6151e982ac03e0835138"),
    "pascal_voc_21_with_prompt_eng.txt": (21, 21, 153, 21, range(0, 21), "08f525d73afec5323496a6da35825dfd24032101"),
    "cityscapes_with_prompt_eng.txt": (19, 19, 60, 17, range(0, 19), "65fd30673d2008b09ea8dd5ea0be887506c422c4"),
    "mapillary_vistas_with_prompt_eng.txt": (66, 65, 153, 26, range(1, 66), "d8d5ba17ac1bbddef0605d039d012cc873118870"),
}
COCO_THING_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
COCO_STUFF_IDS = [92, 93, 95, 100, 107, 109, 112, 118, 119, 122, 125, 128, 130, 133, 138, 141, 144, 145, 147, 148, 149,
                  151, 154, 155, 156, 159, 161, 166, 168, 171, 175, 176, 177, 178, 180, 181, 184, 185, 186, 187, 188,
                  189, 190, 191, 192, 193, 194, 195, 196, 197, 198, 199, 200]


def _names(file: str) -> list[str]:
    """Valid entries in index order, the order in which they are assigned to the dataset's classes."""
    names = read_class_names(CLASSNAMES / file)
    return [names[k] for k in sorted(names)]


@pytest.fixture(scope="module")
def coco_train_names() -> list[str]:
    return _names("coco_panoptic_with_prompt_eng.txt")


@pytest.mark.parametrize("file", FILES)
def test_byte_exact_copy_of_reference(file):
    data = (CLASSNAMES / file).read_bytes()
    assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == FILES[file][5]
    assert data.isascii() and b"\r" not in data and not data.endswith(b"\n")  # as in the reference: no final newline


@pytest.mark.parametrize("file", FILES)
def test_line_format_and_reader_is_lossless(file):
    lines = (CLASSNAMES / file).read_text().splitlines()
    assert len(lines) == FILES[file][0]
    assert [int(line.split(":")[0]) for line in lines] == list(range(len(lines)))  # consecutive, sorted
    raw = {int(i): n for i, n in (line.split(":") for line in lines) if n != "invalid_class_id"}
    assert all(n and ", " not in n and "" not in n.split(",") for n in raw.values())
    assert read_class_names(CLASSNAMES / file) == raw  # the reader changes no string and drops only invalid lines


@pytest.mark.parametrize("file", FILES)
def test_class_and_synonym_counts(file):
    _, n_classes, n_synonyms, _, indices, _ = FILES[file]
    names = read_class_names(CLASSNAMES / file)
    assert len(names) == n_classes
    # Counted with repetition, as written in the file (the reference encodes every listed synonym).
    assert sum(len(n.split(",")) for n in names.values()) == n_synonyms
    if indices is not None:
        assert sorted(names) == list(indices)


@pytest.mark.parametrize("file", FILES)
def test_seen_classes_against_coco(file, coco_train_names):
    names = _names(file)
    seen = seen_classes(names, coco_train_names)
    assert seen.shape == (len(names),) and int(seen.sum()) == FILES[file][3]


def test_coco_indices_are_panoptic_category_ids():
    assert sorted(read_class_names(CLASSNAMES / "coco_panoptic_with_prompt_eng.txt")) == COCO_THING_IDS + COCO_STUFF_IDS
    assert len(COCO_THING_IDS) == 80 and len(COCO_STUFF_IDS) == 53


def test_duplicate_synonyms_are_kept_as_in_reference():
    """A few classes repeat a synonym; the files stay verbatim and the synonym counts include the repeats."""
    bg = read_class_names(CLASSNAMES / "pascal_voc_21_with_prompt_eng.txt")[0].split(",")
    assert bg[0] == "background" and len(bg) == 74 and len(set(bg)) == 72
    assert bg.count("bag") == 2 and bg.count("tiles") == 2
    repeats = {"ade20k_150_with_prompt_eng.txt": (72, "kitchen range"),
               "ade20k_847_with_prompt_eng.txt": (73, "kitchen range"),
               "mapillary_vistas_with_prompt_eng.txt": (41, "mailbox")}
    for file, (index, synonym) in repeats.items():
        assert read_class_names(CLASSNAMES / file)[index].split(",").count(synonym) == 2


def test_pascal_voc_20_is_pascal_21_without_background(coco_train_names):
    """The reference has no PAS-20 file: PAS-20 = PAS-21 entries 1..20; our derived file holds exactly those."""
    pas20 = _names("pascal_voc_21_with_prompt_eng.txt")[1:]
    assert _names("pascal_voc_20_with_prompt_eng.txt") == pas20
    assert len(pas20) == 20 and sum(len(n.split(",")) for n in pas20) == 79
    assert int(seen_classes(pas20, coco_train_names).sum()) == 20


def test_spot_checks():
    coco = read_class_names(CLASSNAMES / "coco_panoptic_with_prompt_eng.txt")
    assert coco[1].split(",")[:2] == ["person", "child"] and coco[1].endswith(",clothes")
    assert coco[2] == "bicycle,bicycles,bike,bikes" and coco[200] == "rug" and coco[92] == "banner,banners"
    assert 91 not in coco and 0 not in coco
    city = read_class_names(CLASSNAMES / "cityscapes_with_prompt_eng.txt")
    assert city[0] == "road,railroad" and city[11] == "person" and city[12] == "rider"
    assert city[18] == "bicycle,bicycles,bike,bikes"
    ade = read_class_names(CLASSNAMES / "ade20k_150_with_prompt_eng.txt")
    assert ade[1] == "wall,walls,brick wall,stone wall,interior wall" and ade[150] == "flag,flags"
    assert read_class_names(CLASSNAMES / "ade20k_847_with_prompt_eng.txt")[847] == "adding machine,totalizer,totaliser"
    pas21 = read_class_names(CLASSNAMES / "pascal_voc_21_with_prompt_eng.txt")
    assert pas21[0].startswith("background,") and pas21[1].startswith("aeroplane,")
    assert pas21[20] == "tvmonitor,monitor,tv"
    assert read_class_names(CLASSNAMES / "pascal_ctx_59_with_prompt_eng.txt")[59] == "wood piece"
    assert read_class_names(CLASSNAMES / "pascal_ctx_459_with_prompt_eng.txt")[1] == "accordion"
    mv = read_class_names(CLASSNAMES / "mapillary_vistas_with_prompt_eng.txt")
    assert mv[1] == "bird,birds" and mv[65] == "ego vehicle"


def test_unseen_classes_are_the_expected_ones(coco_train_names):
    """Cityscapes: only pole and rider have no synonym among COCO's (terrain is seen through grass, sand, ...)."""
    city = _names("cityscapes_with_prompt_eng.txt")
    seen = seen_classes(city, coco_train_names)
    assert [n.split(",")[0] for n, s in zip(city, seen) if not s] == ["pole", "rider"]
