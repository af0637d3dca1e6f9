"""Finding restarts (``SessionLog`` START events) in event files, ahead of a read.

Purge semantics (:mod:`tbtool.runs.purge`) need the STARTs that come *after* a value. The
batch path meets them in its one scan; readers that must know them before reading a run
(the per-event reader, validate, purge) look ahead here. Only records that may hold a
``session_log`` are decoded (the C scan's ``session_logs``, or the same rule in Python), so a
file costs about one read.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.columnar import native
from tbtool.columnar.framing import STOP_END
from tbtool.errors import TbtoolError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import DEFAULT_MAX_RECORD_LENGTH, HEADER_SIZE
from tbtool.proto import event_pb2
from tbtool.runs.purge import Restart, start_step

#: The first byte of the key of ``Event.session_log`` (field 7, wire type 2), and of that
#: key padded to more bytes (which protobuf accepts up to 5).
_SESSION_LOG_KEYS = (b"\x3a", b"\xba")
_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
#: Bytes read at a time when looking ahead for restarts.
CHUNK_SIZE = 4 << 20


def _start_event(payload: bytes) -> int | None:
    """:func:`start_step` of a payload (``None`` for bytes protobuf rejects: reading skips
    such a record, so it restarts nothing)."""
    try:
        event = event_pb2.Event.FromString(payload)
    except DecodeError:
        return None
    return start_step(event)


def _may_be_session_log(buf: bytes, start: int, end: int) -> bool:
    """False only if ``buf[start:end]`` certainly holds no ``Event.session_log``: its key
    begins with byte 0x3a, or 0xba when padded, in any encoding protobuf accepts."""
    return any(buf.find(key, start, end) >= 0 for key in _SESSION_LOG_KEYS)


def _session_logs_python(
    buf: bytes, pos: int, max_record_length: int
) -> tuple[int, int, int, list[int], list[int]]:
    """The C extension's ``session_logs`` in pure Python (the same records come out of
    protobuf either way: both keep every record that may hold a session_log)."""
    offsets: list[int] = []
    numbers: list[int] = []
    mv = memoryview(buf)
    n = len(buf)
    records = 0
    stop = STOP_END
    while pos + HEADER_SIZE <= n:
        length, length_crc = _HEADER.unpack_from(buf, pos)
        if masked_crc32c(mv[pos : pos + 8]) != length_crc:
            stop = 1  # STOP_LENGTH_CRC
            break
        if length > max_record_length:
            stop = 2  # STOP_TOO_LARGE
            break
        end = pos + HEADER_SIZE + length + 4
        if end > n:
            break
        at = pos + HEADER_SIZE
        if _may_be_session_log(buf, at, at + length) and (
            masked_crc32c(mv[at : at + length]) == _CRC.unpack_from(buf, at + length)[0]
        ):
            offsets.append(pos)
            numbers.append(records)
        records += 1
        pos = end
    return pos, stop, records, offsets, numbers


def _session_logs(buf: bytes, pos: int) -> tuple[int, int, int, list[int], list[int]]:
    """``(end, stop, records, offsets, numbers)``: the complete records of ``buf`` from
    ``pos`` that may hold a session_log and whose payload CRC holds (positions in ``buf``,
    record numbers counted from ``pos``). Framing stops as reading stops (``STOP_*``)."""
    ext = native.module()
    if ext is None:
        return _session_logs_python(buf, pos, DEFAULT_MAX_RECORD_LENGTH)
    end, stop, records, offsets, numbers = ext.session_logs(buf, pos, DEFAULT_MAX_RECORD_LENGTH)
    as_list = lambda b: np.frombuffer(b, dtype=np.int64).tolist()  # noqa: E731
    return end, stop, records, as_list(offsets), as_list(numbers)


def restarts_in_file(
    path: str, file_number: int, *, offset: int = 0, index: int = 0
) -> list[Restart]:
    """START events of one file from byte ``offset`` (record number ``index``) on, written
    in any field order. Only records that may hold a session_log are decoded, so a file
    costs about a read. Records reading passes over (a bad payload CRC, bytes protobuf
    rejects) restart nothing; framing damage ends the search where it ends reading (the
    read reports it)."""
    found: list[Restart] = []
    try:
        with storage.open_input(path) as f:
            if offset:
                f.seek(offset)
            buf, base, eof = b"", offset, False
            while not eof:
                need = CHUNK_SIZE
                if len(buf) >= HEADER_SIZE:  # a large record: read all of it
                    length = int.from_bytes(buf[:8], "little")
                    if length <= DEFAULT_MAX_RECORD_LENGTH:
                        need = max(need, length + 16 - len(buf))
                data = f.read(need)
                eof = not data
                buf = buf + data if buf else data
                end, stop, records, offsets, numbers = _session_logs(buf, 0)
                for at, number in zip(offsets, numbers, strict=True):
                    length = int.from_bytes(buf[at : at + 8], "little")
                    step = _start_event(buf[at + HEADER_SIZE : at + HEADER_SIZE + length])
                    if step is not None:
                        found.append(Restart((file_number, index + number), step, base + at))
                index += records
                if stop != STOP_END:
                    break
                buf, base = buf[end:], base + end
    except (OSError, TbtoolError):  # the read of this file reports the real error
        pass
    return found


def find_restarts(files: Sequence[str]) -> list[Restart]:
    """START events of a run whose files are given in read order."""
    restarts: list[Restart] = []
    for number, path in enumerate(files):
        restarts.extend(restarts_in_file(path, number))
    return restarts
