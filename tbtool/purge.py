"""Purge semantics: what a restart (``SessionLog`` START) erases.

A START event at step T (what ``purge_step=T`` writes, and what TF1 supervisors write on a
restart) discards every summary value of the same run seen *before* it in read order whose
step is >= T, for every tag and kind; graph and run-metadata events are never purged
(contract.md "purge semantics"; the writers' documented intent, format.md §5.6).

Because a START erases values *before* it, deciding whether a value survives needs the
restarts that come after it. :func:`find_restarts` scans a run for them cheaply, and
:class:`PurgeFilter` answers for any value in O(log R).
"""

from __future__ import annotations

import bisect
import mmap
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.columnar import native
from tbtool.columnar.framing import STOP_END, STOP_PYTHON, frame_records
from tbtool.columnar.index import WHAT_CODES
from tbtool.errors import TbtoolError
from tbtool.masked_crc import masked_crc32c
from tbtool.proto import event_pb2
from tbtool.record import DEFAULT_MAX_RECORD_LENGTH, HEADER_SIZE, RecordReader

START = event_pb2.SessionLog.START
#: Kinds a restart never erases.
UNPURGED_KINDS = frozenset({"graph", "run_metadata", "session_log", "file_version", "log_message"})
#: Field 7 (session_log), wire type 2: the tag byte of ``Event.session_log``.
_SESSION_LOG_TAG = 0x3A
_START_PATTERN = re.compile(rb"\x3a(?:[\x02-\x7f]|[\x80-\xff][\x01-\x7f])\x08\x01", re.DOTALL)

Position = tuple[int, int]  # (file number in the run's read order, record index)


@dataclass(frozen=True, slots=True)
class Restart:
    """A SessionLog START: where it is and the step it rewinds to."""

    position: Position
    step: int
    offset: int | None = None  # byte offset of the START record in its file


