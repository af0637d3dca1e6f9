"""Run and tag names as Arrow dictionary arrays: made from ids, merged, made plain on request.

A read of millions of values names only a few runs and tags, so tables keep those columns
dictionary-encoded (``dictionary<int32, string>``, a pandas ``category``): each row costs an
index, not a string, and no step of the read materializes the strings. Batches carry the
dictionary of the run they come from; :func:`merge` joins the chunks of a column into one
array whose dictionary is the sorted set of names the rows use (as pandas'
``astype("category")`` orders them), and :func:`plain` turns the columns back into strings
for a caller or a file that wants them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tbtool.columnar import arrow

NAME = pa.dictionary(pa.int32(), pa.string())
#: The columns that hold names.
NAME_COLUMNS = ("run", "tag")


def encoded(schema: pa.Schema) -> pa.Schema:
    """``schema`` with its string name columns dictionary-encoded."""
    for i, f in enumerate(schema):
        if f.name in NAME_COLUMNS and f.type == pa.string():
            schema = schema.set(i, pa.field(f.name, NAME, f.nullable, f.metadata))
    return schema


def plain_schema(schema: pa.Schema) -> pa.Schema:
    """``schema`` with dictionary-encoded string columns as plain strings."""
    for i, f in enumerate(schema):
        if pa.types.is_dictionary(f.type):
            schema = schema.set(i, pa.field(f.name, f.type.value_type, f.nullable, f.metadata))
    return schema


def from_ids(ids: np.ndarray, names: Sequence[str]) -> pa.DictionaryArray:
    """Rows naming ``names[ids[i]]`` (ids are shared with numpy, not copied, when int32)."""
    return pa.DictionaryArray.from_arrays(arrow.numbers(ids, pa.int32()), arrow.strings(names))


def repeated(name: str, n: int) -> pa.DictionaryArray:
    """``n`` rows naming ``name``."""
    return from_ids(np.zeros(n, dtype=np.int32), [name])


def encode(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with its plain name columns dictionary-encoded (for rows built from
    Python values, a few at a time)."""
    arrays = list(batch.columns)
    for i, f in enumerate(batch.schema):
        if f.name in NAME_COLUMNS and f.type == pa.string():
            arrays[i] = pc.dictionary_encode(arrays[i]).cast(NAME)
    return pa.RecordBatch.from_arrays(arrays, schema=encoded(batch.schema))


def merge(chunks: Sequence[pa.Array]) -> pa.DictionaryArray:
    """One dictionary array of the rows of ``chunks`` (dictionary-encoded or plain strings,
    without nulls), its dictionary the sorted names the rows use."""
    parts: list[tuple[np.ndarray, list[str]]] = []
    used: set[str] = set()
    for chunk in chunks:
        if isinstance(chunk, pa.ChunkedArray):
            chunk = pa.concat_arrays(chunk.chunks) if chunk.num_chunks else pa.array([], NAME)
        if not pa.types.is_dictionary(chunk.type):
            chunk = pc.dictionary_encode(chunk)
        indices = arrow.to_numpy(chunk.indices)
        names = chunk.dictionary.to_pylist()
        if len(names) > 1:
            present = np.bincount(indices, minlength=len(names)) > 0
            used.update(n for n, p in zip(names, present.tolist(), strict=True) if p)
        elif len(indices):
            used.update(names)
        parts.append((indices, names))
    dictionary = sorted(used)
    position = {name: i for i, name in enumerate(dictionary)}
    out = np.empty(sum(len(indices) for indices, _ in parts), dtype=np.int32)
    at = 0
    for indices, names in parts:
        n = len(indices)
        if len(names) == 1:
            out[at : at + n] = position.get(names[0], 0)
        elif n:
            lut = np.array([position.get(name, -1) for name in names], dtype=np.int32)
            np.take(lut, indices, out=out[at : at + n])
        at += n
    return from_ids(out, dictionary)


def plain(data: pa.Table | pa.RecordBatch) -> pa.Table | pa.RecordBatch:
    """``data`` with every dictionary-encoded string column as plain strings."""
    target = plain_schema(data.schema)
    return data if target == data.schema else data.cast(target)
