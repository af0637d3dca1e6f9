"""Scalar records in bulk: whole blocks of framed events built with numpy, no protobuf (and
no Python loop) per event. This is what lets ``tbtool synth --size`` write hundreds of MB/s.

A scalar event is ``0x09 <wall_time> [0x10 <step varint>] <prefix> <float32> <suffix>``:
prefix and suffix depend only on the tag and the writer style (``synth_styles``), so for a
block of steps whose varints have the same width every record of a tag has the same length
and differs from the others in 8 + width + 4 bytes only. A block is one uint8 matrix, a row
per step and the records of all tags side by side (so its bytes are the events in step
order), filled a column at a time.

Checksums: CRC-32C is affine over GF(2) for messages of one length, so the CRC of a payload
is the CRC of its template (zeros where the wall time, step and value go) XOR one table entry
per varying byte: ``crc(m) = crc(t) ^ T[0][m[p0]] ^ T[1][m[p1]] ^ ...`` with
``T[j][v] = crc(v at p_j, zeros elsewhere) ^ crc(zeros)``. Tables cost 8 CRCs per varying
byte (entries combine by XOR too) and are cached per layout; masking (format.md §1.2) is
vectorised. The length field and its CRC are the same for every record of a tag.
"""

from __future__ import annotations

import functools
import struct

import crc32c
import numpy as np

from tbtool.format.masked_crc import masked_crc32c

_MASK_DELTA = np.uint32(0xA282EAD8)


def varint_width(step: int) -> int:
    """Bytes of ``Event.step``'s varint (0 for step 0, which proto3 leaves out)."""
    return 0 if step == 0 else (int(step).bit_length() + 6) // 7


def width_bands(first: int, stop: int) -> list[tuple[int, int]]:
    """Split steps ``[first, stop)`` into ranges of one varint width."""
    bands = []
    start = first
    while start < stop:
        width = varint_width(start)
        end = min(stop, 1 if width == 0 else 1 << (7 * width))
        bands.append((start, end))
        start = end
    return bands


@functools.cache
def _table8(distance: int) -> np.ndarray:
    """``T[v]``: what byte ``v`` adds to a payload's CRC when ``distance`` bytes follow it.

    (The linear part of a CRC depends only on the bits after a byte, so tables are shared by
    every layout.) Entries combine by XOR: 8 CRCs give all 256."""
    zero_crc = crc32c.crc32c(bytes(distance + 1))
    values = np.arange(256)
    table = np.zeros(256, dtype=np.uint32)
    for bit in range(8):
        contribution = crc32c.crc32c(bytes((1 << bit,)) + bytes(distance)) ^ zero_crc
        table ^= np.where(values >> bit & 1, contribution, 0).astype(np.uint32)
    return table


@functools.cache
def _table16(distance: int) -> np.ndarray:
    """The same for a little-endian byte pair whose second byte has ``distance`` bytes after
    it: index ``low | high << 8``."""
    return (_table8(distance)[:, None] ^ _table8(distance + 1)[None, :]).reshape(-1)


class _Layout:
    """The constant parts of one tag's records at one step-varint width."""

    def __init__(self, prefix: bytes, suffix: bytes, width: int) -> None:
        step_key = b"\x10" + bytes(width) if width else b""
        template = b"\x09" + bytes(8) + step_key + prefix + bytes(4) + suffix
        n = self.payload_length = len(template)
        self.size = 16 + n  # framed
        self.step_at = 10  # first varint byte in the payload
        self.value_at = 9 + len(step_key) + len(prefix)
        # Tables for the pairs of wall-time bytes (payload 1-8), value bytes and step bytes.
        self.wall_tables = [_table16(n - 1 - (2 + 2 * k)) for k in range(4)]
        self.value_tables = [_table16(n - 1 - (self.value_at + 1 + 2 * k)) for k in range(2)]
        self.step_tables = [_table8(n - 1 - (self.step_at + i)) for i in range(width)]
        self.template_crc = np.uint32(crc32c.crc32c(template))
        length = struct.pack("<Q", n)
        self.record = length + struct.pack("<I", masked_crc32c(length)) + template + bytes(4)


