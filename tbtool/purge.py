"""Purge semantics: what a restart (``SessionLog`` START) erases.

A START event at step T (what ``purge_step=T`` writes, and what TF1 supervisors write on a
restart) discards every summary value of the same run seen *before* it in read order whose
step is >= T, for every tag and kind; graph and run-metadata events are never purged
(contract.md "purge semantics"; the writers' documented intent, format.md §5.6).

Because a START erases values *before* it, deciding whether a value survives needs the
restarts that come after it. The batch path finds them in its one scan, as it meets them
(:mod:`tbtool.columnar.walk`); :func:`find_restarts` looks ahead over whole files for the
readers that must know them first, and :class:`PurgeFilter` answers for any value in
O(log R).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.columnar import native
from tbtool.columnar.framing import STOP_END
from tbtool.errors import TbtoolError
from tbtool.masked_crc import masked_crc32c
from tbtool.proto import event_pb2
from tbtool.record import DEFAULT_MAX_RECORD_LENGTH, HEADER_SIZE

START = event_pb2.SessionLog.START
#: Kinds a restart never erases.
UNPURGED_KINDS = frozenset({"graph", "run_metadata", "session_log", "file_version", "log_message"})
#: The first byte of the key of ``Event.session_log`` (field 7, wire type 2), and of that
#: key padded to more bytes (which protobuf accepts up to 5).
_SESSION_LOG_KEYS = (b"\x3a", b"\xba")
_HEADER = struct.Struct("<QI")
_CRC = struct.Struct("<I")
#: Bytes read at a time when looking ahead for restarts.
CHUNK_SIZE = 4 << 20

Position = tuple[int, int]  # (file number in the run's read order, record index)


@dataclass(frozen=True, slots=True)
class Restart:
    """A SessionLog START: where it is and the step it rewinds to."""

    position: Position
    step: int
    offset: int | None = None  # byte offset of the START record in its file


def start_step(event: Any) -> int | None:
    """The step a decoded ``Event`` rewinds to if it is a SessionLog START, else ``None``."""
    if event.WhichOneof("what") == "session_log" and event.session_log.status == START:
        return event.step
    return None


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


class PurgeFilter:
    """Decides whether a value at a position survives the restarts that follow it. Restarts
    may be added as a reader meets them (:meth:`add`)."""

    def __init__(self, restarts: Iterable[Restart] = ()) -> None:
        self.restarts: list[Restart] = []
        self._positions: list[Position] = []
        self._min_step_after: list[int] = []
        self.add(restarts)

    def add(self, restarts: Iterable[Restart]) -> list[Restart]:
        """Take in restarts not known yet (by position); returns those that were new."""
        known = set(self._positions)
        new = []
        for r in restarts:
            if r.position not in known:
                known.add(r.position)
                new.append(r)
        if new:
            ordered = sorted([*self.restarts, *new], key=lambda r: r.position)
            self.restarts = ordered
            self._positions = [r.position for r in ordered]
            # _min_step_after[i] = smallest START step among restarts i, i+1, ...
            self._min_step_after = [r.step for r in ordered]
            for i in range(len(ordered) - 2, -1, -1):
                self._min_step_after[i] = min(self._min_step_after[i], self._min_step_after[i + 1])
        return new

    def __bool__(self) -> bool:
        return bool(self._positions)

    def limit_after(self, position: Position) -> int | None:
        """The smallest START step of the restarts after ``position`` (values of purgeable
        kinds up to there at that step or later are erased); ``None`` when there are none."""
        i = bisect.bisect_right(self._positions, position)
        return self._min_step_after[i] if i < len(self._positions) else None

    def keeps(self, position: Position, step: int, kind: str = "scalar") -> bool:
        """False if a later START at step <= ``step`` erases this value."""
        if kind in UNPURGED_KINDS or not self._positions:
            return True
        i = bisect.bisect_right(self._positions, position)
        return i == len(self._positions) or step < self._min_step_after[i]

    def keeps_many(self, file_number: int, indices: Any, steps: Any) -> Any:
        """:meth:`keeps` for many values of one file at once (numpy arrays of record indices
        and steps of purgeable kinds); a boolean array."""
        indices = np.asarray(indices, dtype=np.int64)
        steps = np.asarray(steps, dtype=np.int64)
        if not self._positions:
            return np.ones(len(indices), dtype=bool)
        before = bisect.bisect_left(self._positions, (file_number, -1))
        after = bisect.bisect_left(self._positions, (file_number + 1, -1))
        same_file = np.array([p[1] for p in self._positions[before:after]], dtype=np.int64)
        i = before + np.searchsorted(same_file, indices, side="right")
        limits = np.array([*self._min_step_after, np.iinfo(np.int64).max], dtype=np.int64)
        return (i == len(self._positions)) | (steps < limits[i])
