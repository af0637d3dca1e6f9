"""Where exported rows go: Parquet, CSV or JSON-lines files, written as batches arrive.

Every sink takes Arrow record batches of one schema and writes them incrementally, so an
export holds one batch in memory, not the table. Parquet rows are gathered into row groups
of about :data:`ROW_GROUP_ROWS`; CSV cells that hold lists are JSON text; JSON lines follow
``dump --format jsonl``: non-finite floats are the strings ``"NaN"``, ``"Infinity"``,
``"-Infinity"``. :class:`PartitionedSink` writes a Hive-partitioned Parquet dataset
(``run=<percent-encoded run>/part-0.parquet``) that DuckDB, Polars, pyarrow.dataset and Spark
read as one table. Sinks write local files (an export's staging area,
:mod:`tbtool.ops.export_output`) or stdout.
"""

from __future__ import annotations

import json
import math
import os
import urllib.parse
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

FORMATS = ("parquet", "csv", "jsonl")
EXTENSIONS = {"parquet": ".parquet", "csv": ".csv", "jsonl": ".jsonl"}
ROW_GROUP_ROWS = 1 << 18
_BUFFER_BYTES = 8 << 20


def format_of_path(path: str) -> str | None:
    """The format a file name asks for (``.parquet``/``.pq``, ``.csv``, ``.jsonl``/``.ndjson``)."""
    suffix = os.path.splitext(path)[1].lower()
    return {
        ".parquet": "parquet",
        ".pq": "parquet",
        ".csv": "csv",
        ".jsonl": "jsonl",
        ".ndjson": "jsonl",
        ".json": "jsonl",
    }.get(suffix)


