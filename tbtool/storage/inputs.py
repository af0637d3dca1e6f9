"""Opening a PATH for reading: a local file, a local copy of a remote object, or ranged
reads of it, behind one unbuffered binary file interface.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO

from tbtool.storage import spool
from tbtool.storage.paths import is_url
from tbtool.storage.remote_file import RemoteFile


# -- --------------------------------------------------------------------------------------
class LocalInput(io.FileIO):
    """A local file whose reads never allocate more than the file holds.

    Readers ask for a whole record at once, and a record's length comes from the file: a
    16-byte header may claim up to 2 GiB. ``FileIO.read(n)`` allocates ``n`` bytes before
    it reads, so a large request is first cut to what is left of the file (a growing file's
    new bytes are read by the next call, as at any end of data).
    """

    def read(self, size: int | None = -1) -> bytes:
        return super().read(None if size is None else readable_size(self, size))

    def remaining(self) -> int:
        """Bytes after the position now (a buffer for a read need be no larger)."""
        return max(0, os.fstat(self.fileno()).st_size - self.tell())


#: Reads up to this size go straight through (no ``fstat``): their buffer is cheap.
_SMALL_READ = 1 << 20


def readable_size(f: Any, size: int) -> int:
    """``size`` cut to what ``f`` holds after its position, for a buffer sized from a record
    header (which may claim 2 GiB in a tiny file): allocate no more than can be read. Small
    requests, and files that cannot tell (no ``remaining()``), pass unchanged; bytes a
    growing file gets later are read by the next call, as at any end of data."""
    remaining = getattr(f, "remaining", None)
    if size > _SMALL_READ and remaining is not None:
        return min(size, remaining())
    return size


def open_input(path: str | os.PathLike) -> BinaryIO:
    """An unbuffered binary reader: the file itself, a local copy of a remote object held
    by :mod:`tbtool.storage.spool`, or a :class:`~tbtool.storage.remote_file.RemoteFile`
    (which reads at most the object's size)."""
    if not is_url(path):
        return LocalInput(path)
    local = spool.local_copy(path)  # type: ignore[arg-type]
    if local is not None:
        return LocalInput(local)
    return RemoteFile(path)  # type: ignore[arg-type]


def local_path(path: str) -> str | None:
    """A local file holding ``path``'s bytes (``path`` itself, or a spooled copy), or
    ``None`` (for example to decide whether ``mmap`` is possible)."""
    if not is_url(path):
        return path
    return spool.local_copy(path)


def read_bytes(path: str) -> bytes:
    with open_input(path) as f:
        return f.read()
