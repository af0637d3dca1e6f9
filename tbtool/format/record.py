"""TFRecord framing: reading and writing the length-prefixed, CRC-guarded records of an event file.

Layout of one record (format.md §1.1)::

    uint64 length | uint32 masked_crc(length bytes) | payload | uint32 masked_crc(payload)

The reader knows nothing of protobuf. It distinguishes the situations a user must tell apart
(format.md §1.4): a clean end of data, a truncated final record (a file still being written:
a *state*, not an error, and reading resumes there when the file grows), a length-CRC mismatch
(fatal for the rest of the file), an absurd length (fatal), and a data-CRC mismatch
(record-local: reported as an error after the reader has moved past the record, so the caller
may note it and continue).
"""

from __future__ import annotations

import enum
import io
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from tbtool import storage
from tbtool.errors import DataCrcMismatch, LengthCrcMismatch, RecordError, RecordTooLarge
from tbtool.format.masked_crc import masked_crc32c

HEADER_SIZE = 12  # length (8) + length CRC (4)
FOOTER_SIZE = 4  # payload CRC
RECORD_OVERHEAD = HEADER_SIZE + FOOTER_SIZE
#: No writer produces a record this large: protobuf messages are limited to 2 GiB.
DEFAULT_MAX_RECORD_LENGTH = 1 << 31
DEFAULT_CHUNK_SIZE = 1 << 20

_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
_HEADER = struct.Struct("<QI")

RecordSource = str | os.PathLike | BinaryIO | bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class Record:
    """One record's payload with where it was found."""

    payload: bytes
    offset: int  # byte offset of the record's first header byte
    index: int  # 0-based record number in the file

    @property
    def end(self) -> int:
        """Byte offset just past this record."""
        return self.offset + RECORD_OVERHEAD + len(self.payload)


class ReadState(enum.Enum):
    """Where a reader stands after :meth:`RecordReader.read` returned ``None`` (or before)."""

    READING = "reading"  # no end of data seen yet
    CLEAN_EOF = "clean_eof"  # the data ended exactly at a record boundary
    TRUNCATED = "truncated"  # the data ends inside a record: maybe still being written
    FAILED = "failed"  # a fatal framing error; nothing further can be read


