"""Reading files in parallel processes (``--jobs N``), handed over in read order.

Worker processes scan whole files into value indexes and look for restarts (the expensive,
independent parts); the main process assembles them in read order, because a run's
normalization rules depend on what came before. A file whose scan met any problem is read
again in the main process, so errors and skipped records are reported exactly as without
``--jobs``. Memory: up to ``jobs`` files' indexes are held at once.

:func:`auto_jobs` resolves ``jobs``: ``0`` is every usable core, but only for local inputs
large enough that starting worker processes pays (:data:`MIN_PARALLEL_BYTES`).
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
from tbtool.columnar.scan import FileScan
from tbtool.errors import TbtoolError
from tbtool.purge import Restart, find_restarts, may_hold_a_start_streamed, restarts_in_file
from tbtool.record import ReadState

#: Below this many bytes of input, reading in one process is as fast (forking workers and
#: moving indexes between processes costs more than it saves on small logdirs).
MIN_PARALLEL_BYTES = 64 << 20
#: Files larger than this are read in one process: a worker hands over a whole file's value
#: index, and the main process holds up to ``jobs`` of them, so large files would break the
#: bounded memory of a streaming export (1 GB in 125 MB files: 673 MB with 2 jobs, 217 MB
#: with one; docs/performance.md).
MAX_PARALLEL_FILE_BYTES = 64 << 20
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


def auto_jobs(files: Sequence[str], jobs: int | None) -> int:
    """The processes to read ``files`` with: ``jobs`` if positive, :data:`DEFAULT_JOBS` if
    ``None``; ``0`` (the CLI's default) means
    every usable core for at least two local files holding :data:`MIN_PARALLEL_BYTES` in
    all, none larger than :data:`MAX_PARALLEL_FILE_BYTES`; else 1 (remote files are fetched
    ahead by the main process instead)."""
    if jobs is None:
        jobs = DEFAULT_JOBS
    if jobs > 0:
        return jobs
    cores = usable_cores()
    if cores < 2 or len(files) < 2:
        return 1
    total = 0
    for path in files:
        local = storage.local_path(path)
        if local is None:
            return 1
        try:
            size = os.path.getsize(local)
        except OSError:
            continue
        if size > MAX_PARALLEL_FILE_BYTES:
            return 1
        total += size
    return min(cores, len(files)) if total >= MIN_PARALLEL_BYTES else 1


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


def _scan(path: str, skip_corrupt: bool, options: dict[str, Any]) -> ScannedFile | None:
    scan = FileScan(path, skip_corrupt=skip_corrupt, **options)
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


def _restarts(path: str) -> list[Restart]:
    return restarts_in_file(path, 0, may_hold_a_start_streamed)


class Prefetcher:
    """Hands out a scan per file, in the order given; ``jobs`` workers read ahead. With
    ``restarts``, the workers first look for every file's restarts (small answers, needed
    before a run's first value can be kept or dropped)."""

    def __init__(
        self,
        files: Sequence[str],
        jobs: int,
        skip_corrupt: bool,
        options: dict[str, Any],
        restarts: bool = False,
    ) -> None:
        self.skip_corrupt = skip_corrupt
        self.options = options
        self._todo = deque(files)
        self._running: deque[tuple[str, Future]] = deque()
        self._pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 and files else None
        self._jobs = jobs
        self._restarts: dict[str, Future] = {}
        if self._pool is not None and restarts:
            self._restarts = {path: self._pool.submit(_restarts, path) for path in files}
        self._fill()

    def restarts(self, files: Sequence[str]) -> list[Restart]:
        """The restarts of a run whose files are ``files`` (in read order), as
        :func:`~tbtool.purge.find_restarts` finds them."""
        if not all(path in self._restarts for path in files):
            return find_restarts(files, may_hold_a_start_streamed)
        found: list[Restart] = []
        for number, path in enumerate(files):
            for r in self._restarts.pop(path).result():
                found.append(Restart((number, r.position[1]), r.step, r.offset))
        return found

    def _fill(self) -> None:
        while self._pool is not None and self._todo and len(self._running) < self._jobs:
            path = self._todo.popleft()
            future = self._pool.submit(_scan, path, self.skip_corrupt, self.options)
            self._running.append((path, future))

    def take(self, path: str) -> FileScan | ScannedFile:
        """The scan of ``path`` (the next file in order)."""
        if self._running and self._running[0][0] == path:
            _, future = self._running.popleft()
            self._fill()
            result = future.result()
            if result is not None:
                return result
        return FileScan(path, skip_corrupt=self.skip_corrupt, **self.options)

    def close(self) -> None:
        if self._pool is not None:
            for _, future in self._running:
                future.cancel()
            for future in self._restarts.values():
                future.cancel()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
