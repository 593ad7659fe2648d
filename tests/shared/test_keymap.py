"""The state-dict key-map engine: affine indices, both directions, split / join, collisions, the printed table."""
import pytest
import torch

from shared.keymap import OURS, REFERENCE, KeyMap, KeyPattern, Split

FIELDS = {"i": r"\d+", "p": "weight|bias", "x": "[qkv]"}
MAP = KeyMap([
    ("head.{i}.conv.weight", "head.{3i}.weight", "conv of block i"),
    ("head.{i}.bn.{p}", "head.{3i+1}.{p}"),
    Split("attn.{i}.in_proj_{p}", "attn.{i}.{x}_proj.{p}", "x", ("q", "k", "v"), note="packed"),
    ("fc.{p}", "out.{p}"),
], FIELDS)


def test_affine_index_matches_only_its_numbers_and_repeated_placeholders_agree():
    pat = KeyPattern("head.{3i+1}.{p}", FIELDS)
    assert pat.match("head.7.bias") == {"i": "2", "p": "bias"}
    assert pat.match("head.6.bias") is None and pat.match("head.0.bias") is None  # 6 = 3·2, 0 < 1
    assert pat.format({"i": "4", "p": "weight"}) == "head.13.weight"
    twice = KeyPattern("a.{i}.b.{i}", FIELDS)
    assert twice.match("a.3.b.3") == {"i": "3"} and twice.match("a.3.b.4") is None


def test_both_directions_split_and_join_round_trip():
    packed = torch.arange(12.0).reshape(6, 2)
    ref = {"head.2.conv.weight": torch.ones(1), "attn.0.in_proj_weight": packed, "head.2.bn.bias": torch.zeros(1),
           "fc.bias": torch.full((1,), 5.0)}
    ours = MAP.convert(ref, OURS)
    assert list(ours.state_dict) == ["head.6.weight", "attn.0.q_proj.weight", "attn.0.k_proj.weight",
                                     "attn.0.v_proj.weight", "head.7.bias", "out.bias"]  # parts in place
    assert torch.equal(ours.state_dict["attn.0.k_proj.weight"], packed[2:4]) and ours.unknown == []
    assert ours.values["head.7.bias"] == {"i": "2", "p": "bias"}
    back = MAP.convert(ours.state_dict, REFERENCE)
    assert list(back.state_dict) == ["head.2.conv.weight", "head.2.bn.bias", "fc.bias", "attn.0.in_proj_weight"]
    assert all(torch.equal(back.state_dict[k], v) for k, v in ref.items())
    assert MAP.convert({"nope": 1, "fc.weight": 2}, OURS) == ({"out.weight": 2}, ["nope"],
                                                               {"out.weight": {"p": "weight"}})


def test_errors_name_the_keys():
    with pytest.raises(ValueError, match=r"f.pt: attn.1.in_proj_bias has 5 rows, expected 3 equal parts \(q \| k"):
        MAP.convert({"attn.1.in_proj_bias": torch.zeros(5)}, OURS, "f.pt")
    with pytest.raises(ValueError, match="attn.0.in_proj_bias needs the parts q/k/v of ours, found k/q"):
        MAP.convert({"attn.0.q_proj.bias": torch.zeros(1), "attn.0.k_proj.bias": torch.zeros(1)}, REFERENCE)
    dup = KeyMap([("a.{p}", "x.{p}"), ("b.{p}", "x.{p}")], FIELDS)
    with pytest.raises(ValueError, match=r"b.bias and a.bias both map to x.bias \(hint\)"):
        dup.convert({"a.bias": 1, "b.bias": 2}, OURS, collision_hint=" (hint)")
    with pytest.raises(ValueError, match="no field 'j'"):
        KeyMap([("a.{j}", "b.{j}")], FIELDS)


def test_table_and_rows_below_a_module():
    lines = MAP.table()
    assert lines[0].split() == ["reference", "ours", "note"] and len(lines) == 2 + 4
    assert lines[2].split() == ["head.{i}.conv.weight", "head.{3i}.weight", "conv", "of", "block", "i"]
    assert "split along dim 0 into {x} = q, k, v" in lines[4]
    nested = KeyMap(MAP.under("model.", "net."), FIELDS)
    assert nested.rename("model.fc.weight", OURS) == ("net.out.weight", {"p": "weight"})
    assert list(nested.convert({"net.attn.3.q_proj.bias": torch.zeros(1), "net.attn.3.k_proj.bias": torch.ones(1),
                                "net.attn.3.v_proj.bias": torch.zeros(1)}, REFERENCE).state_dict) == [
        "model.attn.3.in_proj_bias"]