def source_name(source: RecordSource) -> str:
    """A printable name for a record source (used in every error message)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)  # type: ignore[return-value]
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


class RecordReader:
    """Reads records from a path, an open binary file or a bytes-like object.

    ``read()`` returns the next :class:`Record`, or ``None`` when no complete record is
    available; :attr:`state` then says whether the data ended cleanly or inside a record.
    Calling ``read()`` again later picks up bytes appended to a growing file, starting again
    from the first byte of the incomplete record. ``offset``/``index`` let a new reader
    start where an old one stopped.
    """

    def __init__(
        self,
        source: RecordSource,
        *,
        name: str | None = None,
        offset: int = 0,
        index: int = 0,
        max_record_length: int = DEFAULT_MAX_RECORD_LENGTH,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        check_data_crc: bool = True,
    ) -> None:
        if max_record_length < 0:
            raise ValueError(f"max_record_length must be >= 0, not {max_record_length}")
        self.name = name if name is not None else source_name(source)
        self.max_record_length = max_record_length
        self.check_data_crc = check_data_crc
        self._chunk_size = chunk_size
        self._owns_stream = False
        self._stream: BinaryIO | None
        if isinstance(source, (bytes, bytearray, memoryview)):
            self._stream = None
            self._buf = bytes(source[offset:])
        else:
            if isinstance(source, (str, os.PathLike)):
                self._stream = storage.open_input(source)  # closed in close()
                self._owns_stream = True
            else:
                self._stream = source
            if offset:
                self._stream.seek(offset)
            self._buf = b""
        self._pos = 0  # index in _buf of the next unread byte
        self._buf_offset = offset  # file offset of _buf[0]
        self._index = index
        self._failure: RecordError | None = None
        self.state = ReadState.READING

    # -- position ---------------------------------------------------------------------------
    @property
    def offset(self) -> int:
        """Byte offset of the next record to be read."""
        return self._buf_offset + self._pos

    @property
    def index(self) -> int:
        """Index of the next record to be read."""
        return self._index

    @property
    def pending_bytes(self) -> int:
        """Bytes of an incomplete record read so far (non-zero only when truncated; after a
        failure nothing is pending, whatever is buffered)."""
        if self.state is ReadState.FAILED:
            return 0
        return len(self._buf) - self._pos

    # -- reading ----------------------------------------------------------------------------
    def _fill(self, needed: int) -> bool:
        """Make at least ``needed`` unread bytes available if the source has them."""
        available = len(self._buf) - self._pos
        if available >= needed:
            return True
        if self._stream is None:
            return False
        parts = [self._buf[self._pos :]]
        while available < needed:
            data = self._stream.read(max(self._chunk_size, needed - available))
            if not data:
                break
            parts.append(data)
            available += len(data)
        self._buf_offset += self._pos
        self._buf = b"".join(parts)
        self._pos = 0
        return available >= needed

    def _fail(self, error: RecordError) -> None:
        self._failure = error
        self.state = ReadState.FAILED
        raise error

    def read(self) -> Record | None:
        """The next record, or ``None`` if the available data holds no complete record.

        Raises :class:`LengthCrcMismatch` or :class:`RecordTooLarge` (fatal: every later call
        raises the same error) and :class:`DataCrcMismatch` (record-local: the reader has
        moved past the record, so the next call continues with the following one).
        """
        if self._failure is not None:
            raise self._failure
        buf, pos = self._buf, self._pos
        if len(buf) - pos < HEADER_SIZE:
            if not self._fill(HEADER_SIZE):
                return self._end_of_data()
            buf, pos = self._buf, self._pos
        length, length_crc = _HEADER.unpack_from(buf, pos)
        computed = masked_crc32c(buf[pos : pos + 8])
        if computed != length_crc:
            self._fail(
                LengthCrcMismatch(
                    f"length CRC mismatch (stored 0x{length_crc:08x}, computed "
                    f"0x{computed:08x}); the rest of the file cannot be read",
                    file=self.name,
                    offset=self.offset,
                    index=self._index,
                )
            )
        if length > self.max_record_length:
            self._fail(
                RecordTooLarge(
                    f"record length {length} exceeds the limit of {self.max_record_length} bytes",
                    file=self.name,
                    offset=self.offset,
                    index=self._index,
                )
            )
        end = pos + RECORD_OVERHEAD + length
        if len(buf) < end:
            if not self._fill(RECORD_OVERHEAD + length):
                return self._end_of_data()
            buf, pos = self._buf, self._pos
            end = pos + RECORD_OVERHEAD + length
        start = pos + HEADER_SIZE
        payload = buf[start : start + length]
        record = Record(payload, self._buf_offset + pos, self._index)
        self._pos = end
        self._index += 1
        self.state = ReadState.READING
        if self.check_data_crc:
            (data_crc,) = _CRC.unpack_from(buf, start + length)
            computed = masked_crc32c(payload)
            if computed != data_crc:
                raise DataCrcMismatch(
                    f"data CRC mismatch (stored 0x{data_crc:08x}, computed 0x{computed:08x})",
                    payload=payload,
                    file=self.name,
                    offset=record.offset,
                    index=record.index,
                )
        return record

    def _end_of_data(self) -> None:
        self.state = ReadState.TRUNCATED if self.pending_bytes else ReadState.CLEAN_EOF
        return None

    def __iter__(self) -> Iterator[Record]:
        """Records until the available data runs out (errors propagate as from ``read``)."""
        while (record := self.read()) is not None:
            yield record

    def close(self) -> None:
        if self._owns_stream and self._stream is not None:
            self._stream.close()
        self._stream = None

    def __enter__(self) -> RecordReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(source: RecordSource, **options: object) -> Iterator[Record]:
    """Iterate the complete records of ``source``; a truncated tail ends iteration quietly."""
    with RecordReader(source, **options) as reader:  # type: ignore[arg-type]
        yield from reader


# -- writing -----------------------------------------------------------------------------------
def encode_record(payload: bytes | bytearray | memoryview) -> bytes:
    """One framed record (header, payload, footer) as bytes."""
    length = _LENGTH.pack(len(payload))
    return b"".join(
        (
            length,
            _CRC.pack(masked_crc32c(length)),
            payload,
            _CRC.pack(masked_crc32c(payload)),
        )
    )


class RecordWriter:
    """Writes framed records to a path (created or appended) or an open binary file.

    Each record goes out in a single ``write()`` call so a concurrent reader sees either
    nothing of it or a prefix (a truncated tail, which readers treat as "still being written").
    """

    def __init__(self, sink: str | os.PathLike | BinaryIO, *, append: bool = False) -> None:
        self._owns = isinstance(sink, (str, os.PathLike))
        if self._owns:
            self.name = os.fspath(sink)
            self._file: BinaryIO = open(sink, "ab" if append else "wb")  # noqa: SIM115
        else:
            self.name = source_name(sink)  # type: ignore[arg-type]
            self._file = sink  # type: ignore[assignment]
        try:
            self.offset = self._file.tell()
        except (OSError, io.UnsupportedOperation):
            self.offset = 0

    def write(self, payload: bytes | bytearray | memoryview) -> int:
        """Append one record; returns its byte offset."""
        offset = self.offset
        data = encode_record(payload)
        self._file.write(data)
        self.offset += len(data)
        return offset

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        if self._owns:
            self._file.close()
        else:
            self._file.flush()

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
