"""``PackedList``: dataset records as one numpy byte buffer, so that forked DataLoader workers share them.

A list of dicts read by a forked worker is copied into that worker page by page: reading a Python object writes its
reference count (and the garbage collector writes every container's header), so each worker ends up with its own
copy of every record it touched — the copy-on-read blow-up of large annotation files (LVIS, COCO panoptic) times
the number of workers. A ``PackedList`` holds the records pickled into one ``uint8`` array plus an ``int64`` array
of end offsets: two Python objects whatever the number of records, whose data pages the workers only read (as
detectron2's ``DatasetFromList(serialize=True)``).
"""
from __future__ import annotations

import io
import operator
import pickle
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np


class PackedList(Sequence):
    """A read-only list of picklable records stored as one byte buffer; each read unpickles a fresh copy.

    Indexing behaves as a list's: ints (negative ones count from the end), slices (a ``list`` of records), an
    ``IndexError`` out of range and a ``TypeError`` for any other index. Records are independent copies: changing
    one that was read changes nothing stored.

    Trust: the buffer only ever holds bytes that this process pickled itself, in ``__init__``, from records it
    built; it is never read from or written to a file. (Where DataLoader workers are spawned rather than forked,
    the dataset — this buffer with it — reaches them through the DataLoader's own pipe from this process.)
    Do not construct one from bytes of another origin: unpickling untrusted data runs arbitrary code.
    """

    def __init__(self, records: Iterable[Any] = ()):
        # pickled straight into one growing buffer (no per-record bytes left behind in the heap), then taken as is
        out, ends = io.BytesIO(), []
        for record in records:
            pickle.dump(record, out, protocol=pickle.HIGHEST_PROTOCOL)
            ends.append(out.tell())
        self._buffer = np.frombuffer(out.getvalue(), np.uint8)  # read-only: a record is never changed in place
        self._ends = np.array(ends, np.int64)

    def __len__(self) -> int:
        return len(self._ends)

    def _load(self, i: int) -> Any:
        start = int(self._ends[i - 1]) if i else 0
        return pickle.loads(memoryview(self._buffer[start:int(self._ends[i])]))

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self._load(i) for i in range(*index.indices(len(self)))]
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"{type(self).__name__} indices must be integers or slices, "
                            f"not {type(index).__name__}") from None
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"{type(self).__name__} index out of range")
        return self._load(i + n if i < 0 else i)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self._load(i)

    @property
    def nbytes(self) -> int:
        """Bytes held: the pickled records plus their offsets."""
        return self._buffer.nbytes + self._ends.nbytes

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self)} records, {self.nbytes} bytes)"
