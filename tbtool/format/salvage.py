"""Salvage: every readable record of a damaged file, resynchronising after lost boundaries.

A normal reader must stop at a length-CRC failure: the next record's position is unknown.
When rewriting damaged runs (``merge``), losing the rest of the file is worse than searching:
from the damaged header onward, the first position where a record's length CRC *and* data
CRC both hold is taken as the next record (two 32-bit checksums agreeing by chance is a
one-in-2^64 event). Every skipped byte range is reported.
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from tbtool import storage
from tbtool.errors import DataCrcMismatch, LengthCrcMismatch, RecordTooLarge
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import (
    DEFAULT_MAX_RECORD_LENGTH,
    HEADER_SIZE,
    RECORD_OVERHEAD,
    ReadState,
    Record,
    RecordReader,
)

_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")


@dataclass(frozen=True, slots=True)
class SkippedRange:
    """Bytes ``[start, end)`` of ``file`` that held no readable record, and why."""

    file: str
    start: int
    end: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: skipped bytes {self.start}..{self.end} ({self.reason})"


def next_record_start(data: bytes | mmap.mmap, start: int) -> int | None:
    """The first offset >= ``start`` where a complete record with both CRCs valid begins."""
    size = len(data)
    pos = start
    while pos + RECORD_OVERHEAD <= size:
        length, length_crc = _HEADER.unpack_from(data, pos)
        if (
            length <= DEFAULT_MAX_RECORD_LENGTH
            and pos + RECORD_OVERHEAD + length <= size
            and masked_crc32c(data[pos : pos + 8]) == length_crc
        ):
            body = pos + HEADER_SIZE
            (data_crc,) = _CRC.unpack_from(data, body + length)
            if masked_crc32c(data[body : body + length]) == data_crc:
                return pos
        pos += 1
    return None


def salvage_records(path: str | os.PathLike, skipped: list[SkippedRange]) -> Iterator[Record]:
    """Every intact record of ``path`` in order; damaged stretches are appended to
    ``skipped``. A truncated tail is reported as skipped too (the file is being rewritten)."""
    name = os.fspath(path)
    size = storage.size(name)
    offset, index = 0, 0
    while True:
        with RecordReader(name, offset=offset, index=index) as reader:
            try:
                while True:
                    try:
                        record = reader.read()
                    except DataCrcMismatch as e:
                        skipped.append(
                            SkippedRange(
                                name,
                                e.offset,
                                e.offset + RECORD_OVERHEAD + len(e.payload),
                                "data CRC mismatch",
                            )
                        )
                        continue
                    if record is None:
                        break
                    yield record
            except (LengthCrcMismatch, RecordTooLarge) as e:
                damaged, index = e.offset, (e.index or 0) + 1
                reason = (
                    "length CRC mismatch"
                    if isinstance(e, LengthCrcMismatch)
                    else ("absurd record length")
                )
            else:
                if reader.state is ReadState.TRUNCATED:
                    skipped.append(
                        SkippedRange(name, reader.offset, size, "truncated final record")
                    )
                return
        local = storage.local_path(name)
        if local is None:  # a remote object: search its bytes in memory
            found = next_record_start(storage.read_bytes(name), damaged + 1)
        else:
            with open(local, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                found = next_record_start(data, damaged + 1)
        skipped.append(SkippedRange(name, damaged, size if found is None else found, reason))
        if found is None:
            return
        offset = found
