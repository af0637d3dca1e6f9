"""Encoded images and audio clips of a read: slices of the buffers they were read into, then
one copy to wherever they end up.

A read of images is mostly their bytes. Copying each into a ``bytes`` object of its own
costs a page fault per 4 KiB of fresh memory, which on this project's benchmark machine took
longer than the copies and the CRCs together (docs/performance.md, issue 16). So a chunk's
blobs stay :class:`Blobs` (slices of its read buffer) until their destination is known: a
whole-table read appends them to a few large segments (:class:`BlobColumn`: numpy arrays,
which numpy asks the kernel to back with huge pages), a streamed read gathers each chunk's
into one buffer for an Arrow array (:meth:`Blobs.arrow`). Either way each blob is copied once, and a
DataFrame holds them as one Arrow binary column (``binary[pyarrow]``: each item is
``bytes``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from tbtool.columnar import arrow

#: Bytes of a blob's start that name its format (:func:`tbtool.values.typed.sniff_format`)
#: and that hold a WAV header's chunks.
FORMAT_BYTES = 16
HEAD_BYTES = 4096
#: Largest size of one Arrow binary array's data (its offsets are int32).
_ARRAY_BYTES = 2**31 - 1
#: The first and the largest segment of a :class:`BlobColumn` (a larger blob gets its own).
FIRST_SEGMENT = 4 << 20
LAST_SEGMENT = 64 << 20


class Blobs:
    """The blobs of one chunk's rows, in row order: slices (``memoryview`` s of the chunk's
    read buffer, or ``bytes``) not yet copied."""

    def __init__(self, parts: Sequence[Any]) -> None:
        self.parts = list(parts)

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self) -> Iterator[bytes]:
        """Each blob as ``bytes`` (a copy each: for tests and rare callers)."""
        return (bytes(part) for part in self.parts)

    @property
    def nbytes(self) -> int:
        return sum(len(part) for part in self.parts)

    def heads(self, size: int = HEAD_BYTES) -> list[bytes]:
        """The first ``size`` bytes of each blob (for format names and WAV headers)."""
        return [bytes(part[:size]) for part in self.parts]

    def sizes(self) -> list[int]:
        return [len(part) for part in self.parts]

    def arrow(self) -> pa.Array:
        """The blobs as one Arrow binary array over one new buffer (chunked past 2 GiB)."""
        return _arrow_of(self.parts)

    def __reduce__(self) -> tuple[Any, ...]:
        # A worker process hands its rows over pickled: the copy is made there, once.
        return (_unpickled, (self.arrow(),))


def _unpickled(array: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    return array


def _arrow_of(parts: Sequence[Any]) -> pa.Array | pa.ChunkedArray:
    sizes = np.fromiter((len(p) for p in parts), dtype=np.int64, count=len(parts))
    offsets = np.zeros(len(parts) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    if offsets[-1] > _ARRAY_BYTES:
        cut = int(np.searchsorted(offsets, _ARRAY_BYTES, side="right")) - 1
        cut = max(cut, 1)
        pieces = [_arrow_of(parts[:cut]), _arrow_of(parts[cut:])]
        chunks = [c for p in pieces for c in (p.chunks if isinstance(p, pa.ChunkedArray) else [p])]
        return pa.chunked_array(chunks, type=pa.binary())
    values = np.empty(int(offsets[-1]), dtype=np.uint8)
    for part, start, stop in zip(parts, offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
        values[start:stop] = np.frombuffer(part, dtype=np.uint8)
    return arrow.variable(pa.binary(), offsets, values)


def _slices_of(column: pa.Array | pa.ChunkedArray) -> list[memoryview]:
    """The blobs of an Arrow binary array, as slices of its data buffer (no copy)."""
    parts: list[memoryview] = []
    for chunk in column.chunks if isinstance(column, pa.ChunkedArray) else [column]:
        _, offsets, values = chunk.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32)[chunk.offset : chunk.offset + len(chunk) + 1]
        view = memoryview(values) if values is not None else memoryview(b"")
        parts.extend(view[a:b] for a, b in zip(ends[:-1].tolist(), ends[1:].tolist(), strict=True))
    return parts


class BlobColumn:
    """A whole table's binary column: blobs copied into large numpy segments (few page faults:
    numpy asks the kernel for huge pages for large arrays), each segment becoming one Arrow
    array over its buffer at the end. Segments double from :data:`FIRST_SEGMENT` to
    :data:`LAST_SEGMENT`; memory a segment does not use is never touched."""

    def __init__(self) -> None:
        self._segments: list[np.ndarray] = []
        self._used = 0  # bytes used of the last segment
        self._ends: list[list[int]] = []  # per segment: each blob's end in it
        self.rows = 0

    def _room(self, size: int) -> None:
        if self._segments and self._used + size <= len(self._segments[-1]):
            return
        last = len(self._segments[-1]) if self._segments else FIRST_SEGMENT // 2
        capacity = max(min(2 * last, LAST_SEGMENT), size)
        self._segments.append(np.empty(capacity, dtype=np.uint8))
        self._ends.append([])
        self._used = 0

    def _add(self, part: Any) -> None:
        size = len(part)
        self._room(size)
        self._segments[-1][self._used : self._used + size] = np.frombuffer(part, dtype=np.uint8)
        self._used += size
        self._ends[-1].append(self._used)

    def append(self, column: Blobs | pa.Array | pa.ChunkedArray) -> None:
        parts = column.parts if isinstance(column, Blobs) else _slices_of(column)
        for part in parts:
            self._add(part)
        self.rows += len(parts)

    def _spans(self) -> list[tuple[int, int, int]]:
        """(segment, start, end) of every blob, in row order."""
        out = []
        for number, ends in enumerate(self._ends):
            starts = [0, *ends[:-1]]
            out.extend((number, a, b) for a, b in zip(starts, ends, strict=True))
        return out

    def compact(self, start: int, keep: np.ndarray) -> None:
        """Remove the rows from ``start`` on whose ``keep`` is false (a restart erased them):
        the rows after ``start`` are copied out and the kept ones appended again."""
        spans = self._spans()[start:]
        tail = [bytes(self._segments[n][a:b]) for n, a, b in spans]
        if spans:  # back to where row ``start`` began
            number, first, _ = spans[0]
            before = start - sum(len(ends) for ends in self._ends[:number])
            del self._segments[number + 1 :], self._ends[number + 1 :]
            del self._ends[number][before:]
            self._used = first
        self.rows = start
        for part, kept in zip(tail, keep.tolist(), strict=True):
            if kept:
                self._add(part)
                self.rows += 1

    def finish(self) -> pa.Array | pa.ChunkedArray:
        chunks = []
        for segment, ends in zip(self._segments, self._ends, strict=True):
            if ends:
                offsets = np.array([0, *ends], dtype=np.int64)
                chunks.append(arrow.variable(pa.binary(), offsets, segment[: ends[-1]]))
        self._segments, self._ends, self._used = [], [], 0
        if len(chunks) == 1:
            return chunks[0]
        return pa.chunked_array(chunks, type=pa.binary())