class BulkScalars:
    """Builds framed scalar events for a fixed list of tags, a block of steps at a time."""

    def __init__(self, parts: list[tuple[bytes, bytes]]) -> None:
        self.parts = parts  # (prefix, suffix) per tag
        self._layouts: dict[tuple[int, int], _Layout] = {}
        # Template rows repeated, per (tags, width), and the buffer blocks are built in:
        # reusing memory avoids page faults, which cost more than the computing.
        self._templates: dict[tuple[tuple[int, ...], int], np.ndarray] = {}
        self._work = np.empty(0, dtype=np.uint8)

    def layout(self, tag: int, width: int) -> _Layout:
        key = (tag, width)
        layout = self._layouts.get(key)
        if layout is None:
            layout = self._layouts[key] = _Layout(*self.parts[tag], width)
        return layout

    def step_size(self, width: int, tags: list[int]) -> int:
        """Framed bytes of one step's records of ``tags`` at this varint width."""
        return sum(self.layout(t, width).size for t in tags)

    def block(
        self, steps: np.ndarray, walls: np.ndarray, values: np.ndarray, tags: list[int]
    ) -> np.ndarray:
        """Records of ``tags`` at ``steps`` (one varint width), step-major, as a C-contiguous
        uint8 matrix to write as is before the next call (its memory is reused). ``walls``
        and ``values`` are ``(len(tags), n)``."""
        n = len(steps)
        width = varint_width(int(steps[0]))
        layouts = [self.layout(t, width) for t in tags]
        matrix = self._fresh(tuple(tags), width, layouts, n)
        varint = _varint_columns(steps, width)
        step_crc = np.zeros(n, dtype=np.uint32)
        column = 0
        for row, lay in enumerate(layouts):
            rec = matrix[:, column : column + lay.size]
            column += lay.size
            payload = rec[:, 12 : 12 + lay.payload_length]
            wall = np.ascontiguousarray(walls[row], dtype="<f8")
            value = np.ascontiguousarray(values[row], dtype="<f4")
            payload[:, 1:9] = wall.view(np.uint8).reshape(n, 8)
            payload[:, lay.value_at : lay.value_at + 4] = value.view(np.uint8).reshape(n, 4)
            crc = np.full(n, lay.template_crc, dtype=np.uint32)
            for table, chunk in zip(lay.wall_tables, wall.view("<u2").reshape(n, 4).T, strict=True):
                crc ^= table[chunk]
            for table, chunk in zip(
                lay.value_tables, value.view("<u2").reshape(n, 2).T, strict=True
            ):
                crc ^= table[chunk]
            if width:
                step_crc[:] = 0
                for i, (table, byte) in enumerate(zip(lay.step_tables, varint, strict=True)):
                    payload[:, lay.step_at + i] = byte
                    step_crc ^= table[byte]
                crc ^= step_crc
            masked = ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + _MASK_DELTA
            rec[:, -4:] = masked.astype("<u4").view(np.uint8).reshape(n, 4)
        return matrix

    def _fresh(self, key: tuple[int, ...], width: int, layouts: list[_Layout], n: int):
        """An ``(n, row)`` matrix holding the records' constant bytes."""
        template = self._templates.get((key, width))
        if template is None or len(template) < n:
            row = bytearray(b"".join(lay.record for lay in layouts))
            template = np.frombuffer(row * max(n, 1024), dtype=np.uint8).reshape(-1, len(row))
            self._templates[(key, width)] = template
        size = n * template.shape[1]
        if len(self._work) < size:
            self._work = np.empty(size, dtype=np.uint8)
        matrix = self._work[:size].reshape(n, template.shape[1])
        np.copyto(matrix, template[:n])
        return matrix


def _varint_columns(steps: np.ndarray, width: int) -> list[np.ndarray]:
    """The varint bytes of steps that all take ``width`` bytes, one array per byte."""
    s = steps.astype(np.uint64)
    columns = []
    for i in range(width):
        byte = (s >> np.uint64(7 * i)) & np.uint64(0x7F)
        if i < width - 1:
            byte |= np.uint64(0x80)
        columns.append(byte.astype(np.uint8))
    return columns
