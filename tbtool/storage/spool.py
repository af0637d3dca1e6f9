"""Local copies of remote objects that are read more than once, downloaded ahead of need.

Reading a run takes two passes over its files: a quick search for restarts (purge semantics
need the STARTs that come *after* a value) and the read itself; validate, merge and purge
read files twice too. Through a network that would mean downloading everything twice. A
caller that is about to read remote files registers them (:func:`spooled`, in read order):
background threads then download them, a few files ahead, into a temporary directory, with
parallel ranged requests; :func:`tbtool.storage.inputs.open_input` serves registered URLs from
their copies, and the caller releases each run's files when done, which deletes them.

Bounds: downloads run at most :data:`AHEAD_BYTES` ahead of what the caller holds, and copies
never exceed :data:`MAX_BYTES` in all (``TBTOOL_SPOOL_BYTES``); beyond that a file is simply
read remotely. A copy is a snapshot of the object at download time. Local paths are never
copied: :func:`spooled` of local files costs nothing.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from tbtool.storage import filesystems as storage

AHEAD_BYTES = 512 << 20
MAX_BYTES = int(os.environ.get("TBTOOL_SPOOL_BYTES", 8 << 30))
#: Objects larger than this are fetched as parallel ranges of this size.
PART_SIZE = 8 << 20
PARALLEL_PARTS = 8
WORKERS = 2


@dataclass(eq=False)
class _Copy:
    url: str
    size: int
    refs: int = 0
    state: str = "queued"  # queued, loading, ready, failed, remote
    local: str | None = None
    done: threading.Event = field(default_factory=threading.Event)


class _Spool:
    def __init__(self) -> None:
        self.lock = threading.Condition(threading.Lock())
        self.copies: dict[str, _Copy] = {}
        self.queue: deque[_Copy] = deque()
        self.held = 0  # bytes of copies loading or ready
        self.workers: list[threading.Thread] = []
        self.directory: str | None = None

    # -- registration ---------------------------------------------------------------------------
    def register(self, urls: Sequence[str]) -> None:
        new = []
        for url in urls:
            with self.lock:
                copy = self.copies.get(url)
                if copy is not None:
                    copy.refs += 1
                    continue
            try:
                size = storage.stat(url).size
            except Exception:
                continue
            with self.lock:
                copy = self.copies.get(url)
                if copy is None:
                    copy = self.copies[url] = _Copy(url, size)
                    new.append(copy)
                copy.refs += 1
        with self.lock:
            self.queue.extend(new)
            while len(self.workers) < WORKERS and self.queue:
                thread = threading.Thread(target=self._work, name="tbtool-spool", daemon=True)
                self.workers.append(thread)
                thread.start()
            self.lock.notify_all()

    def release(self, urls: Iterable[str]) -> None:
        for url in urls:
            with self.lock:
                copy = self.copies.get(url)
                if copy is None:
                    continue
                copy.refs -= 1
                if copy.refs > 0:
                    continue
                del self.copies[url]
                if copy.state == "queued":
                    with contextlib.suppress(ValueError):
                        self.queue.remove(copy)
                    copy.state = "remote"
                    copy.done.set()
                    continue
                loading = copy.state == "loading"
            if not loading:
                self._drop(copy)
            # A copy still loading is dropped by its loader (it sees refs == 0).
            with self.lock:
                self.lock.notify_all()

    def _drop(self, copy: _Copy) -> None:
        if copy.local is not None:  # freeing a large file's pages takes a while: not here
            try:
                _unlinker().submit(_unlink, copy.local)
            except RuntimeError:  # the interpreter is exiting (a command failed mid-read)
                _unlink(copy.local)
        with self.lock:
            if copy.state in ("ready", "loading"):
                self.held -= copy.size
            copy.state = "dropped"
            self.lock.notify_all()

    # -- use ------------------------------------------------------------------------------------
    def local_copy(self, url: str) -> str | None:
        with self.lock:
            copy = self.copies.get(url)
            if copy is None:
                return None
            mine = copy.state == "queued"
            if mine:  # needed now: load it here, even past the read-ahead bound
                self.queue.remove(copy)
                if self.held + copy.size > MAX_BYTES:
                    copy.state = "remote"
                    copy.done.set()
                    return None
                copy.state = "loading"
                self.held += copy.size
        if mine:
            self._load(copy)
        copy.done.wait()
        return copy.local if copy.state == "ready" else None

    # -- loading --------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self.lock:
                while not self.queue or (
                    self.held > 0 and self.held + self.queue[0].size > AHEAD_BYTES
                ):
                    if not self.lock.wait(timeout=30) and not self.queue:
                        self.workers.remove(threading.current_thread())
                        return
                copy = self.queue.popleft()
                copy.state = "loading"
                self.held += copy.size
            self._load(copy)

    def _load(self, copy: _Copy) -> None:
        try:
            local = self._path()
            _download(copy.url, copy.size, local)
        except Exception:
            with self.lock:
                copy.state = "failed"
                self.held -= copy.size
                copy.done.set()
                self.lock.notify_all()
            return
        with self.lock:
            copy.local = local
            copy.state = "ready"
            orphan = copy.refs <= 0 and self.copies.get(copy.url) is not copy
            copy.done.set()
        if orphan:
            self._drop(copy)

    def _path(self) -> str:
        with self.lock:
            if self.directory is None or not os.path.isdir(self.directory):
                self.directory = tempfile.mkdtemp(prefix="tbtool-spool-")
            directory = self.directory
        fd, path = tempfile.mkstemp(dir=directory)
        os.close(fd)
        return path

    def cleanup(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


_unlink_pool: ThreadPoolExecutor | None = None


def _unlinker() -> ThreadPoolExecutor:
    global _unlink_pool
    if _unlink_pool is None:
        _unlink_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tbtool-spool-rm")
    return _unlink_pool


def _unlink(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _download(url: str, size: int, local: str) -> None:
    fs, key = storage.filesystem(url)
    with storage.remote_errors(url), open(local, "wb") as f:
        if size <= PART_SIZE:
            f.write(fs.cat_file(key, start=0, end=size) if size else b"")
            return
        starts = list(range(0, size, PART_SIZE))
        for i in range(0, len(starts), PARALLEL_PARTS):
            group = starts[i : i + PARALLEL_PARTS]
            ends = [min(size, s + PART_SIZE) for s in group]
            for part in fs.cat_ranges([key] * len(group), group, ends):
                if isinstance(part, BaseException):
                    raise part
                f.write(part)


_spool = _Spool()
atexit.register(lambda: _spool.cleanup())


def _after_fork_in_child() -> None:
    global _spool, _unlink_pool
    _spool = _Spool()
    _unlink_pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def local_copy(url: str) -> str | None:
    """The local copy of a registered URL (waiting for its download), else ``None``."""
    if not _spool.copies:
        return None
    return _spool.local_copy(url)


class Spooled:
    """A registration of remote files; :meth:`release` the ones no longer needed."""

    def __init__(self, urls: Sequence[str]) -> None:
        self._urls = [u for u in urls if storage.is_url(u)]
        self._held = list(self._urls)
        if self._urls:
            _spool.register(self._urls)

    def release(self, urls: Iterable[str]) -> None:
        if not self._held:
            return
        urls = [u for u in urls if u in self._held]
        for url in urls:
            self._held.remove(url)
        _spool.release(urls)

    def close(self) -> None:
        if self._held:
            held, self._held = self._held, []
            _spool.release(held)


@contextlib.contextmanager
def spooled(urls: Sequence[str]) -> Iterator[Spooled]:
    """Download the remote ones among ``urls`` (in this order) for the duration."""
    handle = Spooled(urls)
    try:
        yield handle
    finally:
        handle.close()
