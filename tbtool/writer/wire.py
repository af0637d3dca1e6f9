"""Protobuf wire format by hand, for the few messages the writer builds on its hot paths.

An ``Event`` holding one summary is a handful of tagged fields (format.md §2.2), so building
its bytes with ``struct`` costs a fraction of creating and serializing protobuf objects.
Fields are emitted in field-number order, as protobuf's own serializers do, so the bytes
are the ones ``Event.SerializeToString()`` would give (tests check this).

Wire types: 0 varint, 1 fixed 64-bit, 2 length-delimited, 5 fixed 32-bit.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_U64 = (1 << 64) - 1
_pack_double = struct.Struct("<d").pack

#: Field keys (``field_number << 3 | wire_type``) of ``Event``.
EVENT_WALL_TIME = b"\x09"  # 1, fixed64 double
EVENT_STEP = b"\x10"  # 2, varint int64
EVENT_FILE_VERSION = b"\x1a"  # 3, bytes
EVENT_GRAPH_DEF = b"\x22"  # 4, bytes
EVENT_SUMMARY = b"\x2a"  # 5, message
EVENT_SESSION_LOG = b"\x3a"  # 7, message
EVENT_TAGGED_RUN_METADATA = b"\x42"  # 8, message
EVENT_SOURCE_METADATA = b"\x52"  # 10, message
#: ``Summary.value`` (field 1, repeated message).
SUMMARY_VALUE = b"\x0a"

_SMALL_VARINTS = tuple(bytes((i,)) for i in range(128))


def varint(n: int) -> bytes:
    """Base-128 varint of an int64/uint64 (negative numbers as 10-byte two's complement)."""
    if 0 <= n < 128:
        return _SMALL_VARINTS[n]
    n &= _U64
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def key(field_number: int, wire_type: int) -> bytes:
    """The varint that starts a field."""
    return varint(field_number << 3 | wire_type)


def length_delimited(field_number: int, data: bytes) -> bytes:
    """A bytes/string/message field."""
    return varint(field_number << 3 | 2) + varint(len(data)) + data


def message_field(prefix: bytes, data: bytes) -> bytes:
    """A length-delimited field whose key bytes are ``prefix``."""
    return prefix + varint(len(data)) + data


def summary_bytes(values: Iterable[bytes]) -> bytes:
    """A serialized ``Summary`` from serialized ``Summary.Value`` messages."""
    return b"".join(SUMMARY_VALUE + varint(len(v)) + v for v in values)


def step_field(step: int | None) -> bytes:
    """``Event.step`` (absent for ``None`` and for 0, proto3's default)."""
    if not step:
        return b""
    return EVENT_STEP + varint(step)


def event_bytes(wall_time: float, step: int | None, what: bytes) -> bytes:
    """A serialized ``Event``: wall time, step, then ``what`` (one already keyed field such as
    the summary, a graph or a session log, or b"")."""
    return EVENT_WALL_TIME + _pack_double(wall_time) + step_field(step) + what


def summary_event(wall_time: float, step: int | None, values: Iterable[bytes]) -> bytes:
    """A serialized ``Event`` carrying one ``Summary`` of the given values."""
    return event_bytes(wall_time, step, message_field(EVENT_SUMMARY, summary_bytes(values)))
