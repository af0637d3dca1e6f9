"""The batch path's driver: every run of a reader, its files in read order, a chunk at a time.

Exports, ``ls``, ``dump``, ``check`` and the readers all walk a logdir the same way: runs by
name; per run each file's chunks in order, read ahead by worker processes with ``jobs`` > 1
and fetched ahead when remote. Restarts (purge semantics) are found in the same scan: a
chunk's SessionLog records are decoded anyway, so every START is known before the chunk
holding it is handed over. A START erases values *before* it, though, so output made from
earlier chunks may still lose rows: a consumer holds it back (:class:`Holdback`) until the
run ends, or, past a memory budget, asks the walk to look ahead for the run's remaining
restarts once (:meth:`RunChunks.complete`) and streams from then on. How each file's
reading ended (events, read state, where it stopped) lands in the reader's ``file_status``
and its damaged records in ``problems``, exactly as the per-event iterator records them: a
damaged record is skipped, and a walk that ends raises :class:`~tbtool.errors.DamagedFiles`
naming every damaged file it met unless the reader has ``skip_corrupt``
(:class:`~tbtool.LogReader`). Counters for a progress display are updated as bytes are read.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from tbtool import storage
from tbtool.columnar.index import WHAT_CODES, ChunkIndex
from tbtool.columnar.parallel import Prefetcher, auto_jobs
from tbtool.columnar.restarts import restarts_in_file
from tbtool.errors import TbtoolError
from tbtool.runs.events import FileStatus
from tbtool.runs.logdir import Run
from tbtool.runs.purge import PurgeFilter, Restart, start_step
from tbtool.storage.spool import Spooled

_SESSION_LOG = WHAT_CODES["session_log"]
_NO_LIMIT = np.iinfo(np.int64).max


class WalkedReader(Protocol):
    """What a walk needs of the reader it serves (:class:`tbtool.reading.reader.Reader`):
    its runs and purge choice, and where to leave problems met and how each file ended.
    A protocol, so the columnar layer never imports the reader above it."""

    runs: list[Run]
    purge: bool
    problems: list[TbtoolError]
    file_status: dict[str, FileStatus]

    def check_damage(self, since: int = 0) -> None: ...


@dataclass
class Progress:
    """Counters a progress display reads: files and bytes read (the walk updates them), rows
    or values handed out (the consumer does)."""

    files: int = 0
    files_total: int = 0
    bytes: int = 0
    bytes_total: int = 0
    values: int = 0
    callback: Callable[[Progress], None] | None = field(default=None, repr=False)

    def update(self) -> None:
        if self.callback is not None:
            self.callback(self)


def chunk_restarts(number: int, chunk: ChunkIndex) -> list[Restart]:
    """The SessionLog STARTs among a chunk's records (of file ``number`` of its run). The
    scan decoded these records with protobuf already (the C scan leaves them to it), so
    this is exact whatever the field order."""
    found = []
    for rec in np.flatnonzero(chunk.r_what == _SESSION_LOG).tolist():
        step = start_step(chunk.event(rec))
        if step is not None:
            position = (number, int(chunk.r_index[rec]))
            found.append(Restart(position, step, int(chunk.r_offset[rec])))
    return found


class RunChunks:
    """One run being walked: iterated, ``(file number, chunk)`` in read order (iterate it
    fully before asking the walk for the next run).

    ``purge`` holds every restart met so far, those of the chunk being handed over included,
    so the values of that chunk and of later ones are judged by all restarts up to there.
    :meth:`late_limit` says what restarts met later erase of a chunk handed over earlier;
    after :meth:`complete` every restart of the run is known. Without purge semantics
    there is nothing to find and the run counts as complete from the start.
    """

    def __init__(self, run: Run, chunks: Iterator[tuple[int, ChunkIndex]], purge: bool) -> None:
        self.run = run
        self.purge = PurgeFilter()
        self.complete_ = not purge
        self.handed = 0  # chunks handed over so far (the last one is number handed - 1)
        self._chunks = chunks
        self._late_at: list[int] = []  # chunk number each late restart was met at, ascending
        self._late_min: list[int] = []  # suffix minima of their steps
        self._next: tuple[int, int, int] = (0, 0, 0)  # file number, offset, record index

    def __iter__(self) -> Iterator[tuple[int, ChunkIndex]]:
        for number, chunk in self._chunks:
            restarts = []
            if not self.complete_ and (chunk.r_what == _SESSION_LOG).any():
                restarts = chunk_restarts(number, chunk)
            self.handed_over(restarts, chunk_next(number, chunk))
            yield number, chunk

    def handed_over(self, restarts: list[Restart], next_: tuple[int, int, int] | None) -> None:
        """One more chunk handed over (here, or by a worker process that read it): the
        restarts among its records, and where reading goes on after it (``None``: a chunk
        without records). It is chunk number ``handed - 1`` from then on."""
        if not self.complete_ and restarts:
            self._met(self.purge.add(restarts), self.handed)
        if next_ is not None:
            self._next = next_
        self.handed += 1

    def _met(self, restarts: list[Restart], at: int) -> None:
        """Restarts met at chunk ``at``: they erase values of the chunks before it."""
        if not restarts:
            return
        step = min(r.step for r in restarts)
        self._late_at.append(at)
        self._late_min.append(step)
        for i in range(len(self._late_min) - 2, -1, -1):
            self._late_min[i] = min(self._late_min[i], self._late_min[i + 1])

    def late_limit(self, seq: int) -> int | None:
        """The smallest step of the restarts met after chunk ``seq`` was handed over: of
        that chunk's values, those of a purgeable kind at this step or later are erased.
        ``None`` when there are none."""
        i = bisect.bisect_right(self._late_at, seq)
        return self._late_min[i] if i < len(self._late_min) else None

    def complete(self) -> None:
        """Find every restart of the run not met yet by looking ahead over the unread part
        of its files (:func:`~tbtool.columnar.restarts.restarts_in_file`, about the cost of reading
        them), so that output held back can be released."""
        if self.complete_:
            return
        number, offset, index = self._next
        found: list[Restart] = []
        for n in range(number, len(self.run.files)):
            at, first = (offset, index) if n == number else (0, 0)
            found.extend(restarts_in_file(self.run.files[n], n, offset=at, index=first))
        self._met(self.purge.add(found), self.handed)
        self.complete_ = True


T = TypeVar("T")
#: Bytes of output a streamed read holds back per run before it looks ahead for the run's
#: restarts: smaller runs are read once; larger ones cost one more skim of the rest of the
#: run (:func:`~tbtool.columnar.restarts.restarts_in_file`, about a read of it).
HOLD_BYTES = 8 << 20


class Holdback(Generic[T]):
    """Output made from a run's chunks, held until no restart can erase any of it.

    ``push`` takes the output of the chunk just handed over and returns what may go out;
    ``finish``, at the run's end, the rest. ``purge(item, step)`` gives an item without
    its rows of purgeable kinds at ``step`` or later (``None``: nothing left).
    ``budget``: bytes (``nbytes(item)``) held before the walk is asked to look ahead
    (:meth:`RunChunks.complete`) and the rest streams; ``None`` holds a whole run.
    """

    def __init__(
        self,
        walk: RunChunks,
        purge: Callable[[T, int], T | None],
        nbytes: Callable[[T], int],
        budget: int | None,
    ) -> None:
        self.walk = walk
        self._purge = purge
        self._nbytes = nbytes
        self.budget = budget
        self._held: list[tuple[int, T]] = []
        self._bytes = 0

    def push(self, item: T) -> list[T]:
        if self.walk.complete_ and not self._held:
            return [item]
        self._held.append((self.walk.handed - 1, item))
        self._bytes += self._nbytes(item)
        if self.budget is not None and self._bytes > self.budget:
            self.walk.complete()
            return self.finish()
        return []

    def finish(self) -> list[T]:
        out = []
        for seq, item in self._held:
            limit = self.walk.late_limit(seq)
            kept = item if limit is None else self._purge(item, limit)
            if kept is not None:
                out.append(kept)
        self._held = []
        self._bytes = 0
        return out


def file_size(path: str) -> int:
    """Size of a file or object, 0 when it cannot be known (it is reported when read)."""
    try:
        return storage.size(path)
    except (OSError, TbtoolError):
        return 0


def walk_runs(
    reader: WalkedReader,
    *,
    jobs: int | None = 1,
    chunk_size: int | None = None,
    progress: Progress | None = None,
    runs: Sequence[Run] | None = None,
) -> Iterator[RunChunks]:
    """The runs of ``reader`` (or only ``runs``) with their chunks, streamed (memory: one
    chunk of one file, or up to ``jobs`` files' indexes read ahead; see
    :mod:`tbtool.columnar.parallel`)."""
    progress = progress or Progress()
    runs = reader.runs if runs is None else runs
    progress.files_total = sum(len(r.files) for r in runs)
    progress.bytes_total = sum(file_size(f) for r in runs for f in r.files)
    progress.update()
    options: dict[str, Any] = {"chunk_size": chunk_size} if chunk_size else {}
    files = [f for r in runs for f in r.files]
    prefetch = Prefetcher(files, auto_jobs(files, jobs), options)
    # Remote files may be read twice (a look-ahead for restarts, then values): fetch once.
    ahead = Spooled(files if reader.purge else ())
    since = len(reader.problems)
    try:
        for run in runs:
            yield RunChunks(run, _run_chunks(reader, run, prefetch, progress), reader.purge)
            ahead.release(run.files)
    finally:
        ahead.close()
        prefetch.close()
    reader.check_damage(since)


def chunk_next(number: int, chunk: ChunkIndex) -> tuple[int, int, int] | None:
    """Where reading goes on after a chunk of file ``number``: (file number, offset, record
    index); ``None`` for a chunk without records."""
    if not chunk.records:
        return None
    end = int(chunk.r_offset[-1]) + 16 + int(chunk.r_length[-1])
    return (number, end, int(chunk.r_index[-1]) + 1)


def record_file(reader: WalkedReader, path: str, scan: Any) -> None:
    """How reading ``path`` ended (a scan, or what a worker reported of one): its damaged
    records into the reader's ``problems``, its end into ``file_status``."""
    reader.problems.extend(scan.problems)
    reader.file_status[path] = FileStatus(
        scan.events, scan.state, scan.end_offset, scan.pending_bytes
    )


def count_file(progress: Progress, unread_bytes: int) -> None:
    """A file read to its end: its bytes not counted yet, and the file."""
    progress.bytes += unread_bytes
    progress.files += 1
    progress.update()


def _run_chunks(
    reader: WalkedReader, run: Run, prefetch: Prefetcher, progress: Progress
) -> Iterator[tuple[int, ChunkIndex]]:
    for number, path in enumerate(run.files):
        scan = prefetch.take(path)
        done = 0
        try:
            for chunk in scan:
                yield number, chunk
                progress.bytes += scan.bytes_read - done
                done = scan.bytes_read
                progress.update()
        finally:
            record_file(reader, path, scan)
        count_file(progress, scan.bytes_read - done)
