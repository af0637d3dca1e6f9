"""One event file, appended to by a background thread.

The caller's thread only appends serialized ``Event`` payloads to a list (an atomic,
lock-free operation in CPython) and wakes the writer thread when it was idle. The writer
thread takes everything queued, frames it as TFRecords (format.md §1) and hands it to the OS
in one ``write`` per batch, so a busy training loop pays for neither framing nor system calls.

Guarantees:

* Events reach the file in the order they were queued; each batch is written whole, so a
  crash leaves complete records followed by at most one truncated tail.
* ``flush()`` returns once everything queued before it is in the file (visible to readers);
  ``close()`` also ``fsync``\\ s. In between, the file is ``fsync``\\ ed every ``flush_secs``
  when something was written.
* Memory is bounded: small payloads by count, large ones by bytes. A producer that gets
  ahead of the disk by more than that waits (back-pressure).
* A failure of the writer thread (disk full, file deleted) is stored and raised by the next
  call, ``flush()`` or ``close()``; queued data is dropped from then on, since it cannot be
  written.
* File names follow TensorBoard's ``EventFileWriter`` (format.md §4.1; ``file_names``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import struct
import sys
import threading
import time
import weakref
from typing import Any

import crc32c
import numpy as np

from tbtool.errors import TbtoolError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.writer import file_names, wire

#: ``Event.file_version`` of every file (format.md §2.2).
FILE_VERSION = "brain.Event:2"
#: ``SourceMetadata.writer`` of the first event: who wrote the file.
WRITER_NAME = "tbtool.writer"

#: Payloads up to this size are bounded by count, larger ones by bytes.
SMALL_PAYLOAD = 1024
#: Small payloads that may wait for the writer thread (at most 32 MiB of them).
MAX_PENDING_ITEMS = 32768
#: Bytes of large payloads that may wait for the writer thread.
DEFAULT_MAX_PENDING_BYTES = 32 << 20
#: Seconds the writer thread waits for more events before it goes idle (an idle thread
#: costs the next producer a wake-up).
LINGER = 0.005
#: Bytes framed per ``write`` call.
WRITE_CHUNK = 1 << 20

_MASK_DELTA = 0xA282EAD8
_U32 = 0xFFFFFFFF
_pack_u32 = struct.Struct("<I").pack
_pack_u64 = struct.Struct("<Q").pack


class EventWriteError(TbtoolError, OSError):
    """The writer thread could not write the event file (disk full, file deleted, ...).

    Raised by the call after the failure, and by every later call until ``close()``."""


class WriterForkedError(TbtoolError, RuntimeError):
    """The writer was created in a parent process; a forked child cannot write through it."""


class WriterClosedError(TbtoolError, OSError):
    """The low-level event file writer was closed."""


def frame(payloads: list[bytes]) -> bytes:
    """TFRecord framing of many payloads at once (same bytes as ``record.encode_record``).

    The writer thread's hot loop: the masked CRC (format.md §1.2) is inlined; adding
    before masking to 32 bits is fine since the bits above 32 do not affect the low ones."""
    parts: list[bytes] = []
    append = parts.append
    header_of = _headers.get
    crc32 = crc32c.crc32c
    pack = _pack_u32
    for payload in payloads:
        n = len(payload)
        append(header_of(n) or _header(n))
        append(payload)
        crc = crc32(payload)
        append(pack(((crc >> 15 | crc << 17) + _MASK_DELTA) & _U32))
    return b"".join(parts)


_headers: dict[int, bytes] = {}


def _header(length: int) -> bytes:
    """Length and its masked CRC; cached, since event sizes repeat."""
    header = _headers.get(length)
    if header is None:
        raw = _pack_u64(length)
        header = raw + _pack_u32(masked_crc32c(raw))
        if length < 4096:
            _headers[length] = header
    return header


class _Marker:
    """A flush or close request travelling through the queue behind the data it covers."""

    __slots__ = ("close", "done")

    def __init__(self, close: bool = False) -> None:
        self.close = close
        self.done = threading.Event()


class EventFileWriter:
    """Creates one event file in ``logdir`` and appends serialized ``Event``\\ s to it.

    The first record is ``Event{file_version, source_metadata}``; with ``purge_step=T`` it
    is followed by ``Event{step=T, file_version}`` and ``Event{step=T, session_log=START}``
    (format.md §4.1). These are on disk when the constructor returns.
    """

    def __init__(
        self,
        logdir: str,
        *,
        flush_secs: float = 120,
        filename_suffix: str = "",
        purge_step: int | None = None,
        max_pending_bytes: int = DEFAULT_MAX_PENDING_BYTES,
    ) -> None:
        self.logdir = logdir
        try:
            self.flush_secs = max(float(flush_secs), 0.0)  # 0: fsync after every batch
        except (TypeError, ValueError):
            raise TypeError(f"flush_secs must be a number, not {flush_secs!r}") from None
        self._max_items = MAX_PENDING_ITEMS
        self._max_bytes = max(int(max_pending_bytes), SMALL_PAYLOAD)
        self.path, self._file = self._create_file(logdir, filename_suffix)
        # Producers append; the writer thread takes a prefix with one slice and one del
        # (each atomic in CPython), so producers never take a lock.
        self._queue: list[Any] = []
        self._markers = 0  # flush/close markers ever queued (counted before queuing)
        self._cond = threading.Condition(threading.Lock())
        self._idle = False
        self._blocked = 0  # producers waiting for room
        self._big_bytes = 0  # bytes of queued payloads larger than SMALL_PAYLOAD
        # Set when writing must stop: a failure (``_failure``), close, or a fork.
        self._error: BaseException | None = None
        self._failure: BaseException | None = None
        self._closed = False
        self._close_lock = threading.Lock()
        self._unsynced = False
        self._sync_due = 0.0
        self._pid_created = os.getpid()
        self._markers_seen = 0
        self._in_hand: list[Any] = []  # the batch the writer thread is working on
        now = time.time()
        first = [
            wire.event_bytes(
                now,
                None,
                wire.length_delimited(3, FILE_VERSION.encode())
                + wire.message_field(
                    wire.EVENT_SOURCE_METADATA, wire.length_delimited(1, WRITER_NAME.encode())
                ),
            )
        ]
        if purge_step is not None:
            first.append(
                wire.event_bytes(now, purge_step, wire.length_delimited(3, FILE_VERSION.encode()))
            )
            # SessionLog{status: START} is the single varint field 1 = 1.
            first.append(
                wire.event_bytes(
                    now, purge_step, wire.message_field(wire.EVENT_SESSION_LOG, b"\x08\x01")
                )
            )
        try:
            self._write(frame(first))
        except BaseException:
            self._file.close()
            os.remove(self.path)
            raise
        self._thread = threading.Thread(
            target=self._run, name=f"tbtool-writer:{os.path.basename(self.path)}", daemon=True
        )
        self._thread.start()
        _open_writers.add(self)

    def _create_file(self, logdir: str, suffix: str) -> tuple[str, Any]:
        """The new event file: path and unbuffered binary file (``upload`` overrides)."""
        os.makedirs(logdir, exist_ok=True)
        return file_names.create(logdir, suffix)

    def _flushed(self) -> None:
        """Called by the writer thread once a ``flush()``'s events are written."""

    # -- producer side ------------------------------------------------------------------------
    def write(self, payload: bytes) -> None:
        """Queue one serialized ``Event`` (returns at once unless the queue is full)."""
        if self._error is not None:
            self.raise_error()
        n = len(payload)
        if n > SMALL_PAYLOAD:
            self._write_big(payload, n)
            return
        queue = self._queue
        queue.append(payload)
        if self._idle:
            self.wake()
        if len(queue) > self._max_items:
            self.wait_for_room()

    def _write_big(self, payload: bytes, n: int) -> None:
        with self._cond:
            self._big_bytes += n
            self._queue.append(payload)
            # Like small payloads, wake the thread only when it is idle: waking it on every
            # call would hand it the GIL whenever numpy releases it in the caller's thread.
            if self._idle or self._big_bytes > self._max_bytes:
                self._cond.notify()
            while self._big_bytes > self._max_bytes and self._big_bytes > n and self._error is None:
                self._blocked += 1
                try:
                    self._cond.wait()
                finally:
                    self._blocked -= 1
        if self._error is not None:
            self.raise_error()

    def wake(self) -> None:
        """Wake the writer thread (cheap; callers do it only when it is idle)."""
        with self._cond:
            self._cond.notify()

    def wait_for_room(self) -> None:
        """Back-pressure: wait until the writer thread has caught up."""
        with self._cond:
            self._cond.notify()
            while len(self._queue) > self._max_items // 2 and self._error is None:
                self._blocked += 1
                try:
                    self._cond.wait()
                finally:
                    self._blocked -= 1
        if self._error is not None:
            self.raise_error()

    def raise_error(self) -> None:
        """Raise what stops this writer: the writer thread's failure, close, or a fork."""
        if self._failure is not None:
            raise EventWriteError(
                f"writing events failed: {self._failure}", file=self.path
            ) from self._failure
        if isinstance(self._error, WriterForkedError):
            raise WriterForkedError(str(self._error.message), file=self.path)
        raise WriterClosedError("the event file writer is closed", file=self.path)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def failed(self) -> bool:
        return self._failure is not None

    def flush(self) -> None:
        """Return once every event queued so far is in the file."""
        if self._error is not None:
            self.raise_error()
        marker = _Marker()
        self._queue_marker(marker)
        marker.done.wait()
        if self._failure is not None:
            self.raise_error()

    def _queue_marker(self, marker: _Marker) -> None:
        with self._cond:
            self._markers += 1  # before the marker is visible, so the writer looks for it
            self._queue.append(marker)
            self._cond.notify()

    def close(self) -> None:
        """Write everything queued, ``fsync`` and close the file; stop the thread.

        A second ``close()`` does nothing. Raises the writer thread's failure, if any."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        _open_writers.discard(self)
        if isinstance(self._error, WriterForkedError):
            return
        if self._error is None:
            self._error = WriterClosedError("closed")
        self._queue_marker(_Marker(close=True))
        self._thread.join()
        if self._failure is not None:
            self.raise_error()

    # -- writer thread ------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]

    def _run(self) -> None:
        queue, cond = self._queue, self._cond
        try:
            while True:
                with cond:
                    self._idle = True
                    while not queue:
                        if self._unsynced and time.monotonic() >= self._sync_due:
                            break
                        cond.wait(self._sync_due - time.monotonic() if self._unsynced else None)
                    self._idle = False
                if not queue:
                    self._sync()
                    continue
                while True:
                    if self._drain():
                        return
                    # Linger before going idle: while events keep coming, producers find
                    # the thread busy and never pay for waking it (flush and close still
                    # cut the wait short).
                    with cond:
                        if not queue:
                            cond.wait(LINGER)
                    if not queue:
                        break
        except BaseException as e:
            self._fail(e)

    def _take(self) -> list[Any]:
        queue = self._queue
        n = len(queue)
        items = queue[:n]
        del queue[:n]
        return items

    def _drain(self) -> bool:
        """Write everything queued; True when a close marker was reached."""
        while self._queue:
            items = self._in_hand = self._take()
            if self._markers > self._markers_seen:
                markers = [i for i, item in enumerate(items) if type(item) is not bytes]
            else:
                markers = []
            start = 0
            for i in markers:
                self._write_payloads(items[start:i])
                start = i + 1
                marker = items[i]
                self._markers_seen += 1
                if marker.close:
                    self._sync()
                    self._file.close()
                    marker.done.set()
                    return True
                self._flushed()
                marker.done.set()
            self._write_payloads(items[start:] if start else items)
            self._in_hand = []
        return False

    def _write_payloads(self, payloads: list[bytes]) -> None:
        """Write in chunks of about WRITE_CHUNK bytes."""
        if not payloads:
            return
        lengths = np.fromiter(map(len, payloads), np.int64, len(payloads))
        bigs = np.where(lengths > SMALL_PAYLOAD, lengths, 0)
        cum = np.cumsum(lengths)
        if cum[-1] <= WRITE_CHUNK:
            self._write_batch(payloads, int(bigs.sum()))
            return
        ends = np.searchsorted(cum, np.arange(WRITE_CHUNK, cum[-1], WRITE_CHUNK), "left") + 1
        start = 0
        for end in [*np.unique(ends).tolist(), len(payloads)]:
            if end > start:
                self._write_batch(payloads[start:end], int(bigs[start:end].sum()))
                start = end

    def _write_batch(self, payloads: list[bytes], big: int) -> None:
        if not payloads:
            return
        self._write(frame(payloads))
        if big or self._blocked:
            with self._cond:
                self._big_bytes -= big
                self._cond.notify_all()
        if os.fstat(self._file.fileno()).st_nlink == 0:
            raise FileNotFoundError(f"the event file {self.path} was deleted")
        if not self._unsynced:
            self._unsynced = True
            self._sync_due = time.monotonic() + self.flush_secs

    def _sync(self) -> None:
        if self._unsynced:
            self._unsynced = False
            os.fsync(self._file.fileno())

    def _fail(self, error: BaseException) -> None:
        """Remember the failure, release everyone waiting, discard what cannot be written."""
        self._failure = error
        self._error = error
        with contextlib.suppress(OSError):
            self._file.close()
        with self._cond:
            self._big_bytes = 0
            self._cond.notify_all()
        # Keep serving the queue so that no flush() or close() waits forever, starting with
        # the batch that was being written.
        items, self._in_hand = self._in_hand, []
        while True:
            for item in items:
                if type(item) is not bytes:
                    item.done.set()
                    if item.close:
                        return
            with self._cond:
                self._idle = True
                while not self._queue:
                    self._cond.wait()
                self._idle = False
            items = self._take()

    def _after_fork_in_child(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._close_lock = threading.Lock()
        self._queue = []
        self._idle = False
        self._error = WriterForkedError(
            f"this writer was created by process {self._pid_created}; a forked child process "
            "must create its own writer"
        )
        self._closed = True
        with contextlib.suppress(OSError):
            self._file.close()


_open_writers: weakref.WeakSet[EventFileWriter] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for writer in list(_open_writers):
        try:
            writer.close()
        except Exception as e:
            print(f"tbtool: closing {writer.path} at exit failed: {e}", file=sys.stderr)


def _after_fork_in_child() -> None:
    for writer in list(_open_writers):
        writer._after_fork_in_child()
    _open_writers.clear()


atexit.register(_close_all_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
