"""Scalars: the constant bytes around the number, precomputed once per tag.

A scalar event is ``wall_time | step | summary{value{tag, number}}`` and everything from the
summary key to the number depends only on the tag (format.md §1.3, §3.4), so the writer
keeps these prefixes per tag and an ``add_scalar`` call packs just the time, the step and
the number.

Encodings (torch's, format.md §3.4): default ``simple_value`` (float32); ``new_style`` a
DT_FLOAT tensor ``float_val=[v]`` without shape and plugin ``scalars``;
``double_precision`` makes that DT_DOUBLE ``double_val=[v]``.
"""

from __future__ import annotations

import functools
import math
import struct
from typing import Any

from tbtool.writer.convert import to_float
from tbtool.writer.wire import EVENT_SUMMARY, SUMMARY_VALUE, event_bytes, length_delimited, varint

_pack_f32 = struct.Struct("<f").pack
_pack_f64 = struct.Struct("<d").pack

#: SummaryMetadata{plugin_data{plugin_name: "scalars"}} as Summary.Value field 9.
_SCALARS_METADATA = b"\x4a" + varint(11) + b"\x0a\x09" + length_delimited(1, b"scalars")
# TensorProto{dtype: DT_FLOAT, float_val: [v]} = 08 01 | 2a 04 <f32>;
# DT_DOUBLE: 08 02 | 32 08 <f64>.
_FLOAT_TENSOR_HEAD = b"\x42\x08\x08\x01\x2a\x04"
_DOUBLE_TENSOR_HEAD = b"\x42\x0c\x08\x02\x32\x08"


def float32_bytes(value: float) -> bytes:
    """Little-endian float32; finite values beyond float32's range become ±inf, as protobuf
    stores them."""
    try:
        return _pack_f32(value)
    except OverflowError:
        return _pack_f32(math.copysign(math.inf, value))


def _summary_field(tag: bytes, value_head: bytes, number_size: int, tail: bytes) -> bytes:
    """Bytes from ``Event.summary``'s key up to where the number goes."""
    value = b"\x0a" + varint(len(tag)) + tag + value_head  # Summary.Value.tag
    value_len = len(value) + number_size + len(tail)
    summary = SUMMARY_VALUE + varint(value_len)
    return EVENT_SUMMARY + varint(len(summary) + value_len) + summary + value


def simple_value_prefix(tag: bytes) -> bytes:
    """Prefix of a ``simple_value`` scalar; the event ends with the float32 after it."""
    return _summary_field(tag, b"\x15", 4, b"")


def tensor_scalar_parts(tag: bytes, double_precision: bool) -> tuple[bytes, bytes]:
    """(prefix, suffix) around the number of a ``new_style`` scalar (float32 or float64)."""
    if double_precision:
        return _summary_field(tag, _DOUBLE_TENSOR_HEAD, 8, _SCALARS_METADATA), _SCALARS_METADATA
    return _summary_field(tag, _FLOAT_TENSOR_HEAD, 4, _SCALARS_METADATA), _SCALARS_METADATA


def scalar_number_bytes(value: float, new_style: bool, double_precision: bool) -> bytes:
    """The number as the chosen encoding stores it."""
    if new_style and double_precision:
        return _pack_f64(value)
    return float32_bytes(value)


def scalar_float32(value: Any) -> float:
    """A real scalar as a Python float (ints too large for a float become ±inf)."""
    if type(value) is int:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return to_float(value, "scalar_value")


class ScalarPackers:
    """Everything an ``add_scalar`` of one tag needs: the constant prefix and ``struct``
    packers that lay out ``wall_time | step | prefix | float32`` in one call, for no step,
    steps of one-, two- and three-byte varints (below 2**21); ``any_step`` does the rest."""

    __slots__ = ("no_step", "prefix", "step1", "step2", "step3")

    def __init__(self, tag: bytes) -> None:
        self.prefix = simple_value_prefix(tag)
        n = len(self.prefix)
        self.no_step = _packer(f"<Bd{n}sf")
        self.step1 = _packer(f"<BdBB{n}sf")
        self.step2 = _packer(f"<BdBBB{n}sf")
        self.step3 = _packer(f"<BdBBBB{n}sf")

    def any_step(self, wall_time: float, step: int | None, value: float) -> bytes:
        return event_bytes(wall_time, step, b"") + self.prefix + float32_bytes(value)


@functools.cache
def _packer(fmt: str) -> Any:
    return struct.Struct(fmt).pack
