"""Reading files in parallel processes (``--jobs N``), handed over in read order.

Table reads (``read_*``, ``export``) hand over finished rows a chunk at a time
(:mod:`tbtool.columnar.rows`: workers assemble their own files). Value-block reads (``ls``,
``dump``, ``check``) use :class:`Prefetcher` here: worker processes scan whole files into value
indexes (restarts are among the records they index) and the main process assembles them in
read order, because a run's normalization rules depend on what came before. A file whose scan
met any problem is read again in the main process, so errors and skipped records are reported
exactly as without ``--jobs``. Memory: up to ``jobs`` files' indexes are held at once.

:func:`auto_jobs` resolves ``jobs``: ``0`` keeps a core for the main process and gives the
others to workers, only for local inputs large enough that starting workers pays
(:data:`MIN_PARALLEL_BYTES`) and only as many workers as keep what they hand over within
:data:`PARALLEL_MEMORY_BUDGET`. On a 2-core machine that is 1 process: measured, 2 lost on
every benchmark workload (docs/performance.md, "The --jobs default").
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tbtool import storage
from tbtool.columnar.index import ChunkIndex
from tbtool.columnar.scan import DEFAULT_CHUNK_SIZE, FileScan
from tbtool.errors import TbtoolError
from tbtool.format.record import ReadState

#: Below this many bytes of input, reading in one process is as fast (forking workers and
#: moving indexes between processes costs more than it saves on small logdirs).
MIN_PARALLEL_BYTES = 64 << 20
#: Bytes of pickled value index a worker hands over per byte of event file, measured: 1.39
#: (69.7 MB for a 50 MB file of scalars + histograms, 7.1 MB for a 4.9 MB file of scalars).
INDEX_BYTES_PER_FILE_BYTE = 1.4
#: Bytes of pickled rows (:mod:`tbtool.columnar.rows`) a worker hands over per byte of event
#: file, measured: 0.64 for scalars + histograms (the 1 GB benchmark logdir) and 0.65 for
#: scalars (10M in 100 runs); a 4 MiB chunk gives a message of at most 2.6 MB.
ROW_BYTES_PER_FILE_BYTE = 0.7
#: What the hand-over waiting in the main process may add to its memory. Indexes: the main
#: process holds up to one whole file's index per worker (and a received copy while
#: unpickling). Rows: up to ``IN_FLIGHT`` + 1 chunks' rows per worker, whatever the file
#: size; a main process that leaves the scan to workers peaked lower than one process
#: alone (155 vs 186 MB exporting 1 GB with ``-j 2``, 1.2x of one process is 223 MB).
PARALLEL_MEMORY_BUDGET = 64 << 20
#: Messages (a chunk's rows each, :mod:`tbtool.columnar.rows`) a worker may have waiting
#: for the main process: what bounds the memory of a read with workers (a chunk's rows are
#: a few MB).
IN_FLIGHT = 2
#: ``jobs`` of a library call that gives none: one process. Starting worker processes inside
#: a user's program is not safe by default (forking a process whose threads hold locks, e.g.
#: torch's or JAX's, can deadlock; spawning re-runs an unguarded ``__main__``). The CLI, in
#: its own process, passes ``0`` (:func:`auto_jobs`) unless told otherwise.
DEFAULT_JOBS = 1


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def auto_jobs(files: Sequence[str], jobs: int | None, *, rows: bool = False) -> int:
    """The processes to read ``files`` with: ``jobs`` if positive, :data:`DEFAULT_JOBS` if
    ``None``; ``0`` (the CLI's default) means one worker per usable core but one, for at least
    two local files holding :data:`MIN_PARALLEL_BYTES` in all, and no more workers than keep
    what they hand over within :data:`PARALLEL_MEMORY_BUDGET`: whole indexes
    (:data:`INDEX_BYTES_PER_FILE_BYTE` x the largest file each) or, with ``rows``, chunks'
    rows in flight (:data:`ROW_BYTES_PER_FILE_BYTE` x a chunk, ``IN_FLIGHT`` + 1 each); fewer
    than 2 workers, or remote files (fetched ahead by the main process instead), mean 1.

    Why a core is kept for the main process: it assembles runs, builds tables and writes
    Parquet, which workers cannot share; measured on 2 cores (docs/performance.md), the main
    process still spent 1.3 s of CPU on 10M scalars in 100 files (2.2 s in one process) and
    4.0 s on 1 GB in 20 files (4.3 s), while the workers spent 1.1x-1.9x the scan's CPU
    scanning and pickling. So on 2 cores ``-j 2`` was slower than ``-j 1`` on every benchmark
    workload (10M/100 files: 3.5 s vs 2.3 s; 1 GB/20 files: 5.1 s vs 4.3 s, 380 MB vs 220 MB
    peak), and the default is 1 there."""
    if jobs is None:
        jobs = DEFAULT_JOBS
    if jobs > 0:
        return jobs
    workers = min(usable_cores() - 1, len(files))
    if workers < 2:
        return 1
    total = largest = 0
    for path in files:
        local = storage.local_path(path)
        if local is None:
            return 1
        try:
            size = os.path.getsize(local)
        except OSError:
            continue
        total += size
        largest = max(largest, size)
    if total < MIN_PARALLEL_BYTES:
        return 1
    if rows:
        chunk = min(max(largest, 1), DEFAULT_CHUNK_SIZE)
        held = ROW_BYTES_PER_FILE_BYTE * chunk * (IN_FLIGHT + 1)
    else:
        held = INDEX_BYTES_PER_FILE_BYTE * max(largest, 1)
    workers = min(workers, int(PARALLEL_MEMORY_BUDGET // held))
    return workers if workers >= 2 else 1


@dataclass
class ScannedFile:
    """A file scanned elsewhere: its chunks and how reading ended (as :class:`FileScan`)."""

    path: str
    chunks: list[ChunkIndex]
    events: int
    state: ReadState
    end_offset: int
    pending_bytes: int
    bytes_read: int
    problems: list[TbtoolError] = field(default_factory=list)

    def __iter__(self) -> Iterator[ChunkIndex]:
        yield from self.chunks
        self.chunks = []


def _scan(path: str, options: dict[str, Any]) -> ScannedFile | None:
    scan = FileScan(path, skip_corrupt=True, **options)
    try:
        chunks = [chunk.detach() for chunk in scan]
    except TbtoolError:
        return None
    if scan.problems:
        return None
    return ScannedFile(
        path,
        chunks,
        scan.events,
        scan.state,
        scan.end_offset,
        scan.pending_bytes,
        scan.bytes_read,
    )


class Prefetcher:
    """Hands out a scan per file, in the order given; ``jobs`` workers read ahead. Damaged
    records are skipped (and collected in the scan's ``problems``), as every batch read
    does."""

    def __init__(
        self,
        files: Sequence[str],
        jobs: int,
        options: dict[str, Any],
    ) -> None:
        self.options = options
        self._todo = deque(files)
        self._running: deque[tuple[str, Future]] = deque()
        self._pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 and files else None
        self._jobs = jobs
        self._fill()

    def _fill(self) -> None:
        while self._pool is not None and self._todo and len(self._running) < self._jobs:
            path = self._todo.popleft()
            future = self._pool.submit(_scan, path, self.options)
            self._running.append((path, future))

    def take(self, path: str) -> FileScan | ScannedFile:
        """The scan of ``path`` (the next file in order)."""
        if self._running and self._running[0][0] == path:
            _, future = self._running.popleft()
            self._fill()
            result = future.result()
            if result is not None:
                return result
        return FileScan(path, skip_corrupt=True, **self.options)

    def close(self) -> None:
        if self._pool is not None:
            for _, future in self._running:
                future.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
