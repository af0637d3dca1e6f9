"""merge's columnar engine: one output run planned from arrays and written as a splice.

The sources of an output run are scanned in read order into tables
(:mod:`tbtool.columnar.run_table`); the restart rule drops values on arrays
(:mod:`tbtool.ops.purge_rules`); ``file_version`` events (one is written first) and, when a
rule applies, START markers go; a summary event keeping none of its values goes; records
losing some values (and, with ``--layout tag-prefix``, every summary record) are re-encoded,
the rest copied byte for byte. Exact duplicates are dropped without a Python call per record:
records are grouped by (length, step, wall time, CRC) with numpy, and only records sharing a
group are read and compared by digest, as the per-event engine compared every record. The
result is byte-identical to :mod:`tbtool.ops.merge_salvage`, which takes the runs whose
sources do not read cleanly (salvaging them needs it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tbtool.columnar.run_table import FILE_VERSION, SUMMARY, FileTable, RunTables
from tbtool.columnar.walk import Progress
from tbtool.errors import TbtoolError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import HEADER_SIZE, RECORD_OVERHEAD, ReadState
from tbtool.format.salvage import SkippedRange
from tbtool.ops.purge_rules import rewind_drops, start_drops
from tbtool.ops.splice import Recode, SourceFiles, Splice, reencode
from tbtool.proto import event_pb2
from tbtool.runs.purge import PurgeFilter, Restart


@dataclass(eq=False)
class MergedRun:
    """An output run as planned: its records after the ``file_version`` (``splice`` holds
    that one first too), their wall time and counts."""

    splice: Splice
    first_wall_time: float | None  # of the first record after the file_version
    records_in: int
    dropped_by_restarts: int
    duplicates: int


@dataclass(eq=False)
class _Records:
    """Candidate output records of one run, in read order."""

    src: np.ndarray
    offset: np.ndarray
    size: np.ndarray  # in the source, framing included
    step: np.ndarray
    wall_time: np.ndarray
    length: np.ndarray  # of the output payload
    crc: np.ndarray  # of the output payload
    recode: dict[int, Recode]
    digests: dict[int, bytes]  # of re-encoded payloads


def scan_sources(
    name: str, paths: Sequence[str], progress: Progress | None = None
) -> list[FileTable] | None:
    """Tables of the run's sources, or ``None`` if any is damaged, unreadable or ends inside
    a record: such runs are salvaged by the per-event engine."""
    tables = RunTables(name)
    scanned = []
    for number, path in enumerate(paths):
        try:
            table = tables.scan(path, number, progress)
        except (TbtoolError, OSError):
            return None
        if table.state is not ReadState.CLEAN_EOF:
            return None
        scanned.append(table)
    return scanned


def plan_merged_run(
    tables: Sequence[FileTable],
    labels: Sequence[str],
    *,
    rule: str | None,
    layout: str,
    sort_by_step: bool,
    file_version: bytes | None = None,
) -> MergedRun:
    """The output run of ``tables`` (its sources, in read order; ``labels[i]`` names the
    input of source ``i`` for the tag-prefix layout). ``file_version``: the payload written
    first; ``None`` makes it from the first record's wall time (see
    :func:`file_version_payload`)."""
    drops = _drops(tables, rule)
    paths = [t.path for t in tables]
    sources = SourceFiles(paths)
    try:
        records, dropped = _candidates(tables, drops, labels, rule, layout, sources)
        keep = _first_of_duplicates(records, sources)
    finally:
        sources.close()
    out = np.flatnonzero(keep)
    if sort_by_step:
        out = out[np.argsort(records.step[out], kind="stable")]
    first_wall = float(records.wall_time[out[0]]) if len(out) else None
    payload = file_version or file_version_payload(first_wall if first_wall is not None else 0.0)
    place = np.full(len(keep), -1, dtype=np.int64)  # candidate -> output record
    place[out] = np.arange(1, len(out) + 1)
    recodes = list(records.recode.items())
    places = place[[r for r, _ in recodes]].tolist() if recodes else []
    splice = Splice.build(
        paths,
        np.r_[-1, records.src[out]].astype(np.int32),
        np.r_[0, records.offset[out]].astype(np.int64),
        np.r_[0, records.size[out]].astype(np.int64),
        {at: recode for at, (_, recode) in zip(places, recodes, strict=True) if at >= 0},
        {0: payload},
    )
    return MergedRun(
        splice,
        first_wall,
        sum(t.records for t in tables),
        dropped,
        int(len(keep) - keep.sum()),
    )


def _drops(tables: Sequence[FileTable], rule: str | None) -> list[np.ndarray]:
    if rule == "rewind":
        return rewind_drops(tables)
    if rule == "start":
        restarts = [
            Restart((t.number, int(t.r_index[r])), int(t.r_step[r]), int(t.r_offset[r]))
            for t in tables
            for r in np.flatnonzero(t.r_start).tolist()
        ]
        purge = PurgeFilter(restarts)
        return [start_drops(t, purge) for t in tables]
    return [np.zeros(len(t.v_rec), dtype=bool) for t in tables]


def _candidates(
    tables: Sequence[FileTable],
    drops: Sequence[np.ndarray],
    labels: Sequence[str],
    rule: str | None,
    layout: str,
    sources: SourceFiles,
) -> tuple[_Records, int]:
    """Every record that goes out unless it is a duplicate, and the values dropped."""
    parts = []
    recode: dict[int, Recode] = {}
    digests: dict[int, bytes] = {}
    dropped = 0
    base = 0
    for table, drop in zip(tables, drops, strict=True):
        has = table.values_per_record()
        lose = np.bincount(table.v_rec[drop], minlength=table.records)
        dropped += int(lose.sum())
        summary = table.r_what == SUMMARY
        out = table.r_what != FILE_VERSION
        if rule is not None:
            out &= ~table.r_start
        out &= ~summary | (lose < has)  # a summary keeping none of its values goes
        change = out & summary & ((lose > 0) | (layout == "tag-prefix"))
        rows = np.flatnonzero(out)
        length = table.r_length[rows].copy()
        crc = table.r_crc[rows].astype(np.int64)
        changed = np.flatnonzero(change)
        at = np.searchsorted(rows, changed)
        prefix = labels[table.number] if layout == "tag-prefix" else None
        keeps = table.kept_positions(drop, changed)
        for i, rec, keep in zip(at.tolist(), changed.tolist(), keeps, strict=True):
            offset, size = int(table.r_offset[rec]), int(table.r_length[rec]) + RECORD_OVERHEAD
            record = sources.read(table.number, offset, size)
            item = Recode(keep, int(table.r_crc[rec]), prefix)
            new = reencode(record[HEADER_SIZE:-4], item)
            new_crc = masked_crc32c(new)
            recode[base + i] = Recode(keep, item.source_crc, prefix, new_crc)
            digests[base + i] = hashlib.blake2b(new, digest_size=16).digest()
            length[i], crc[i] = len(new), new_crc
        parts.append(
            (
                np.full(len(rows), table.number, dtype=np.int32),
                table.r_offset[rows],
                table.r_length[rows] + RECORD_OVERHEAD,
                table.r_step[rows],
                table.r_wall_time[rows],
                length,
                crc,
            )
        )
        base += len(rows)
    if len(parts) == 1:
        columns = list(parts[0])
    elif parts:
        columns = [np.concatenate(c) for c in zip(*parts, strict=True)]
    else:
        dtypes = (np.int32, np.int64, np.int64, np.int64, np.float64, np.int64, np.int64)
        columns = [np.zeros(0, dtype=d) for d in dtypes]
    return _Records(*columns, recode=recode, digests=digests), dropped


#: Odd 64-bit multipliers that mix the fields of a record's key into one number.
_MIX = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93)


def _first_of_duplicates(records: _Records, sources: SourceFiles) -> np.ndarray:
    """Per candidate: not an exact copy of an earlier one. Equal payloads have equal
    length, step, wall time (bit for bit) and CRC; records are grouped by a hash of the four
    (one stable sort), and only records sharing a group are read and compared by digest, as
    the per-event engine compared every record."""
    n = len(records.src)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    key = np.zeros(n, dtype=np.uint64)
    fields = (records.length, records.step, records.wall_time.view(np.int64), records.crc)
    with np.errstate(over="ignore"):
        for column, mix in zip(fields, _MIX, strict=True):
            key ^= column.astype(np.uint64) * np.uint64(mix)
            key ^= key >> np.uint64(29)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    same = ordered[1:] == ordered[:-1]
    if not same.any():
        return keep
    starts = np.flatnonzero(np.r_[True, ~same])
    ends = np.r_[starts[1:], n]
    groups = np.flatnonzero(ends - starts > 1)
    for a, b in zip(starts[groups].tolist(), ends[groups].tolist(), strict=True):
        seen: set[bytes] = set()
        for i in order[a:b].tolist():  # read order within the group (stable sort)
            digest = records.digests.get(i)
            if digest is None:
                size = int(records.size[i])
                record = sources.read(int(records.src[i]), int(records.offset[i]), size)
                digest = hashlib.blake2b(record[HEADER_SIZE:-4], digest_size=16).digest()
            if digest in seen:
                keep[i] = False
            else:
                seen.add(digest)
    return keep


WRITER_NAME = "tbtool.merge"


@dataclass(slots=True)
class OutputRun:
    """One run of the output and where its events come from."""

    name: str
    sources: list[tuple[str, str]] = field(default_factory=list)  # (input label, file path)
    written: str | None = None
    records_in: int = 0
    records_out: int = 0
    dropped_by_restarts: int = 0
    duplicates: int = 0
    skipped: list[SkippedRange] = field(default_factory=list)

    def reset_counts(self) -> None:
        """Zero the counters, before the sources are merged again."""
        self.records_in = self.records_out = self.dropped_by_restarts = self.duplicates = 0
        self.skipped.clear()

    def count(self, planned: MergedRun) -> None:
        """Take the counters of a columnar plan."""
        self.records_in = planned.records_in
        self.records_out = planned.splice.total_records
        self.dropped_by_restarts = planned.dropped_by_restarts
        self.duplicates = planned.duplicates
        self.skipped.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "sources": [path for _, path in self.sources],
            "written": self.written,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped_by_restarts": self.dropped_by_restarts,
            "duplicates": self.duplicates,
            "skipped": [
                {"file": s.file, "start": s.start, "end": s.end, "reason": s.reason}
                for s in self.skipped
            ],
        }


def file_version_payload(wall_time: float) -> bytes:
    """The first event of a file tbtool writes when merging."""
    return event_pb2.Event(
        wall_time=wall_time,
        file_version="brain.Event:2",
        source_metadata=event_pb2.SourceMetadata(writer=WRITER_NAME),
    ).SerializeToString()