def may_hold_a_start(path: str) -> bool:
    """False only if the file certainly holds no SessionLog START: its bytes never contain
    ``Event.session_log`` (tag 0x3a, a 1- or 2-byte length) opening with ``status = START``
    (``08 01``; protobuf writes fields in number order) where a record's payload could hold
    it (:func:`_plausible_start`). A C-speed search over the mapped file, so runs without
    restarts (nearly all) cost no second parse."""
    local = storage.local_path(path)
    if local is None:  # a remote object read remotely
        return may_hold_a_start_streamed(path)
    try:
        with open(local, "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:
                return False
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                return any(_plausible_start(data, m) for m in _START_PATTERN.finditer(data))
    except (OSError, ValueError):
        return True  # let the record scan (and then the main read) report the problem


def _plausible_start(data: Any, match: re.Match) -> bool:
    """Whether a match of the START pattern can be a record's ``Event.session_log``: in
    field order only ``wall_time`` (``09`` and 8 bytes) and ``step`` (``10`` and a varint),
    each optional, come before it in the payload, and before the payload is the record
    header: a length below 2**31 (its upper four bytes zero) that covers the match, and that
    length's CRC. Float bytes of large scalar files match the bare pattern by chance every
    few tens of MB; this keeps such files from a second, full scan."""
    at = match.start()
    for wall in (0, 9):
        for step in (0, *range(2, 12)):
            begin = at - step - wall  # where the payload would start
            if begin < 12:
                continue
            if wall and data[begin] != 0x09:
                continue
            if step:
                varint = data[begin + wall + 1 : at]
                if data[begin + wall] != 0x10 or varint[-1] >= 0x80:
                    continue
                if any(b < 0x80 for b in varint[:-1]):
                    continue
            if data[begin - 8 : begin - 4] != b"\0\0\0\0":
                continue
            header = bytes(data[begin - 12 : begin - 4])
            if masked_crc32c(header) != int.from_bytes(data[begin - 4 : begin], "little"):
                continue
            if int.from_bytes(header, "little") >= match.end() - begin:
                return True
    return False


def may_hold_a_start_streamed(path: str, chunk_size: int = 1 << 22) -> bool:
    """:func:`may_hold_a_start` reading the file a chunk at a time instead of mapping it, so
    a scan of a large file does not count its pages in the process's memory (exports that
    promise bounded memory use this)."""
    overlap = 64  # a match and what _plausible_start looks at before it
    try:
        with storage.open_input(path) as f:
            tail = b""
            while chunk := f.read(chunk_size):
                data = tail + chunk
                for match in _START_PATTERN.finditer(data):
                    # matches wholly in the tail were judged with the previous chunk
                    if match.end() > len(tail) and _plausible_start(data, match):
                        return True
                tail = data[-overlap:]
    except (OSError, TbtoolError):
        return True  # let the record scan (and then the main read) report the problem
    return False


def restarts_in_file(
    path: str, file_number: int, precheck: Callable[[str], bool] | None = None
) -> list[Restart]:
    """START events of one file. Only records containing the session_log tag byte are
    decoded. A framing error ends the scan quietly: the main read reports it. ``precheck``
    replaces :func:`may_hold_a_start` as the quick test."""
    found: list[Restart] = []
    if not (precheck or may_hold_a_start)(path):
        return found
    quick = _restarts_by_framing(path, file_number)
    if quick is not None:
        return quick
    try:
        with RecordReader(path, check_data_crc=False) as reader:
            for record in reader:
                if _SESSION_LOG_TAG not in record.payload:
                    continue
                try:
                    event = event_pb2.Event.FromString(record.payload)
                except DecodeError:  # undecodable records are reported by the main read
                    continue
                if event.WhichOneof("what") == "session_log" and event.session_log.status == START:
                    found.append(Restart((file_number, record.index), event.step, record.offset))
    except (TbtoolError, OSError):  # the main read of this file reports the real error
        pass
    return found


def _restarts_by_framing(
    path: str, file_number: int, chunk_size: int = 1 << 22
) -> list[Restart] | None:
    """:func:`restarts_in_file` for a file that frames cleanly, a chunk at a time: the C
    scan (or the pure-Python framing) finds the records, and only SessionLog records (or,
    without the C extension, records where the START pattern occurs) are decoded. A file
    where the pattern matches by chance in float bytes (common in large scalar files) then
    costs a bulk pass, not a Python read of every record. ``None`` when reading meets any
    problem: the per-record scan then decides, exactly as before."""
    ext = native.module()
    found: list[Restart] = []
    index = 0  # record index of the next record
    base = 0  # file offset of buf[0]
    buf = b""

    def check(payload: bytes, record: int, offset: int) -> None:
        step = _start_event(payload)
        if step is not None:
            found.append(Restart((file_number, record), step, offset))

    try:
        with storage.open_input(path) as f:
            while chunk := f.read(chunk_size):
                buf = buf + chunk if buf else chunk
                pos = 0
                while True:
                    if ext is not None:
                        part, end, stop = native.scan(
                            ext, buf, pos, base, index, DEFAULT_MAX_RECORD_LENGTH, path
                        )
                        for i in np.flatnonzero(part.r_what == WHAT_CODES["session_log"]):
                            at = int(part.r_offset[i]) - base + HEADER_SIZE
                            record_end = at + int(part.r_length[i])
                            check(buf[at:record_end], int(part.r_index[i]), int(part.r_offset[i]))
                        index += part.records
                        if stop == STOP_PYTHON:  # a record the C scan leaves to protobuf
                            length = int.from_bytes(buf[end : end + 8], "little")
                            check(
                                buf[end + HEADER_SIZE : end + HEADER_SIZE + length],
                                index,
                                base + end,
                            )
                            index += 1
                            pos = end + length + 16
                            continue
                    else:
                        offsets, lengths, end, stop = frame_records(
                            buf, pos, DEFAULT_MAX_RECORD_LENGTH
                        )
                        for i, (offset, length) in enumerate(zip(offsets, lengths, strict=True)):
                            at = offset + HEADER_SIZE
                            if _may_be_session_log(buf, at, at + length):
                                check(buf[at : at + length], index + i, base + offset)
                        index += len(offsets)
                    break
                if stop != STOP_END:
                    return None
                base += end
                buf = buf[end:]
    except (OSError, TbtoolError):
        return None
    return found


def _may_be_session_log(buf: bytes, start: int, end: int) -> bool:
    """False only if ``buf[start:end]`` certainly holds no ``Event.session_log``: the key of
    field 7 (wire type 2) begins with byte 0x3a, or 0xba when padded, in any encoding
    protobuf accepts. (The C scan decodes exactly the session_log records; this exact test
    keeps the pure-Python path finding the same restarts, written in any field order.)"""
    return buf.find(b"\x3a", start, end) >= 0 or buf.find(b"\xba", start, end) >= 0


def _start_event(payload: bytes) -> int | None:
    """The step of a SessionLog START event, else None (undecodable records included)."""
    try:
        event = event_pb2.Event.FromString(payload)
    except DecodeError:
        return None
    if event.WhichOneof("what") == "session_log" and event.session_log.status == START:
        return event.step
    return None


def find_restarts(
    files: Sequence[str], precheck: Callable[[str], bool] | None = None
) -> list[Restart]:
    """START events of a run whose files are given in read order."""
    restarts: list[Restart] = []
    for number, path in enumerate(files):
        restarts.extend(restarts_in_file(path, number, precheck))
    return restarts


class PurgeFilter:
    """Decides whether a value at a position survives the restarts that follow it."""

    def __init__(self, restarts: Sequence[Restart]) -> None:
        ordered = sorted(restarts, key=lambda r: r.position)
        self._positions = [r.position for r in ordered]
        # _min_step_after[i] = smallest START step among restarts i, i+1, ...
        self._min_step_after = [r.step for r in ordered]
        for i in range(len(ordered) - 2, -1, -1):
            self._min_step_after[i] = min(self._min_step_after[i], self._min_step_after[i + 1])

    def __bool__(self) -> bool:
        return bool(self._positions)

    def keeps(self, position: Position, step: int, kind: str = "scalar") -> bool:
        """False if a later START at step <= ``step`` erases this value."""
        if kind in UNPURGED_KINDS or not self._positions:
            return True
        i = bisect.bisect_right(self._positions, position)
        return i == len(self._positions) or step < self._min_step_after[i]

    def keeps_many(self, file_number: int, indices: Any, steps: Any) -> Any:
        """:meth:`keeps` for many values of one file at once (numpy arrays of record indices
        and steps of purgeable kinds); a boolean array."""
        import numpy as np

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
