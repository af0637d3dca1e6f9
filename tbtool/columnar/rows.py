"""Table rows of a logdir, a chunk at a time, assembled where the chunk was scanned.

With ``jobs`` > 1 the work of a table read moves into worker processes whole: each worker
scans a file *and* assembles its rows (classification, filters, the file's own restarts,
columns), and hands over finished record batches, a chunk at a time, through a bounded
queue (:data:`IN_FLIGHT` batches per worker). The main process only does what crosses
files: restarts met later in a run erase rows handed over earlier (:class:`~tbtool.columnar.
walk.Holdback` and compaction, as without workers), and a tag's metadata is the first of the
*run*, which a worker that starts at a later file cannot know. So every batch says which
metadata its metadata-dependent values (tensors, values without a oneof) were classified
with; where the run met other metadata for that tag in an earlier file, the main process
reads the rest of that file itself (rare: metadata differs between files of one run only
when a writer changed what it logs under a tag). A scan error in a worker is met again by
the main process reading the file, so errors surface exactly as without ``jobs``; damaged
records skipped (``problems``) are handed over with the file's end.
"""

from __future__ import annotations

import multiprocessing
import pickle
import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from tbtool.columnar import arrow
from tbtool.columnar.assemble import RunAssembler
from tbtool.columnar.index import ONEOF_NONE, ONEOF_TENSOR, ChunkIndex
from tbtool.columnar.parallel import IN_FLIGHT, auto_jobs
from tbtool.columnar.pieces import Piece
from tbtool.columnar.scan import FileScan
from tbtool.columnar.table_rows import piece_batch, piece_columns
from tbtool.columnar.walk import (
    Progress,
    RunChunks,
    WalkedReader,
    chunk_next,
    chunk_restarts,
    count_file,
    file_size,
    record_file,
    walk_runs,
)
from tbtool.runs.logdir import tag_matcher
from tbtool.runs.purge import UNPURGED_KINDS, PurgeFilter, Restart
from tbtool.storage.spool import Spooled

if TYPE_CHECKING:
    from tbtool.runs.logdir import Run


@dataclass
class ChunkRows:
    """What one chunk yields: table batches, and the values the hparams collector takes."""

    batches: list[tuple[str, pa.RecordBatch]]
    values: list[Any]
    count: int

    def nbytes(self) -> int:
        return sum(b.nbytes for _, b in self.batches) + 256 * len(self.values)

    def purged(self, limit: int) -> ChunkRows:
        """Without the rows at step ``limit`` or later (every table kind is purgeable)."""
        batches = [(kind, rows_before(batch, limit)) for kind, batch in self.batches]
        values = [v for v in self.values if v.step < limit or v.kind in UNPURGED_KINDS]
        dropped = sum(b.num_rows for _, b in self.batches) - sum(b.num_rows for _, b in batches)
        return ChunkRows(batches, values, max(0, self.count - dropped))


def rows_before(batch: pa.RecordBatch, limit: int) -> pa.RecordBatch:
    """The rows of ``batch`` whose ``step`` is below ``limit``."""
    keep = arrow.to_numpy(batch.column("step")) < limit
    return batch if keep.all() else batch.filter(arrow.booleans(keep))


@dataclass(frozen=True)
class RowRequest:
    """What a table read asks of every chunk: table ``kinds`` (batches of them), the value
    kinds the assembler keeps, and the filters. Picklable: workers get it."""

    kinds: tuple[str, ...]
    value_kinds: frozenset[str]
    tag_patterns: tuple[str, ...]
    steps: Any
    purge: bool
    chunk_size: int | None = None
    #: Rows as :func:`~tbtool.columnar.table_rows.piece_columns` gives them (images and
    #: audio as blobs, which a whole table copies once) instead of record batches.
    columns: bool = False

    def assembler(self, run: str, purge: PurgeFilter) -> RunAssembler:
        return RunAssembler(
            run, self.value_kinds, tag_ok=tag_matcher(list(self.tag_patterns)), steps=self.steps,
            purge=purge,
        )  # fmt: skip

    def rows(self, piece: Piece) -> ChunkRows:
        convert = piece_columns if self.columns else piece_batch
        batches = [(k, b) for k in self.kinds if (b := convert(k, piece)) is not None]
        return ChunkRows(batches, piece.values, piece.count)

    def scan(self, path: str) -> FileScan:
        options = {"chunk_size": self.chunk_size} if self.chunk_size else {}
        return FileScan(path, skip_corrupt=True, **options)


@dataclass
class _Chunk:
    """A worker's message for one chunk: its rows, its restarts, where it ended, and the
    metadata its metadata-dependent values were classified with, per tag."""

    rows: ChunkRows
    restarts: list[Restart]
    next: tuple[int, int, int] | None
    uses: dict[str, list[Any]]
    registered: dict[str, Any]
    bytes_read: int


