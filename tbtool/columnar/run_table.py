"""A run's records and summary values as flat arrays: what merge and purge plan from.

Rewriting needs, of every record, where it is (offset, length), its step, wall time and
event kind, and of every summary value its tag and kind, but no contents. The columnar scan
(:class:`~tbtool.columnar.scan.FileScan`) gives all of it in bulk, and one
:class:`~tbtool.columnar.assemble.RunAssembler` per run classifies values as the per-event
normalizer does (:meth:`~tbtool.columnar.assemble.RunAssembler.exact_kinds`), so a plan made
from these arrays drops exactly the values the per-event code dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tbtool import storage
from tbtool.columnar.assemble import RunAssembler
from tbtool.columnar.index import WHAT_CODES, ChunkIndex
from tbtool.columnar.pieces import K_SKIP, K
from tbtool.columnar.scan import FileScan
from tbtool.columnar.walk import Progress
from tbtool.format.record import HEADER_SIZE, ReadState
from tbtool.runs.purge import START, UNPURGED_KINDS
from tbtool.values.typed import KINDS

#: Per K code (``K_SKIP`` included): kinds a restart never erases.
UNPURGED = np.zeros(K_SKIP + 1, dtype=bool)
UNPURGED[[K[k] for k in UNPURGED_KINDS]] = True
SESSION_LOG = WHAT_CODES["session_log"]
SUMMARY = WHAT_CODES["summary"]
FILE_VERSION = WHAT_CODES["file_version"]


@dataclass(eq=False)
class FileTable:
    """One file of a run: ``r_*`` per record, ``v_*`` per summary value (``v_rec`` is a
    record position, ``v_tag`` a run tag id, ``v_kind`` a K code)."""

    path: str
    number: int  # in the run's read order
    r_offset: np.ndarray
    r_length: np.ndarray  # payload bytes (the record takes 16 more)
    r_step: np.ndarray
    r_wall_time: np.ndarray
    r_what: np.ndarray
    r_start: np.ndarray  # a SessionLog START
    r_crc: np.ndarray  # the stored (masked) CRC of the payload
    v_rec: np.ndarray
    v_widx: np.ndarray
    v_tag: np.ndarray
    v_kind: np.ndarray
    state: ReadState = ReadState.CLEAN_EOF

    @property
    def records(self) -> int:
        return len(self.r_offset)

    @property
    def r_index(self) -> np.ndarray:
        """Record numbers: a table holds every record of its file, in order."""
        return np.arange(self.records, dtype=np.int64)

    @property
    def v_step(self) -> np.ndarray:
        return self.r_step[self.v_rec]

    def values_per_record(self) -> np.ndarray:
        return np.bincount(self.v_rec, minlength=self.records)

    def kept_positions(self, drops: np.ndarray, recs: np.ndarray) -> list[tuple[int, ...]]:
        """For each record of ``recs`` (ascending), the positions in ``Event.summary.value``
        of its values that ``drops`` keeps: what re-encoding it keeps."""
        if not len(recs):
            return []
        chosen = np.zeros(self.records, dtype=bool)
        chosen[recs] = True
        kept = np.flatnonzero(~drops & chosen[self.v_rec])
        ends = np.cumsum(np.bincount(self.v_rec[kept], minlength=self.records)[recs]).tolist()
        widx = self.v_widx[kept].tolist()
        return [tuple(widx[a:b]) for a, b in zip([0, *ends[:-1]], ends, strict=True)]


class RunTables:
    """Scans the files of one run, in read order, into :class:`FileTable` s."""

    def __init__(self, run: str) -> None:
        self.assembler = RunAssembler(run, KINDS)

    @property
    def tags(self) -> list[str]:
        """Run tag names, by run tag id."""
        return self.assembler.tags

    def scan(self, path: str, number: int, progress: Progress | None = None) -> FileTable:
        """The table of one file; a damaged record raises as reading it would (the table
        of a file that ends inside a record says so in ``state``)."""
        scan = FileScan(path)
        parts: list[dict[str, np.ndarray]] = []
        done = 0
        for chunk in scan:
            parts.append(self._chunk(chunk))
            if progress is not None:
                progress.bytes += scan.bytes_read - done
                progress.values += chunk.values
                done = scan.bytes_read
                progress.update()
        if progress is not None:
            progress.bytes += scan.bytes_read - done
            progress.files += 1
            progress.update()
        shift = np.cumsum([0] + [len(p["r_offset"]) for p in parts])
        columns: dict[str, np.ndarray] = {}
        for name, dtype in _COLUMNS.items():  # a column at a time: peak memory one table
            pieces = [p.pop(name) for p in parts]
            if name == "v_rec":
                pieces = [piece + shift[i] for i, piece in enumerate(pieces)]
            if len(pieces) == 1:
                columns[name] = np.asarray(pieces[0], dtype=dtype)
            else:
                columns[name] = np.concatenate(pieces) if pieces else np.zeros(0, dtype)
        return FileTable(path, number, state=scan.state, **columns)

    def _chunk(self, chunk: ChunkIndex) -> dict[str, np.ndarray]:
        tag, kind = self.assembler.exact_kinds(chunk)
        start = np.zeros(chunk.records, dtype=bool)
        for rec in np.flatnonzero(chunk.r_what == SESSION_LOG).tolist():
            event = chunk.event(rec)
            start[rec] = event.session_log.status == START
        return {
            "r_offset": chunk.r_offset,
            "r_length": chunk.r_length,
            "r_step": chunk.r_step,
            "r_wall_time": chunk.r_wall_time,
            "r_what": chunk.r_what,
            "r_start": start,
            "r_crc": _stored_crcs(chunk),
            "v_rec": chunk.v_rec,
            "v_widx": chunk.v_widx,
            "v_tag": tag.astype(np.int32),
            "v_kind": kind.astype(np.int16),
        }


_COLUMNS = {
    "r_offset": np.int64,
    "r_length": np.int64,
    "r_step": np.int64,
    "r_wall_time": np.float64,
    "r_what": np.uint8,
    "r_start": bool,
    "r_crc": np.uint32,
    "v_rec": np.int64,
    "v_widx": np.int32,
    "v_tag": np.int32,
    "v_kind": np.int16,
}


def _stored_crcs(chunk: ChunkIndex) -> np.ndarray:
    """The payload CRC each record stores (already checked by the scan), gathered from the
    chunk's buffer in bulk; read from the file for a chunk that kept no buffer."""
    n = chunk.records
    if not n:
        return np.zeros(0, dtype=np.uint32)
    at = chunk.r_offset + HEADER_SIZE + chunk.r_length
    if chunk.buffer is not None:
        data = np.frombuffer(chunk.buffer, dtype=np.uint8)
        where = (at - chunk.base)[:, None] + np.arange(4)
        return data[where].copy().view("<u4").ravel()
    crcs = np.zeros(n, dtype=np.uint32)
    with storage.open_input(chunk.file) as f:
        for i, offset in enumerate(at.tolist()):
            f.seek(offset)
            crcs[i] = int.from_bytes(f.read(4), "little")
    return crcs
