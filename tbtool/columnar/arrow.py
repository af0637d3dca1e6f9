"""Arrow arrays straight from numpy buffers and short lists of strings.

``pa.array`` imports pandas the first time it is called (to check whether its argument is a
pandas object): 30 MB of memory that a streamed export or ``ls`` has no use for. The batch
path builds its arrays here instead, from buffers, which is also never a copy for numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

_TYPES = {
    np.dtype(np.int32): pa.int32(),
    np.dtype(np.int64): pa.int64(),
    np.dtype(np.float64): pa.float64(),
}


def numbers(values: np.ndarray, type_: pa.DataType | None = None) -> pa.Array:
    """``values`` (int32, int64 or float64; converted to ``type_`` first if it differs) as
    an Arrow array sharing their memory."""
    type_ = type_ or _TYPES[values.dtype]
    values = np.ascontiguousarray(values, dtype=type_.to_pandas_dtype())
    return pa.Array.from_buffers(type_, len(values), [None, pa.py_buffer(values)])


def booleans(values: np.ndarray) -> pa.Array:
    """A numpy bool array (a filter's mask) as an Arrow boolean array."""
    bits = np.packbits(np.asarray(values, dtype=bool), bitorder="little")
    return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(bits)])


def variable(
    type_: pa.DataType, offsets: np.ndarray, values: Any, validity: pa.Buffer | None = None,
    null_count: int = 0,
) -> pa.Array:  # fmt: skip
    """A string or binary array over ``values`` (any buffer, not copied) cut at ``offsets``
    (``len + 1`` of them, below 2 GiB)."""
    buffers = [validity, pa.py_buffer(np.asarray(offsets, dtype=np.int32)), pa.py_buffer(values)]
    return pa.Array.from_buffers(type_, len(offsets) - 1, buffers, null_count)


def strings(values: Sequence[str]) -> pa.Array:
    """A few strings (names, format names) as an Arrow string array."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return variable(pa.string(), offsets, b"".join(encoded))


def _validity(values: Sequence[object]) -> tuple[pa.Buffer | None, np.ndarray]:
    """The validity bitmap of ``values`` (``None`` is null; no bitmap without nulls) and the
    null mask."""
    null = np.fromiter((v is None for v in values), dtype=bool, count=len(values))
    if not null.any():
        return None, null
    return pa.py_buffer(np.packbits(~null, bitorder="little")), null


def from_python(values: Sequence[object], type_: pa.DataType) -> pa.Array:
    """Python values (``None`` for null) as an Arrow array of ``type_``: numbers, strings,
    binary and lists of those, built from buffers (``pa.array`` would import pandas)."""
    validity, null = _validity(values)
    n = len(values)
    if pa.types.is_boolean(type_):
        bits = np.fromiter((bool(v) for v in values), dtype=bool, count=n)
        data = pa.py_buffer(np.packbits(bits, bitorder="little"))
        return pa.Array.from_buffers(type_, n, [validity, data], int(null.sum()))
    if pa.types.is_integer(type_) or pa.types.is_floating(type_):
        dtype = np.dtype(type_.to_pandas_dtype())
        data = np.fromiter((0 if v is None else v for v in values), dtype=dtype, count=n)
        return pa.Array.from_buffers(type_, n, [validity, pa.py_buffer(data)], int(null.sum()))
    if pa.types.is_list(type_):
        lengths = np.fromiter((0 if v is None else len(v) for v in values), np.int64, count=n)
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        flat = [x for v in values if v is not None for x in v]
        child = from_python(flat, type_.value_type)
        buffers = [validity, pa.py_buffer(offsets)]
        return pa.Array.from_buffers(type_, n, buffers, int(null.sum()), children=[child])
    if type_ in (pa.string(), pa.binary()):
        encoded = [b"" if v is None else v.encode() if isinstance(v, str) else v for v in values]
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        if offsets[-1] < 2**31:
            return variable(type_, offsets, b"".join(encoded), validity, int(null.sum()))
    return pa.array(list(values), type=type_)


def to_numpy(array: pa.Array) -> np.ndarray:
    """A numeric array without nulls as numpy, sharing its memory (``to_numpy`` may import
    pandas)."""
    if array.null_count:
        raise ValueError("to_numpy: the array holds nulls")
    dtype = np.dtype(array.type.to_pandas_dtype())
    data = np.frombuffer(array.buffers()[1], dtype=dtype)
    return data[array.offset : array.offset + len(array)]
