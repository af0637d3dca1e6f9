"""How much memory decoding one summary value may take: a bound from the value's own size.

Most of what a record decodes to is a small multiple of its bytes. A few rules expand: a
tensor's typed field shorter than its shape is padded to the shape (format.md §2.5), so a
40-byte tensor may declare 10^12 elements; an image's header declares its pixel count. Every
decoder that expands asks :func:`value_limit` first and refuses beyond it, rather than let a
size or count read from a file drive an allocation (contract.md, data safety): a value may
decode to at most :data:`DEFAULT_MAX_VALUE_BYTES` (or ``TBTOOL_MAX_VALUE_BYTES``, or
:data:`MAX_VALUE_BYTES` set by a program) plus :data:`BYTES_PER_BYTE` per byte of the value
as serialized in the file. Raise the first for legitimate large padded tensors.
"""

from __future__ import annotations

import os

from tbtool.byte_size import parse_size

#: The environment variable that sets the per-value allowance (``64MiB``, ``1GB``, bytes).
ENV_VAR = "TBTOOL_MAX_VALUE_BYTES"
#: The allowance when neither a program nor the environment sets one.
DEFAULT_MAX_VALUE_BYTES = 16 << 20
#: ...plus this much per serialized byte: zlib's densest ratio is about 1032:1, so a PNG or
#: GIF (and a padded tensor as dense) of any size stays within it.
BYTES_PER_BYTE = 1024
#: A program may set this (bytes); ``None`` reads :data:`ENV_VAR`, else the default.
MAX_VALUE_BYTES: int | None = None


def max_value_bytes() -> int:
    """The allowance in force: :data:`MAX_VALUE_BYTES`, else the environment, else the
    default (:class:`~tbtool.errors.UsageError` for a variable that is not a size)."""
    if MAX_VALUE_BYTES is not None:
        return MAX_VALUE_BYTES
    text = os.environ.get(ENV_VAR, "").strip()
    return parse_size(text, ENV_VAR) if text else DEFAULT_MAX_VALUE_BYTES


def value_limit(serialized_bytes: int) -> int:
    """The most bytes a value of ``serialized_bytes`` in the file may decode to."""
    return max_value_bytes() + BYTES_PER_BYTE * serialized_bytes


def too_large(what: str, needed: int, serialized_bytes: int) -> str | None:
    """Why ``what`` may not take ``needed`` bytes (a message naming the limit and how to
    raise it), or ``None`` when it may."""
    limit = value_limit(serialized_bytes)
    if needed <= limit:
        return None
    return (
        f"{what} would take {needed} bytes, more than the {limit} allowed for its "
        f"{serialized_bytes} bytes (raise {ENV_VAR} to read it)"
    )
