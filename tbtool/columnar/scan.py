"""Reading one event file in large chunks into value indexes (the batch path's file reader).

The file is read a chunk at a time; the records of a chunk are framed, CRC-checked and
decoded in bulk, by the C extension when it is there and by the pure-Python decoder
otherwise. Whatever the bulk loop cannot take (a damaged record, an event kind it does not
decode) is handed to the per-record code of :mod:`tbtool.format.record` /
:mod:`tbtool.runs.events`, so errors, skipped records and the final read state are exactly
those of :class:`~tbtool.runs.events.EventFileReader`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import numpy as np

from tbtool import storage
from tbtool.columnar import native
from tbtool.columnar.framing import STOP_END, STOP_PYTHON, frame_records
from tbtool.columnar.index import ChunkIndex, concat_indexes
from tbtool.columnar.index_builder import IndexBuilder
from tbtool.columnar.manyparse import parse_events
from tbtool.errors import DataCrcMismatch, EventDecodeError, RecordError, TbtoolError
from tbtool.format.record import DEFAULT_MAX_RECORD_LENGTH, HEADER_SIZE, ReadState, RecordReader
from tbtool.runs.events import decode_event

DEFAULT_CHUNK_SIZE = 4 << 20
#: Records decoded per protobuf call by the pure-Python decoder.
PARSE_BATCH = 2048


class FileScan:
    """Iterating yields the :class:`ChunkIndex` es of one file, in order.

    Afterwards ``events``, ``state``, ``end_offset`` and ``pending_bytes`` say how reading
    ended (as :class:`~tbtool.reading.reader.FileStatus` does) and ``problems`` lists the records
    skipped with ``skip_corrupt``. Without ``skip_corrupt`` the first problem is raised.
    ``use_native``: ``None`` uses the C extension if it is built, ``False`` never does.
    ``max_record_length``: larger records are damage (:class:`~tbtool.errors.RecordTooLarge`).
    """

    def __init__(
        self,
        path: str,
        *,
        skip_corrupt: bool = False,
        use_native: bool | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_record_length: int = DEFAULT_MAX_RECORD_LENGTH,
    ) -> None:
        if max_record_length < 0 or chunk_size <= 0:
            # A negative limit would pass the C scan as a huge unsigned one (no size check).
            raise ValueError(
                f"max_record_length must be >= 0 and chunk_size > 0, "
                f"not {max_record_length} and {chunk_size}"
            )
        self.path = os.fspath(path)
        self.skip_corrupt = skip_corrupt
        self.native = native.module() if use_native is not False else None
        if use_native and self.native is None:
            raise RuntimeError("the tbtool.columnar._columnar extension is not built")
        self.chunk_size = chunk_size
        self.max_record_length = max_record_length
        self.problems: list[TbtoolError] = []
        self.events = 0
        self.state = ReadState.READING
        self.end_offset = 0
        self.pending_bytes = 0
        self.bytes_read = 0

    # -- the bulk loop ------------------------------------------------------------------------
    def __iter__(self) -> Iterator[ChunkIndex]:
        with storage.open_input(self.path) as f:
            buf: Any = b""
            base = pos = index = 0  # file offset of buf[0]; next record in buf; its number
            eof = False
            while True:
                if not eof:
                    need = self.chunk_size
                    if len(buf) - pos >= HEADER_SIZE:  # a large record: read all of it
                        length = int.from_bytes(buf[pos : pos + 8], "little")
                        if length <= self.max_record_length:
                            need = max(need, length + 16 - (len(buf) - pos))
                    data, got = _read_after(f, buf[pos:], need)
                    self.bytes_read += got
                    if got:
                        buf = data
                        base += pos
                        pos = 0
                    else:
                        eof = True
                parts: list[ChunkIndex] = []
                pos, index, stop = self._bulk(buf, base, pos, index, parts)
                if parts:
                    chunk = concat_indexes(parts)
                    self.events += chunk.records
                    yield chunk
                if stop == STOP_END:
                    if eof:
                        self._finish(base + pos, len(buf) - pos)
                        return
                    continue
                # A damaged record: the per-record reader reports it (or skips it).
                chunk, offset, index, done = self._per_record(base + pos, index)
                if chunk is not None:
                    self.events += chunk.records
                    yield chunk
                if done:
                    return
                f.seek(offset)
                buf, base, pos, eof = b"", offset, 0, False

    def _bulk(
        self, buf: bytes, base: int, pos: int, index: int, parts: list[ChunkIndex]
    ) -> tuple[int, int, int]:
        """Index the complete records of ``buf`` from ``pos``; ``(pos, index, stop)``."""
        while True:
            if self.native is not None:
                part, pos2, stop = native.scan(
                    self.native, buf, pos, base, index, self.max_record_length, self.path
                )
                if part.records:
                    parts.append(part)
                index += part.records
                pos = pos2
                if stop != STOP_PYTHON:
                    return pos, index, stop
                # A record the C decoder leaves to protobuf (valid framing and CRCs).
                length = int.from_bytes(buf[pos : pos + 8], "little")
                builder = IndexBuilder()
                self._decode_one(builder, buf, pos, length, base, index)
                if builder.r_index:
                    parts.append(builder.finish(self.path, buf, base))
                pos += length + 16
                index += 1
                continue
            offsets, lengths, end, stop = frame_records(buf, pos, self.max_record_length)
            if offsets:
                builder = IndexBuilder()
                for start in range(0, len(offsets), PARSE_BATCH):
                    batch_offsets = offsets[start : start + PARSE_BATCH]
                    batch_lengths = lengths[start : start + PARSE_BATCH]
                    events = parse_events(buf, batch_offsets, batch_lengths)
                    if events is not None:
                        builder.add_many(
                            events,
                            range(index + start, index + start + len(batch_offsets)),
                            [base + o for o in batch_offsets],
                            batch_lengths,
                        )
                    else:
                        for i, (offset, length) in enumerate(
                            zip(batch_offsets, batch_lengths, strict=True)
                        ):
                            self._decode_one(builder, buf, offset, length, base, index + start + i)
                parts.append(builder.finish(self.path, buf, base))
                index += len(offsets)
            return end, index, stop

    def _decode_one(
        self, builder: IndexBuilder, buf: bytes, pos: int, length: int, base: int, index: int
    ) -> None:
        payload = bytes(buf[pos + HEADER_SIZE : pos + HEADER_SIZE + length])
        try:
            event = decode_event(payload, file=self.path, offset=base + pos, index=index)
        except EventDecodeError as e:
            if not self.skip_corrupt:
                raise
            self.problems.append(e)
            return
        builder.add(event, index, base + pos, length)

    # -- damaged records: exactly what the per-record reader does ------------------------------
    def _per_record(self, offset: int, index: int) -> tuple[ChunkIndex | None, int, int, bool]:
        """Read on from a record the bulk loop stopped at, as ``EventFileReader.read`` does,
        until one good event (indexed) or the end. ``(chunk, next offset, next index, done)``.
        """
        with RecordReader(self.path, offset=offset, index=index) as records:
            while True:
                try:
                    record = records.read()
                except DataCrcMismatch as e:
                    if not self.skip_corrupt:
                        raise
                    self.problems.append(e)
                    continue
                except RecordError as e:
                    if not self.skip_corrupt:
                        raise
                    self.problems.append(e)
                    self._finish(records.offset, records.pending_bytes, ReadState.FAILED)
                    return None, records.offset, records.index, True
                if record is None:
                    self._finish(records.offset, records.pending_bytes, records.state)
                    return None, records.offset, records.index, True
                try:
                    event = decode_event(
                        record.payload, file=self.path, offset=record.offset, index=record.index
                    )
                except EventDecodeError as e:
                    if not self.skip_corrupt:
                        raise
                    self.problems.append(e)
                    continue
                builder = IndexBuilder()
                builder.add(event, record.index, record.offset, len(record.payload))
                builder.events.setdefault(0, event)
                chunk = builder.finish(self.path)
                return chunk, records.offset, records.index, False

    def _finish(self, offset: int, pending: int, state: ReadState | None = None) -> None:
        self.end_offset = offset
        if state is None:
            state = ReadState.TRUNCATED if pending else ReadState.CLEAN_EOF
        self.state = state
        self.pending_bytes = pending


def _read_after(f: Any, left: Any, need: int) -> tuple[Any, int]:
    """``(buffer, bytes read)``: the bytes ``left`` over from the last chunk followed by up to
    ``need`` bytes of ``f``, read straight into place (a numpy buffer: not zero-filled first,
    and the chunk not copied again to join it to what was left). A request sized from a
    record header is cut to what the file holds, so a header claiming 2 GiB in a small file
    allocates nothing large (bytes that arrive later are read by the next call)."""
    need = storage.readable_size(f, need)
    buf = np.empty(len(left) + need, dtype=np.uint8)
    buf[: len(left)] = np.frombuffer(left, dtype=np.uint8)
    view = memoryview(buf)[len(left) : len(left) + need]
    readinto = getattr(f, "readinto", None)
    got = 0
    while got < need:
        if readinto is not None:
            n = readinto(view[got:])
        else:  # a file object without readinto
            data = f.read(need - got)
            n = len(data)
            view[got : got + n] = data
        if not n:
            break
        got += n
    return buf[: len(left) + got], got


def scan_file(path: str, **options: Any) -> Iterator[ChunkIndex]:
    """The chunk indexes of one file (see :class:`FileScan` for the options)."""
    yield from FileScan(path, **options)
