"""Reading a remote object as an unbuffered binary file: ranged reads, read ahead, growth.

Readers of event files (:class:`~tbtool.format.record.RecordReader`, the batch reader) read a file
front to back in large pieces, and a live run's file keeps growing. So this file object
fetches byte ranges of at least :data:`BLOCK_SIZE`, starts fetching the next range in the
background while the caller works on the current one, and treats the object's size as a
moving end: the first read at the end returns ``b""`` (the data ended), and a later read
there asks the server again and goes on if the object has grown (an object store replaces
the whole object on each upload: appended data is a new, longer object with the same
beginning). That is how ``dump --follow`` tails a remote file.
"""

from __future__ import annotations

import io
from concurrent.futures import Future, ThreadPoolExecutor

from tbtool.storage import filesystems as storage

BLOCK_SIZE = 8 << 20
#: The first request is small (a probe of a file's first record should not fetch 8 MB);
#: each sequential one doubles, up to ``BLOCK_SIZE``.
FIRST_SPAN = 256 << 10
_pool: ThreadPoolExecutor | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="tbtool-read-ahead")
    return _pool


class RemoteFile(io.RawIOBase):
    """A read-only, seekable view of one remote object (see the module docs)."""

    def __init__(self, url: str, *, block_size: int = BLOCK_SIZE) -> None:
        super().__init__()
        self.name = url
        self.block_size = block_size
        self._size = storage.stat(url).size  # raises FileNotFoundError naming the URL
        self._pos = 0
        self._buf = b""
        self._buf_start = 0
        self._ahead: tuple[int, int, Future] | None = None
        self._span = min(FIRST_SPAN, block_size)
        self._at_end = False  # the last read returned b"" at the end

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def remaining(self) -> int:
        """Bytes of the object after the position, as last seen (it may grow)."""
        return max(0, self._size - self._pos)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset += self._pos
        elif whence == io.SEEK_END:
            offset += self._size
        self._pos = max(0, offset)
        self._at_end = False
        return self._pos

    @property
    def size(self) -> int:
        """The object's size as last seen."""
        return self._size

    def _range(self, start: int, end: int) -> bytes:
        ahead = self._ahead
        if ahead is not None:
            self._ahead = None
            a_start, a_end, future = ahead
            if a_start == start and a_end >= end:
                return future.result()
            future.cancel()
        return storage.fetch(self.name, start, end)

    def _read_ahead(self, start: int) -> None:
        end = min(self._size, start + self._span)
        if end > start:
            self._ahead = (start, end, _executor().submit(storage.fetch, self.name, start, end))

    def read(self, n: int = -1) -> bytes:
        if self.closed:
            raise ValueError("read of a closed file")
        pos = self._pos
        if pos >= self._size:
            if not self._at_end:
                self._at_end = True
                return b""
            self._size = max(self._size, storage.stat(self.name, fresh=True).size)
            if pos >= self._size:
                return b""
        self._at_end = False
        want = self._size - pos if n is None or n < 0 else min(n, self._size - pos)
        buf_end = self._buf_start + len(self._buf)
        if self._buf_start <= pos and pos + want <= buf_end:
            start = pos - self._buf_start
            data = self._buf[start : start + want]
        else:
            sequential = self._buf and pos == buf_end
            fetch_end = min(self._size, pos + max(want, self._span))
            head = b""
            if self._buf_start <= pos < buf_end:  # keep the buffered part
                head = self._buf[pos - self._buf_start :]
            fetched = self._range(pos + len(head), fetch_end)
            self._buf = head + fetched if head else fetched
            self._buf_start = pos
            data = self._buf[:want]
            self._span = min(self.block_size, self._span * 2)
            if sequential or head:  # reading front to back: fetch the next range meanwhile
                self._read_ahead(pos + len(self._buf))
        self._pos = pos + len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead[2].cancel()
            self._ahead = None
        self._buf = b""
        super().close()
