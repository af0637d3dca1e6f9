"""Arrow arrays straight from numpy buffers and short lists of strings.

``pa.array`` imports pandas the first time it is called (to check whether its argument is a
pandas object): 30 MB of memory that a streamed export or ``ls`` has no use for. The batch
path builds its arrays here instead, from buffers, which is also never a copy for numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

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


def strings(values: Sequence[str]) -> pa.Array:
    """A few strings (names, format names) as an Arrow string array."""
    encoded = [v.encode() for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    data = pa.py_buffer(b"".join(encoded))
    return pa.Array.from_buffers(pa.string(), len(encoded), [None, pa.py_buffer(offsets), data])
