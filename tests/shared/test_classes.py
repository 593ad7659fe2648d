"""The one class-list syntax (``;`` classes, ``,`` synonyms, ``@file``) and its duplicate check."""
import pytest

from shared.classes import file_gives_ids, normalize_name, parse_classes, parse_vocabulary, read_class_names


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
    assert parse_vocabulary(f"@{f}") == (["cat", "dog,puppy"], [1, 2])
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        parse_classes(f"@{tmp_path / 'missing.txt'}")
    # the dataset reader itself still wants every class's index
    plain = tmp_path / "plain.txt"
    plain.write_text("cat\n")
    with pytest.raises(ValueError, match=r"plain.txt:1: expected 'index:name1,name2', got 'cat'"):
        read_class_names(plain)


def test_at_file_ids_are_the_files_ids_not_positions(tmp_path):
    # COCO's ids have gaps: the file's ids are kept (position + 1 would give 1, 2, 3)
    f = tmp_path / "coco.txt"
    f.write_text("1:person\n3:car\n90:toothbrush\n")
    assert parse_vocabulary(f"@{f}") == (["person", "car", "toothbrush"], [1, 3, 90])
    assert file_gives_ids(f"@{f}") and not file_gives_ids("person;car")


def test_plain_lines_one_class_per_line_ids_from_the_order(tmp_path):
    f = tmp_path / "classes.txt"
    f.write_text("traffic light\n\ncat, kitty\ndog\n")  # as the README says: one class per line
    assert parse_vocabulary(f"@{f}") == (["traffic light", "cat,kitty", "dog"], [1, 2, 3])
    assert not file_gives_ids(f"@{f}")
    mixed = tmp_path / "mixed.txt"
    mixed.write_text("cat\n3:dog\n")
    with pytest.raises(ValueError, match=r"mixed.txt:2: expected a plain 'name1,name2' line \(as line 1\), "
                                         r"got '3:dog'"):
        parse_classes(f"@{mixed}")


def test_given_ids_are_checked():
    assert parse_vocabulary("cat;dog", ids=[17, 18]) == (["cat", "dog"], [17, 18])
    assert parse_vocabulary(["cat", "dog"]) == (["cat", "dog"], [1, 2])
    with pytest.raises(ValueError, match="1 category ids for 2 classes"):
        parse_vocabulary("cat;dog", ids=[3])
    with pytest.raises(ValueError, match=r"category ids used twice: \[3\]"):
        parse_vocabulary("cat;dog", ids=[3, 3])
    with pytest.raises(ValueError, match="category id '3' is not an integer"):
        parse_vocabulary("cat;dog", ids=["3", 4])


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

