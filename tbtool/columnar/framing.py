"""Batch framing in pure Python: the complete records of a buffer in one tight loop.

The same checks, in the same order, as :class:`tbtool.format.record.RecordReader` (format.md §1):
the length CRC as soon as a header is there, then the length limit, then whether the whole
record is there, then the payload CRC. The loop stops at the first record it cannot hand
over and says why, so the caller can let the per-record reader produce the exact error (and,
with ``skip_corrupt``, carry on after it).
"""

from __future__ import annotations

import struct

import crc32c as _crc32c

from tbtool.columnar import native
from tbtool.format.masked_crc import MASK_DELTA

STOP_END, STOP_LENGTH_CRC, STOP_TOO_LARGE, STOP_DATA_CRC, STOP_PYTHON = 0, 1, 2, 3, 4
STOP_REASONS = {
    STOP_LENGTH_CRC: "length CRC mismatch",
    STOP_TOO_LARGE: "absurd record length",
    STOP_DATA_CRC: "data CRC mismatch",
}

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
_U32 = 0xFFFFFFFF


def frame_records(
    buf: bytes, pos: int, max_record_length: int
) -> tuple[list[int], list[int], int, int]:
    """``(offsets, lengths, end, stop)``: records from ``pos`` on; ``end`` is where the first
    record not handed over starts, ``stop`` why it was not (``STOP_*``)."""
    offsets: list[int] = []
    lengths: list[int] = []
    header = _HEADER.unpack_from
    footer = _CRC.unpack_from
    crc = _crc32c.crc32c
    n = len(buf)
    mv = memoryview(buf)
    stop = STOP_END
    while pos + 12 <= n:
        length, length_crc = header(buf, pos)
        c = crc(mv[pos : pos + 8])
        if ((((c >> 15) | (c << 17)) & _U32) + MASK_DELTA) & _U32 != length_crc:
            stop = STOP_LENGTH_CRC
            break
        if length > max_record_length:
            stop = STOP_TOO_LARGE
            break
        end = pos + 16 + length
        if end > n:
            break
        c = crc(mv[pos + 12 : end - 4])
        if ((((c >> 15) | (c << 17)) & _U32) + MASK_DELTA) & _U32 != footer(buf, end - 4)[0]:
            stop = STOP_DATA_CRC
            break
        offsets.append(pos)
        lengths.append(length)
        pos = end
    return offsets, lengths, pos, stop


def count_records(buf: bytes, pos: int, max_record_length: int) -> tuple[int, int, int]:
    """``(records, end, stop)``: how many complete records from ``pos`` frame with both CRCs
    valid, without decoding them (the C extension's ``frame`` when built): verification
    of a rewritten file at I/O speed."""
    ext = native.module()
    if ext is not None:
        end, stop, records = ext.frame(buf, pos, max_record_length)
        return records, end, stop
    offsets, _, end, stop = frame_records(buf, pos, max_record_length)
    return len(offsets), end, stop
