"""The batch path's driver: every run of a reader, its files in read order, a chunk at a time.

Exports, ``ls``, ``dump``, ``check`` and the readers all walk a logdir the same way: runs by
name; per run its restarts first (purge semantics need the STARTs that come *after* a value),
then each file's chunks in order, read ahead by worker processes with ``jobs`` > 1 and
fetched ahead when remote. How each file's reading ended (events, read state, where it
stopped) lands in the reader's ``file_status`` and its damaged records in ``problems``,
exactly as the per-event iterator records them: a damaged record is skipped, and a walk
that ends raises :class:`~tbtool.errors.DamagedFiles` naming every damaged file it met
unless the reader has ``skip_corrupt`` (:class:`~tbtool.reader.LogReader`). Counters for a
progress display are updated as bytes are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tbtool import storage
from tbtool.columnar.index import ChunkIndex
from tbtool.columnar.parallel import Prefetcher, auto_jobs
from tbtool.errors import TbtoolError
from tbtool.purge import PurgeFilter
from tbtool.spool import Spooled

if TYPE_CHECKING:
    from tbtool.logdir import Run
    from tbtool.reader import LogReader


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


@dataclass
class RunChunks:
    """One run being walked: its restarts and, iterated, ``(file number, chunk)`` in read
    order. Iterate it fully before asking the walk for the next run."""

    run: Run
    purge: PurgeFilter
    chunks: Iterator[tuple[int, ChunkIndex]]

    def __iter__(self) -> Iterator[tuple[int, ChunkIndex]]:
        return self.chunks


def file_size(path: str) -> int:
    """Size of a file or object, 0 when it cannot be known (it is reported when read)."""
    try:
        return storage.size(path)
    except (OSError, TbtoolError):
        return 0


def walk_runs(
    reader: LogReader,
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
    prefetch = Prefetcher(files, auto_jobs(files, jobs), options, restarts=reader.purge)
    # Remote files are read twice (restarts, then values): fetch each once, runs ahead.
    ahead = Spooled(files if reader.purge else ())
    since = len(reader.problems)
    try:
        for run in runs:
            purge = PurgeFilter(prefetch.restarts(run.files) if reader.purge else ())
            yield RunChunks(run, purge, _run_chunks(reader, run, prefetch, progress))
            ahead.release(run.files)
    finally:
        ahead.close()
        prefetch.close()
    reader.check_damage(since)


def _run_chunks(
    reader: LogReader, run: Run, prefetch: Prefetcher, progress: Progress
) -> Iterator[tuple[int, ChunkIndex]]:
    from tbtool.reader import FileStatus

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
            reader.problems.extend(scan.problems)
            reader.file_status[path] = FileStatus(
                scan.events, scan.state, scan.end_offset, scan.pending_bytes
            )
        progress.bytes += scan.bytes_read - done
        progress.files += 1
        progress.update()
