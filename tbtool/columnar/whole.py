"""Tables read whole, built in place a batch at a time: what ``read_*`` returns.

A read into a DataFrame holds every row at the end anyway; what it must not do is hold them
twice, or touch fresh memory twice (page faults on new memory cost more than the copies on
some machines). So the rows of each batch are copied at once into the table's final columns
and the batch is let go: numbers into columns grown in place (:class:`GrowingColumn`), names
(``run``, ``tag``) as the smallest integer codes into a list of names, and any other column
(lists, bytes, strings) as Arrow chunks. Rows a restart met later erases are removed in
place (:meth:`TableBuilder.compact`). At the end the columns are handed over as they are:
a DataFrame takes the numbers writable and as its own, and Arrow wraps them, no copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tbtool.columnar import arrow, names, native
from tbtool.columnar.blobs import BlobColumn

#: Bytes of a full segment: above the largest threshold from which glibc's malloc maps
#: memory of its own (32 MiB on 64-bit), so a released segment goes back to the system.
SEGMENT_BYTES = (32 << 20) + (64 << 10)
#: Rows of a column's first segment; each next one is twice as large, up to SEGMENT_BYTES.
FIRST_SEGMENT_ROWS = 1 << 15
_NUMPY_TYPES = (pa.int32(), pa.int64(), pa.float64())
_CODE_TYPES = (np.int8, np.int16, np.int32)
_REMAP_ROWS = 1 << 20


class GrowingColumn:
    """A numpy column rows are appended to. With the C extension one block grown in place
    (``_columnar.Growing``: realloc, which moves large blocks without copying them, and
    never touches memory not yet written); without it, segments (:class:`_Segments`)."""

    def __init__(self, dtype: np.dtype | type) -> None:
        self.dtype = np.dtype(dtype)
        ext = native.module()
        self._block = ext.Growing() if ext is not None else None
        self._segments = _Segments(self.dtype) if ext is None else None

    @property
    def rows(self) -> int:
        if self._block is not None:
            return len(self._block) // self.dtype.itemsize
        return self._segments.rows

    def append(self, values: np.ndarray) -> None:
        if self._block is not None:
            self._block.append(np.ascontiguousarray(values, dtype=self.dtype))
        else:
            self._segments.write(self._segments.rows, np.asarray(values, dtype=self.dtype))

    def fill(self, value: int, n: int) -> None:
        """Append ``n`` rows of ``value``."""
        if self._block is not None:
            self._block.fill(np.array(value, dtype=self.dtype).tobytes(), n)
        else:
            self._segments.fill(value, n)

    def compact(self, start: int, keep: np.ndarray) -> None:
        """Remove the rows from ``start`` on whose ``keep`` (one per row from ``start``) is
        false, in place."""
        if self._block is not None:
            size = self.dtype.itemsize
            self._block.compact(start * size, size, np.ascontiguousarray(keep, dtype=bool))
        else:
            self._segments.compact(start, keep)

    def read(self, start: int, stop: int) -> np.ndarray:
        """A copy of rows ``start:stop``."""
        if self._block is not None:
            return np.frombuffer(self._block, dtype=self.dtype)[start:stop].copy()
        return self._segments.read(start, stop)

    def finish(self) -> np.ndarray:
        """The column as one writable array (without a copy where the C extension holds it;
        segments are joined, each released once copied)."""
        if self._block is not None:
            block, self._block = self._block, None
            block.shrink()
            return np.frombuffer(block, dtype=self.dtype)
        return self._segments.finish()

    def astype(self, dtype: np.dtype | type) -> GrowingColumn:
        """The same rows in a wider integer type (names outgrowing their codes: rare)."""
        wider = GrowingColumn(dtype)
        if self.rows:
            wider.append(self.read(0, self.rows))
        return wider


class _Segments:
    """Rows in segments that double in size up to :data:`SEGMENT_BYTES` (the pure-Python
    :class:`GrowingColumn`): what it holds is never copied as it grows."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self._segments: list[np.ndarray] = []
        self._starts: list[int] = []  # the row each segment starts at
        self.rows = 0

    def _segment_for_more(self) -> np.ndarray:
        """The last segment, a new one if the last is full."""
        if self._segments:
            last = self._segments[-1]
            if self.rows - self._starts[-1] < len(last):
                return last
            size = min(2 * len(last), max(1, SEGMENT_BYTES // self.dtype.itemsize))
        else:
            size = FIRST_SEGMENT_ROWS
        segment = np.empty(size, dtype=self.dtype)
        self._segments.append(segment)
        self._starts.append(self.rows)
        return segment

    def fill(self, value: int, n: int) -> None:
        while n:
            segment = self._segment_for_more()
            at = self.rows - self._starts[-1]
            k = min(n, len(segment) - at)
            segment[at : at + k] = value
            self.rows += k
            n -= k

    def write(self, row: int, values: np.ndarray) -> None:
        """Write ``values`` from ``row`` on (at most the current end: rows move forward)."""
        done = 0
        total = len(values)
        while done < total:
            if row == self.rows:
                segment = self._segment_for_more()
                i = len(self._segments) - 1
            else:
                i = _segment_of(self._starts, row)
                segment = self._segments[i]
            at = row - self._starts[i]
            k = min(total - done, len(segment) - at)
            segment[at : at + k] = values[done : done + k]
            done += k
            row += k
            self.rows = max(self.rows, row)

    def truncate(self, rows: int) -> None:
        while self._segments and self._starts[-1] >= rows and self._starts[-1] > 0:
            self._segments.pop()
            self._starts.pop()
        self.rows = min(self.rows, rows)

    def compact(self, start: int, keep: np.ndarray) -> None:
        write = start
        for i in range(_segment_of(self._starts, start), len(self._segments)):
            lo = max(start, self._starts[i])
            hi = min(self.rows, self._starts[i] + len(self._segments[i]))
            if hi <= lo:
                continue
            part = self._segments[i][lo - self._starts[i] : hi - self._starts[i]]
            kept = part[keep[lo - start : hi - start]]
            self.write(write, kept)
            write += len(kept)
        self.truncate(write)

    def read(self, start: int, stop: int) -> np.ndarray:
        out = np.empty(stop - start, dtype=self.dtype)
        for segment, first in zip(self._segments, self._starts, strict=True):
            lo, hi = max(start, first), min(stop, first + len(segment), self.rows)
            if lo < hi:
                out[lo - start : hi - start] = segment[lo - first : hi - first]
        return out

    def finish(self) -> np.ndarray:
        if not self._segments:
            return np.zeros(0, dtype=self.dtype)
        if len(self._segments) == 1:
            return self._segments.pop()[: self.rows]
        out = np.empty(self.rows, dtype=self.dtype)
        for i, first in enumerate(self._starts):
            segment, self._segments[i] = self._segments[i], None  # type: ignore[call-overload]
            n = min(len(segment), self.rows - first)
            out[first : first + n] = segment[:n]
            del segment
        self._segments, self._starts = [], []
        return out


def _segment_of(starts: list[int], row: int) -> int:
    return max(0, int(np.searchsorted(starts, row, side="right")) - 1)


class NameColumn:
    """Names (``run``, ``tag``) as codes into a list of every name seen, in the smallest
    signed integer type that holds them all."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._ids: dict[str, int] = {}
        self._used: set[int] = set()  # codes some row holds (until rows are compacted away)
        self._compacted = False
        self.codes = GrowingColumn(np.int8)

    @property
    def rows(self) -> int:
        return self.codes.rows

    def _lut(self, names_: list[str]) -> np.ndarray:
        for name in names_:
            if name not in self._ids:
                self._ids[name] = len(self.names)
                self.names.append(name)
        while len(self.names) > np.iinfo(self.codes.dtype).max + 1:
            wider = _CODE_TYPES[_CODE_TYPES.index(self.codes.dtype.type) + 1]
            self.codes = self.codes.astype(wider)
        return np.array([self._ids[n] for n in names_], dtype=self.codes.dtype)

    def append(self, column: pa.Array | pa.ChunkedArray) -> None:
        if isinstance(column, pa.ChunkedArray):
            for chunk in column.chunks:
                self.append(chunk)
            return
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        lut = self._lut(column.dictionary.to_pylist())
        if len(lut) == 1:
            self.codes.fill(int(lut[0]), len(column))
            if len(column):
                self._used.add(int(lut[0]))
        elif len(column):
            indices = column.indices.to_numpy(zero_copy_only=False)
            present = np.bincount(indices, minlength=len(lut)) > 0
            self._used.update(lut[present].tolist())
            self.codes.append(lut[indices])

    def finish(self) -> tuple[np.ndarray, list[str]]:
        """(codes, names): the names the rows use, sorted, and the rows' codes into them."""
        codes = self.codes.finish()
        used = self._used
        if len(used) > 1 and self._compacted:  # rows removed may have taken names with them
            used = set()
            for at in range(0, len(codes), _REMAP_ROWS):  # numpy's temporaries stay small
                part = np.bincount(codes[at : at + _REMAP_ROWS], minlength=len(self.names))
                used.update(np.flatnonzero(part).tolist())
        kept = sorted(self.names[i] for i in used) if len(codes) else []
        position = {name: i for i, name in enumerate(kept)}
        lut = np.array([position.get(n, 0) for n in self.names] or [0], dtype=codes.dtype)
        if len(codes) and not np.array_equal(lut, np.arange(len(lut))):
            for at in range(0, len(codes), _REMAP_ROWS):  # numpy's index temporaries stay small
                part = codes[at : at + _REMAP_ROWS]
                np.take(lut, part, out=part, mode="clip")
        smallest = next(t for t in _CODE_TYPES if len(kept) <= np.iinfo(t).max + 1)
        return codes.astype(smallest, copy=False), kept


class ChunkColumn:
    """Any other column: Arrow chunks, one per batch."""

    def __init__(self, type_: pa.DataType) -> None:
        self.type = type_
        self.chunks: list[pa.Array] = []
        self.rows = 0

    def append(self, column: pa.Array | pa.ChunkedArray | list) -> None:
        if isinstance(column, list):
            column = pa.array(column, type=self.type)
        chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        for chunk in chunks:
            if len(chunk):
                self.chunks.append(chunk)
                self.rows += len(chunk)

    def compact(self, start: int, keep: np.ndarray) -> None:
        row = 0
        for i, chunk in enumerate(self.chunks):
            lo, hi = row, row + len(chunk)
            row = hi
            if hi > start:
                a = max(lo, start)
                mask = np.ones(len(chunk), dtype=bool)
                mask[a - lo :] = keep[a - start : hi - start]
                self.chunks[i] = _select(chunk, mask)
        self.chunks = [c for c in self.chunks if len(c)]
        self.rows = sum(len(c) for c in self.chunks)

    def finish(self) -> pa.Array | pa.ChunkedArray:
        """The chunks as they are (joining them would copy bytes and lists once more)."""
        chunks, self.chunks = self.chunks, []
        if len(chunks) == 1:
            return chunks[0]
        return pa.chunked_array(chunks, type=self.type)


def _select(chunk: pa.Array, mask: np.ndarray) -> pa.Array:
    return chunk.filter(arrow.booleans(mask))


@dataclass
class Names:
    """A finished name column: ``codes`` into the sorted ``names``."""

    codes: np.ndarray
    names: list[str]

    def arrow(self, categorical: bool) -> pa.Array:
        array = names.from_ids(self.codes, self.names)
        return array if categorical else array.cast(pa.string())


@dataclass
class WholeTable:
    """A table read whole: numbers without nulls as numpy arrays (a DataFrame takes them as
    they are, writable, and Arrow wraps them without a copy), names as :class:`Names`,
    the other columns as Arrow arrays (binary ones over the one block their blobs were
    copied into, :class:`~tbtool.columnar.blobs.BlobColumn`; the rest chunked as
    they were read)."""

    schema: pa.Schema
    columns: list[np.ndarray | Names | pa.Array | pa.ChunkedArray]
    categorical: bool = True

    @classmethod
    def of(cls, table: pa.Table) -> WholeTable:
        return cls(
            table.schema, [table.column(i).combine_chunks() for i in range(len(table.schema))]
        )

    def arrow_schema(self) -> pa.Schema:
        return self.schema if self.categorical else names.plain_schema(self.schema)

    def table(self) -> pa.Table:
        schema = self.arrow_schema()
        arrays = []
        for c, f in zip(self.columns, schema, strict=True):
            if isinstance(c, np.ndarray):
                c = pa.array(c, type=f.type)
            elif isinstance(c, Names):
                c = c.arrow(self.categorical)
            arrays.append(c)
        return pa.Table.from_arrays(arrays, schema=schema)


class TableBuilder:
    """The columns of one table kind, appended to a record batch at a time."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.columns: list[GrowingColumn | NameColumn | ChunkColumn | BlobColumn] = []
        for f in schema:
            if f.name in names.NAME_COLUMNS:
                self.columns.append(NameColumn())
            elif f.type in _NUMPY_TYPES:
                self.columns.append(GrowingColumn(f.type.to_pandas_dtype()))
            elif f.type == pa.binary():
                self.columns.append(BlobColumn())
            else:
                self.columns.append(ChunkColumn(f.type))
        self.rows = 0

    def append(self, batch: pa.RecordBatch | pa.Table | dict[str, Any]) -> None:
        """Append rows: a batch, or columns by name (Arrow arrays, or blobs)."""
        rows = None
        for i, (f, column) in enumerate(zip(self.schema, self.columns, strict=True)):
            data = batch[f.name] if isinstance(batch, dict) else batch.column(i)
            rows = len(data)
            if isinstance(column, GrowingColumn) and data.null_count:
                self.columns[i] = column = self._to_chunks(column, f.type)
            if isinstance(column, GrowingColumn):
                chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
                for chunk in chunks:
                    column.append(chunk.to_numpy(zero_copy_only=True))
            else:
                column.append(data)
        self.rows += rows or 0

    @staticmethod
    def _to_chunks(column: GrowingColumn, type_: pa.DataType) -> ChunkColumn:
        """A number column that meets a null keeps Arrow chunks from then on."""
        chunks = ChunkColumn(type_)
        if column.rows:
            chunks.append(pa.array(column.finish(), type=type_))
        return chunks

    def compact(self, start: int, keep: np.ndarray) -> None:
        """Remove the rows from ``start`` on whose ``keep`` is false."""
        if keep.all():
            return
        for column in self.columns:
            if isinstance(column, NameColumn):
                column.codes.compact(start, keep)
                column._compacted = True
            else:
                column.compact(start, keep)
        self.rows = start + int(keep.sum())

    def steps(self, start: int) -> np.ndarray:
        """The ``step`` of the rows from ``start`` on."""
        column = self.columns[self.schema.get_field_index("step")]
        assert isinstance(column, GrowingColumn)  # steps are never null
        return column.read(start, column.rows)

    def finish(self, categorical: bool = True) -> WholeTable:
        out: list[np.ndarray | Names | pa.Array] = []
        for column in self.columns:
            if isinstance(column, NameColumn):
                out.append(Names(*column.finish()))
            else:
                out.append(column.finish())
        self.columns = []
        return WholeTable(self.schema, out, categorical)