@dataclass
class _End:
    """A worker's last message for a file: how its reading ended."""

    events: int
    state: Any
    end_offset: int
    pending_bytes: int
    bytes_read: int
    problems: list[Any] = field(default_factory=list)


class _Redo:
    """The main process must read the file itself (the scan raised, or what it met does
    not cross processes)."""


def _metadata_uses(assembler: RunAssembler, chunk: ChunkIndex) -> dict[str, list[Any]]:
    """Per tag, the metadata (``None``: none) the metadata-dependent values (tensors, values
    without a oneof) of a chunk just fed were classified with."""
    uses: dict[str, list[Any]] = {}
    c = assembler.last_classified
    if not chunk.values or c is None:
        return uses
    dependent = (chunk.v_oneof == ONEOF_TENSOR) | (chunk.v_oneof == ONEOF_NONE)
    for t in np.unique(c.tag[dependent]).tolist():
        rows = dependent & (c.tag == t)
        metas = [None] if (rows & ~c.has_meta).any() else []
        if (rows & c.has_meta).any():
            metas.append(assembler.metadata_of(t))
        uses[assembler.tags[t]] = metas
    return uses


def _assemble_file(request: RowRequest, run: str, number: int, path: str, out: Any) -> None:
    """A worker's part: scan ``path`` (file ``number`` of ``run``) and put each chunk's rows
    on ``out``, then the file's end."""
    purge = PurgeFilter()
    assembler = request.assembler(run, purge)
    scan = request.scan(path)
    done = 0
    try:
        for chunk in scan:
            restarts = chunk_restarts(number, chunk) if request.purge else []
            purge.add(restarts)
            assembler.new_registrations.clear()
            rows = request.rows(assembler.feed(number, chunk))
            uses = _metadata_uses(assembler, chunk)
            registered = {
                assembler.tags[t]: assembler.metadata_of(t) for t in assembler.new_registrations
            }
            nxt = chunk_next(number, chunk)
            message = _Chunk(rows, restarts, nxt, uses, registered, scan.bytes_read - done)
            done = scan.bytes_read
            out.put(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        end = _End(
            scan.events, scan.state, scan.end_offset, scan.pending_bytes,
            scan.bytes_read - done, list(scan.problems),
        )  # fmt: skip
        message = pickle.dumps(end, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.loads(message)  # damage that does not cross processes: the main reads it
        out.put(message)
    except Exception:  # met again by the main process, which reports it as one process does
        out.put(pickle.dumps(_Redo()))


def _worker(request: RowRequest, tasks: Any, out: Any) -> None:
    while (task := tasks.get()) is not None:
        _assemble_file(request, *task, out)


class AssemblyPool:
    """Worker processes assembling files, file ``i`` of the read order on worker
    ``i % jobs``; each hands over through its own bounded queue, so the main process takes
    files in order and a worker runs at most one file and :data:`IN_FLIGHT` chunks ahead."""

    def __init__(self, request: RowRequest, files: Sequence[tuple[str, int, str]], jobs: int):
        context = multiprocessing.get_context()
        self._queues = []
        self._processes = []
        for w in range(jobs):
            tasks = context.SimpleQueue()
            out = context.Queue(maxsize=IN_FLIGHT)
            for task in files[w::jobs]:
                tasks.put(task)
            tasks.put(None)
            process = context.Process(target=_worker, args=(request, tasks, out), daemon=True)
            process.start()
            self._queues.append(out)
            self._processes.append(process)
        self._next = 0

    def messages(self) -> Iterator[_Chunk | _End | _Redo]:
        """The next file's messages, up to and including its end (or a redo)."""
        worker = self._next % len(self._queues)
        out, process = self._queues[worker], self._processes[worker]
        self._next += 1
        while True:
            try:
                message = pickle.loads(out.get(timeout=0.5))
            except queue.Empty:
                if process.is_alive():
                    continue
                try:  # what it flushed on its way out
                    message = pickle.loads(out.get(timeout=0.5))
                except queue.Empty:  # the worker died (killed, out of memory): read it here
                    message = _Redo()
            yield message
            if not isinstance(message, _Chunk):
                return

    def close(self) -> None:
        for process in self._processes:
            if process.is_alive():
                process.terminate()
            process.join()
        for out in self._queues:
            out.cancel_join_thread()
            out.close()
        self._processes = []


def walk_rows(
    reader: WalkedReader,
    request: RowRequest,
    *,
    jobs: int,
    progress: Progress | None = None,
) -> Iterator[tuple[RunChunks, Iterator[ChunkRows]]]:
    """Per run, its walk (restarts met, :meth:`RunChunks.late_limit`) and its rows a chunk at
    a time, in read order: assembled in this process with ``jobs`` 1, else by
    :class:`AssemblyPool` workers. The same rows either way."""
    files = [(run.name, n, path) for run in reader.runs for n, path in enumerate(run.files)]
    jobs = auto_jobs([path for *_, path in files], jobs, rows=True)
    if jobs <= 1:
        for walk in walk_runs(reader, jobs=1, chunk_size=request.chunk_size, progress=progress):
            assembler = request.assembler(walk.run.name, walk.purge)
            yield walk, (request.rows(assembler.feed(n, chunk)) for n, chunk in walk)
        return
    progress = progress or Progress()
    runs = reader.runs
    progress.files_total = len(files)
    progress.bytes_total = sum(file_size(path) for *_, path in files)
    progress.update()
    pool = AssemblyPool(request, files, jobs)
    ahead = Spooled([path for *_, path in files] if reader.purge else ())
    since = len(reader.problems)
    try:
        for run in runs:
            walk = RunChunks(run, iter(()), reader.purge)
            yield walk, _run_rows(reader, request, walk, pool, progress)
            ahead.release(run.files)
    finally:
        ahead.close()
        pool.close()
    reader.check_damage(since)


def _run_rows(
    reader: WalkedReader, request: RowRequest, walk: RunChunks, pool: AssemblyPool,
    progress: Progress,
) -> Iterator[ChunkRows]:  # fmt: skip

    run: Run = walk.run
    registry: dict[str, Any] = {}  # tag -> the run's metadata for it (the first registered)
    for number, path in enumerate(run.files):
        earlier = dict(registry)
        handed = 0
        end: _End | None = None
        messages = pool.messages()
        for message in messages:
            if isinstance(message, _Chunk) and not _conflicts(message.uses, registry):
                for tag, metadata in message.registered.items():
                    registry.setdefault(tag, metadata)
                walk.handed_over(message.restarts, message.next)
                handed += 1
                yield _later_restarts_applied(walk, message)
                progress.bytes += message.bytes_read
                progress.update()
            elif isinstance(message, _End):
                end = message
            else:  # read the rest of the file here; the worker's stream of it is let go
                for _ in messages:
                    pass
                yield from _read_here(reader, request, walk, number, path, earlier, handed,
                                      registry, progress)  # fmt: skip
                break
        if end is not None:
            record_file(reader, path, end)
            count_file(progress, end.bytes_read)


def _later_restarts_applied(walk: RunChunks, message: _Chunk) -> ChunkRows:
    """A worker's rows without those that restarts the main process knows of, later in the
    run than the chunk, erase (after a look-ahead, :meth:`RunChunks.complete`, held rows are
    not held any more; the worker knew only its file's restarts up to the chunk)."""
    if not walk.purge or message.next is None:
        return message.rows
    number, _, index = message.next
    limit = walk.purge.limit_after((number, index - 1))
    return message.rows if limit is None else message.rows.purged(limit)


def _conflicts(uses: dict[str, list[Any]], registry: dict[str, Any]) -> bool:
    """Did a worker classify values of a tag with other metadata than the run's?"""
    for tag, metas in uses.items():
        if tag in registry and any(m is None or m != registry[tag] for m in metas):
            return True
    return False


def _read_here(
    reader: WalkedReader, request: RowRequest, walk: RunChunks, number: int, path: str,
    earlier: dict[str, Any], skip: int, registry: dict[str, Any], progress: Progress,
) -> Iterator[ChunkRows]:  # fmt: skip
    """File ``number`` read in this process, as without workers, its first ``skip`` chunks
    (handed over by a worker already) fed only for the state they leave."""
    assembler = request.assembler(walk.run.name, walk.purge)
    for tag, metadata in earlier.items():
        assembler.seed_metadata(tag, metadata)
    scan = request.scan(path)
    done = 0
    seen = 0
    try:
        for chunk in scan:
            if seen < skip:  # handed over by the worker: its restarts and bytes are counted
                assembler.feed(number, chunk)
                seen += 1
                done = scan.bytes_read
                continue
            restarts = chunk_restarts(number, chunk) if request.purge else []
            walk.handed_over(restarts, chunk_next(number, chunk))
            yield request.rows(assembler.feed(number, chunk))
            progress.bytes += scan.bytes_read - done
            done = scan.bytes_read
            progress.update()
    finally:
        for tag, metadata in assembler.registrations().items():
            registry.setdefault(tag, metadata)
        record_file(reader, path, scan)
    count_file(progress, scan.bytes_read - done)