class Sink:
    """Base: counts rows; ``close()`` finishes the output."""

    def __init__(self) -> None:
        self.rows = 0

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        self._write(batch)

    def _write(self, batch: pa.RecordBatch) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class ParquetSink(Sink):
    """One Parquet file; batches are gathered into row groups."""

    def __init__(self, path: str, schema: pa.Schema) -> None:
        super().__init__()
        self.path = path
        self.schema = schema
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pending_bytes = 0

    def _write(self, batch: pa.RecordBatch) -> None:
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self._pending_bytes += batch.nbytes
        if self._pending_rows >= ROW_GROUP_ROWS or self._pending_bytes >= _BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._writer is None:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            strings = [f.name for f in self.schema if pa.types.is_string(f.type)]
            # Dictionary pages for the string columns only: numbers rarely repeat, and
            # trying to dictionary-encode them costs more than the writing itself.
            self._writer = pq.ParquetWriter(self.path, self.schema, use_dictionary=strings)
        if self._pending:
            table = pa.Table.from_batches(self._pending, schema=self.schema)
            self._writer.write_table(table, row_group_size=ROW_GROUP_ROWS)
        self._pending, self._pending_rows, self._pending_bytes = [], 0, 0

    def close(self) -> None:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _json_cell(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")
    if isinstance(x, list):
        return [_json_cell(y) for y in x]
    if isinstance(x, bytes):
        return x.decode("utf-8", "replace")
    return x


def _lists_as_json(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV cannot hold lists: list cells become JSON text, binary cells are left out."""
    arrays, fields = [], []
    for array, f in zip(batch.columns, batch.schema, strict=True):
        if pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type):
            continue
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type):
            cells = [
                None if x is None else json.dumps(_json_cell(x), allow_nan=False)
                for x in array.to_pylist()
            ]
            arrays.append(pa.array(cells, type=pa.string()))
            fields.append(pa.field(f.name, pa.string()))
        else:
            arrays.append(array)
            fields.append(f)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class CsvSink(Sink):
    """CSV with a header row; ``nan``, ``inf``, ``-inf`` for non-finite numbers."""

    def __init__(self, stream: BinaryIO, *, owns: bool = True) -> None:
        super().__init__()
        self._stream = stream
        self._owns = owns
        self._writer: pacsv.CSVWriter | None = None

    def _write(self, batch: pa.RecordBatch) -> None:
        batch = _lists_as_json(batch)
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._stream, batch.schema)
        self._writer.write_batch(batch)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()  # pyarrow flushes; it does not close a Python stream
        if self._owns:
            self._stream.close()
        else:
            self._stream.flush()


class JsonlSink(Sink):
    """One JSON object per row."""

    def __init__(self, stream: BinaryIO, *, owns: bool = True) -> None:
        super().__init__()
        self._stream = stream
        self._owns = owns

    def _write(self, batch: pa.RecordBatch) -> None:
        names = [
            f.name
            for f in batch.schema
            if not (pa.types.is_binary(f.type) or pa.types.is_large_binary(f.type))
        ]
        if not batch.num_rows or not names:
            return
        template = (
            "{"
            + ", ".join(
                json.dumps(name, ensure_ascii=False).replace("%", "%%") + ": %s" for name in names
            )
            + "}"
        )
        columns = [_json_texts(batch.column(name)) for name in names]
        lines = [template % row for row in zip(*columns, strict=True)]
        self._stream.write(("\n".join(lines) + "\n").encode("utf-8"))

    def close(self) -> None:
        if self._owns:
            self._stream.close()
        else:
            self._stream.flush()


_NON_FINITE = {"nan": '"NaN"', "inf": '"Infinity"', "-inf": '"-Infinity"'}


def _json_texts(array: pa.Array) -> list[str]:
    """Each cell of a column as JSON text (non-finite floats as strings, nulls as null)."""
    t = array.type
    if pa.types.is_floating(t):
        values = array.to_numpy(zero_copy_only=False).astype(np.float64)
        texts = list(map(float.__repr__, values.tolist()))
        if not np.isfinite(values).all():
            texts = [_NON_FINITE.get(x, x) for x in texts]
    elif pa.types.is_integer(t) or pa.types.is_boolean(t):
        texts = [json.dumps(v) for v in array.to_pylist()] if array.null_count else None
        if texts is None:
            values = array.to_numpy(zero_copy_only=False)
            texts = (
                list(map(str, values.tolist()))
                if pa.types.is_integer(t)
                else ["true" if v else "false" for v in values.tolist()]
            )
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        encoded = pc.dictionary_encode(array)
        words = np.array(
            [json.dumps(w, ensure_ascii=False) for w in encoded.dictionary.to_pylist()] + ["null"],
            dtype=object,
        )
        indices = encoded.indices.fill_null(len(words) - 1).to_numpy(zero_copy_only=False)
        return words[indices].tolist()
    else:
        return [
            "null" if v is None else json.dumps(_json_cell(v), ensure_ascii=False)
            for v in array.to_pylist()
        ]
    if array.null_count:
        valid = array.is_valid().to_numpy(zero_copy_only=False)
        texts = [x if ok else "null" for x, ok in zip(texts, valid, strict=True)]
    return texts


def file_sink(path: str, fmt: str, schema: pa.Schema) -> Sink:
    """A sink writing one file (``-`` for stdout, CSV/JSON lines only)."""
    if fmt == "parquet":
        return ParquetSink(path, schema)
    if path == "-":
        import sys

        stream = sys.stdout.buffer
        return CsvSink(stream, owns=False) if fmt == "csv" else JsonlSink(stream, owns=False)
    f = open(path, "wb")  # noqa: SIM115 - closed by the sink
    return CsvSink(f) if fmt == "csv" else JsonlSink(f)


def partition_dir(run: str) -> str:
    """``run=<value>``, the value percent-encoded (``/`` too) as Hive-style readers expect."""
    return "run=" + urllib.parse.quote(run, safe="")


class PartitionedSink(Sink):
    """A Hive-partitioned Parquet dataset by run: ``DIR/run=<run>/part-0.parquet``. The
    ``run`` column lives in the directory names, not in the files; ``DIR/_common_metadata``
    holds the full schema (``run`` included), so even a dataset without rows has one."""

    #: The schema file's name (Hive/Spark's; dataset readers skip names starting with ``_``).
    METADATA = "_common_metadata"

    def __init__(self, directory: str, schema: pa.Schema) -> None:
        super().__init__()
        self.directory = directory
        self.full_schema = schema
        self.schema = schema.remove(schema.get_field_index("run"))
        self._sinks: dict[str, ParquetSink] = {}
        self._parts: dict[str, int] = {}
        self.paths: list[str] = []

    def _write(self, batch: pa.RecordBatch) -> None:
        runs = batch.column("run")
        values = pc.unique(runs).to_pylist()
        if len(values) == 1:  # runs arrive one after the other: finish the others
            for run in [r for r in self._sinks if r != values[0]]:
                self._sinks.pop(run).close()
        for run in values:
            part = batch if len(values) == 1 else batch.filter(pc.equal(runs, run))
            sink = self._sinks.get(run)
            if sink is None:
                number = self._parts[run] = self._parts.get(run, -1) + 1
                path = os.path.join(self.directory, partition_dir(run), f"part-{number}.parquet")
                sink = self._sinks[run] = ParquetSink(path, self.schema)
                self.paths.append(path)
            sink.write(part.drop_columns(["run"]))

    def close(self) -> None:
        for sink in self._sinks.values():
            sink.close()
        self._sinks.clear()
        os.makedirs(self.directory, exist_ok=True)
        pq.write_metadata(self.full_schema, os.path.join(self.directory, self.METADATA))
