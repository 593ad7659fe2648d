"""PackedList: list semantics over one pickled byte buffer."""
import pickle

import numpy as np
import pytest

from shared.packed import PackedList

RECORDS = [{"id": 1, "boxes": np.arange(8, dtype=np.float32).reshape(2, 4), "name": "a.jpg"}, None, [],
           {"id": 2, "segs": [[0.5, 1.25, 3.0]], "png": "b.png"}, "text", 7, {"nested": {"x": (1, 2)}}]


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and bool((a == b).all())
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_records_read_back_equal_in_order_by_index_and_iteration():
    packed = PackedList(iter(RECORDS))  # any iterable, consumed once
    assert len(packed) == len(RECORDS)
    assert all(_same(packed[i], r) for i, r in enumerate(RECORDS))
    assert _same(list(packed), RECORDS)
    assert _same(packed[np.int64(3)], RECORDS[3])  # numpy integers index as ints do
    # one buffer of the pickled records, in order, plus one int64 end offset per record
    sizes = [len(pickle.dumps(r, protocol=pickle.HIGHEST_PROTOCOL)) for r in RECORDS]
    assert packed._ends.tolist() == np.cumsum(sizes).tolist() and packed.nbytes == sum(sizes) + 8 * len(RECORDS)
    assert {k: type(v) for k, v in vars(packed).items()} == {"_buffer": np.ndarray, "_ends": np.ndarray}


@pytest.mark.parametrize("index", [0, 6, -1, -7, 7, -8, 100, -100])
def test_int_indices_and_index_errors_as_a_list(index):
    packed = PackedList(RECORDS)
    if -len(RECORDS) <= index < len(RECORDS):
        assert _same(packed[index], RECORDS[index])
    else:
        with pytest.raises(IndexError):
            RECORDS[index]
        with pytest.raises(IndexError, match="PackedList index out of range"):
            packed[index]


def test_slices_as_a_list():
    packed = PackedList(RECORDS)
    for s in (slice(None), slice(2, 5), slice(-3, None), slice(None, -2), slice(None, None, 2), slice(None, None, -1),
              slice(5, 1, -2), slice(10, 20), slice(-100, 100), slice(4, 4), slice(3, 1)):
        got = packed[s]
        assert isinstance(got, list) and _same(got, RECORDS[s]), s


@pytest.mark.parametrize("index", ["1", 1.0, None, (0,)])
def test_other_indices_are_a_type_error_as_a_list(index):
    with pytest.raises(TypeError):
        RECORDS[index]
    with pytest.raises(TypeError, match=f"PackedList indices must be integers or slices, not {type(index).__name__}"):
        PackedList(RECORDS)[index]


def test_empty_list():
    packed = PackedList([])
    assert len(packed) == 0 and list(packed) == [] and packed[:] == [] and packed.nbytes == 0
    with pytest.raises(IndexError):
        packed[0]
    with pytest.raises(IndexError):
        packed[-1]


def test_reads_are_copies_and_the_sequence_api_works():
    packed = PackedList(RECORDS)
    first = packed[0]
    first["id"] = 99
    first["boxes"][0, 0] = -1.0  # unpickled arrays are writable copies (torch.from_numpy takes them without a warning)
    assert packed[0]["id"] == 1 and packed[0]["boxes"][0, 0] == 0.0
    assert "text" in packed and 8 not in packed and packed.index(7) == 5 and packed.count(None) == 1
    assert _same(list(reversed(packed)), RECORDS[::-1])
    assert repr(packed) == f"PackedList(7 records, {packed.nbytes} bytes)"


def test_pickling_the_list_itself_keeps_its_records():
    """Spawned DataLoader workers receive the dataset pickled through their pipe."""
    packed = pickle.loads(pickle.dumps(PackedList(RECORDS)))
    assert isinstance(packed, PackedList) and _same(list(packed), RECORDS)
