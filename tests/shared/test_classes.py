"""The one class-list syntax (``;`` classes, ``,`` synonyms, ``@file``) and its duplicate check."""
import pytest

from shared.classes import normalize_name, parse_classes


def test_semicolon_separates_classes_comma_separates_synonyms():
    assert parse_classes("traffic light; cat , kitty ;dog;") == ["traffic light", "cat,kitty", "dog"]
    # a comma-only list is ONE class with synonyms (F-ViT used to read it as three classes)
    assert parse_classes("sky,grass,sand") == ["sky,grass,sand"]


def test_list_items_are_classes():
    assert parse_classes(["traffic light", "cat, kitty"]) == ["traffic light", "cat,kitty"]


def test_at_file_reads_the_dataset_class_name_format(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("0:invalid_class_id\n2:dog,puppy\n1:cat\n")
    assert parse_classes(f"@{f}") == ["cat", "dog,puppy"]  # index order, unused ids dropped
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        parse_classes(f"@{tmp_path / 'missing.txt'}")
    bad = tmp_path / "bad.txt"
    bad.write_text("cat\n")
    with pytest.raises(ValueError, match=r"bad.txt:1: expected 'index:name1,name2'"):
        parse_classes(f"@{bad}")


@pytest.mark.parametrize("spec, named", [
    ("cat;dog;Cat", "'cat' (class 1) and 'Cat' (class 3)"),
    ("traffic_light;traffic  light", "'traffic_light' (class 1) and 'traffic  light' (class 2)"),
    ("cat,kitty;kitty,cat", "'cat,kitty' (class 1) and 'kitty,cat' (class 2)"),
    ("sky*;sky", "'sky*' (class 1) and 'sky' (class 2)"),
])
def test_duplicates_after_normalisation_are_named(spec, named):
    with pytest.raises(ValueError, match="duplicate classes") as e:
        parse_classes(spec)
    assert named in str(e.value)


def test_overlapping_synonyms_are_not_duplicates():
    # A-847 has classes sharing a first synonym ("bag", "pot"); only identical synonym sets are duplicates
    assert parse_classes("bag,handbag;bag,sack") == ["bag,handbag", "bag,sack"]


@pytest.mark.parametrize("spec", ["", " ; ", "cat;;dog", [], ["cat", " , "]])
def test_empty_lists_and_classes_are_errors(spec):
    with pytest.raises(ValueError, match="--classes"):
        parse_classes(spec)


def test_normalize_name():
    assert normalize_name(" Traffic_Light* ") == normalize_name("traffic light") == "traffic light"

