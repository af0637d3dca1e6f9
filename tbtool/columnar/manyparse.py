"""Parse many ``Event`` payloads with one protobuf call (the pure-Python batch decoder).

The payloads are concatenated as the elements of a wrapper message ``{repeated Event
events = 1}`` (each one prefixed by the field's tag byte 0x0a and its length as a varint),
which the protobuf runtime (upb, in C) parses in a single call: far fewer Python-level calls
than one ``Event.FromString`` per record. If the batch does not parse, the caller decodes
its records one by one to find (and report) the bad one.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

from tbtool.proto import event_pb2

_WRAPPER = "tbtool_columnar.Events"


@cache
def _events_class() -> Any:
    pool = descriptor_pool.Default()
    try:
        descriptor = pool.FindMessageTypeByName(_WRAPPER)
    except KeyError:
        proto = descriptor_pb2.FileDescriptorProto(
            name="tbtool_columnar/events.proto",
            package="tbtool_columnar",
            dependency=[event_pb2.DESCRIPTOR.name],
            syntax="proto3",
        )
        message = proto.message_type.add(name="Events")
        message.field.add(
            name="events",
            number=1,
            label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
            type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
            type_name="." + event_pb2.Event.DESCRIPTOR.full_name,
        )
        pool.Add(proto)
        descriptor = pool.FindMessageTypeByName(_WRAPPER)
    return message_factory.GetMessageClass(descriptor)


@cache
def _prefix(length: int) -> bytes:
    out = bytearray(b"\x0a")
    while length >= 0x80:
        out.append((length & 0x7F) | 0x80)
        length >>= 7
    out.append(length)
    return bytes(out)


def parse_events(buf: Any, offsets: Sequence[int], lengths: Sequence[int]) -> Any | None:
    """The Events whose payloads are ``buf[offset + 12 : offset + 12 + length]``, or ``None``
    if any of them does not parse."""
    mv = memoryview(buf)
    parts: list[Any] = []
    prefix = _prefix
    for offset, length in zip(offsets, lengths, strict=True):
        parts.append(prefix(length) if length < 0x4000 else _prefix.__wrapped__(length))
        parts.append(mv[offset + 12 : offset + 12 + length])
    try:
        return _events_class().FromString(b"".join(parts)).events
    except DecodeError:
        return None
