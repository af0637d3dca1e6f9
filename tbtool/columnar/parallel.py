"""Reading files in parallel processes (``--jobs N``), handed over in read order.

Worker processes scan whole files into value indexes (the expensive, independent part);
the main process assembles them in read order, because a run's normalization rules depend on
what came before. A file whose scan met any problem is read again in the main process, so
errors and skipped records are reported exactly as without ``--jobs``. Memory: up to ``jobs``
files' indexes are held at once.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from tbtool.columnar.index import ChunkIndex
from tbtool.columnar.scan import FileScan
from tbtool.errors import TbtoolError
from tbtool.record import ReadState


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


class Prefetcher:
    """Hands out a scan per file, in the order given; ``jobs`` workers read ahead."""

    def __init__(
        self, files: Sequence[str], jobs: int, skip_corrupt: bool, options: dict[str, Any]
    ) -> None:
        self.skip_corrupt = skip_corrupt
        self.options = options
        self._todo = deque(files)
        self._running: deque[tuple[str, Future]] = deque()
        self._pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 and files else None
        self._jobs = jobs
        self._fill()

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
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
