"""How much memory decoding one summary value may take: a bound from the value's own size.

Most of what a record decodes to is a small multiple of its bytes. A few rules expand: a
tensor's typed field shorter than its shape is padded to the shape (format.md §2.5), so a
40-byte tensor may declare 10^12 elements; an image's header declares its pixel count.
Every decoder that expands asks :func:`value_limit` first and refuses beyond it, rather than
let a size or count read from a file drive an allocation (contract.md, data safety).

The bound is proportional, with no floor by default: a constant allowance per value would
let a file of many tiny values (a 4 MiB chunk holds 200,000) add up to any amount. A padded
tensor may take :data:`BYTES_PER_BYTE` bytes per byte it takes in the file, no more than
ordinary decoding expands (a one-byte varint becomes an int64, then a Python float); decoded
pixels :data:`PIXEL_BYTES_PER_BYTE` (deflate's densest ratio, so no real PNG is refused).
For legitimate large padded tensors, ``TBTOOL_MAX_VALUE_BYTES`` (or :data:`MAX_VALUE_BYTES`,
set by a program) lets any value decode to that many bytes whatever its size.
"""

from __future__ import annotations

import os

from tbtool.vocabulary.byte_size import parse_size

#: The environment variable setting what any value may decode to (``64MiB``, ``1GB``, bytes).
ENV_VAR = "TBTOOL_MAX_VALUE_BYTES"
#: ...when neither a program nor the environment sets it: only the proportional bound.
DEFAULT_MAX_VALUE_BYTES = 0
#: A padded tensor may take this many bytes per byte it takes in the file.
BYTES_PER_BYTE = 64
#: Decoded pixels may take this many bytes per byte of the encoded image.
PIXEL_BYTES_PER_BYTE = 1032
#: A program may set this (bytes); ``None`` reads :data:`ENV_VAR`, else the default.
MAX_VALUE_BYTES: int | None = None


def max_value_bytes() -> int:
    """What any value may decode to, whatever its size: :data:`MAX_VALUE_BYTES`, else the
    environment, else the default (:class:`~tbtool.errors.UsageError` for a variable that
    is not a size)."""
    if MAX_VALUE_BYTES is not None:
        return MAX_VALUE_BYTES
    text = os.environ.get(ENV_VAR, "").strip()
    return parse_size(text, ENV_VAR) if text else DEFAULT_MAX_VALUE_BYTES


def value_limit(serialized_bytes: int, per_byte: int = BYTES_PER_BYTE) -> int:
    """The most bytes a value taking ``serialized_bytes`` in the file may decode to."""
    return max(max_value_bytes(), per_byte * serialized_bytes)


def too_large(
    what: str, needed: int, serialized_bytes: int, per_byte: int = BYTES_PER_BYTE
) -> str | None:
    """Why ``what`` may not take ``needed`` bytes (a message naming the limit and how to
    raise it), or ``None`` when it may."""
    limit = value_limit(serialized_bytes, per_byte)
    if needed <= limit:
        return None
    return (
        f"{what} would take {needed} bytes, more than the {limit} allowed for its "
        f"{serialized_bytes} bytes (raise {ENV_VAR} to read it)"
    )
