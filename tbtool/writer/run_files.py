"""Which event file each event of a ``SummaryWriter`` goes to, and the writer's life cycle.

A ``SummaryWriter`` owns one main ``FileWriter`` for ``log_dir`` and one per
``add_scalars`` sub-run (``all_writers``, keyed by directory, as in torch). After
``close()`` the next event re-creates the main file (torch's behaviour: a new event file,
next counter, without the ``purge_step`` events).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from datetime import datetime
from typing import Any, TypeVar

from tbtool.writer import wire
from tbtool.writer.convert import to_step
from tbtool.writer.event_file import EventFileWriter
from tbtool.writer.file_writer import FileWriter

_now = time.time
_Writer = TypeVar("_Writer", bound="RunFiles")


class _Closed:
    """Stands in for the event file while the writer is closed, so that the hot path's
    single ``_error`` check sends the next call to :meth:`SummaryWriter._events_for_write`."""

    _error = True


_CLOSED = _Closed()


class RunFiles:
    """The files behind a ``SummaryWriter`` (its constructor's arguments are torch's)."""

    def __init__(
        self,
        log_dir: str | os.PathLike | None,
        comment: str,
        purge_step: int | None,
        max_queue: int,
        flush_secs: float,
        filename_suffix: str,
    ) -> None:
        if not log_dir:
            current_time = datetime.now().strftime("%b%d_%H-%M-%S")
            log_dir = os.path.join("runs", current_time + "_" + socket.gethostname() + comment)
        if purge_step is not None:
            purge_step = to_step(purge_step, "purge_step")
        self.log_dir = log_dir
        self.purge_step = purge_step
        self.max_queue = max_queue
        self.flush_secs = flush_secs
        self.filename_suffix = filename_suffix
        self.file_writer: FileWriter | None = None
        self.all_writers: dict[str, FileWriter] | None = None
        self._events: Any = _CLOSED
        self._lock = threading.RLock()
        self._get_file_writer()

    # -- files --------------------------------------------------------------------------------
    def _get_file_writer(self) -> FileWriter:
        """The main FileWriter; (re)created if the writer was closed (torch's behaviour)."""
        with self._lock:
            if self.all_writers is None or self.file_writer is None:
                self.file_writer = FileWriter(
                    self.log_dir,
                    self.max_queue,
                    self.flush_secs,
                    self.filename_suffix,
                    purge_step=self.purge_step,
                )
                self.all_writers = {self.file_writer.get_logdir(): self.file_writer}
                self.purge_step = None  # a re-created file does not repeat the restart mark
            self._events = self.file_writer.event_writer
            return self.file_writer

    def _events_for_write(self) -> EventFileWriter:
        """Slow path of every write: reopen after close, or raise what stops the file."""
        events = self._get_file_writer().event_writer
        if events._error is not None:
            events.raise_error()
        return events

    def _queue(self, payload: bytes) -> None:
        events = self._events
        if events._error is not None:
            events = self._events_for_write()
        events.write(payload)

    def _add_values(self, values: list[bytes], step: int | None, walltime: Any) -> None:
        wall_time = _now() if walltime is None else walltime
        self._queue(wire.summary_event(wall_time, step, values))

    def _sub_writer(self, path: str) -> FileWriter:
        """The FileWriter of a sub-run directory (``add_scalars``), created on first use."""
        with self._lock:
            self._get_file_writer()
            assert self.all_writers is not None
            writer = self.all_writers.get(path)
            if writer is None:
                writer = FileWriter(path, self.max_queue, self.flush_secs, self.filename_suffix)
                self.all_writers[path] = writer
            return writer

    def get_logdir(self) -> Any:
        """The ``log_dir`` this writer was given (or the default it chose)."""
        return self.log_dir

    # -- lifecycle ----------------------------------------------------------------------------
    def flush(self) -> None:
        """Return once everything logged so far is in the files (main and sub-runs)."""
        with self._lock:
            writers = list(self.all_writers.values()) if self.all_writers else []
        for writer in writers:
            writer.flush()

    def close(self) -> None:
        """Write everything, close all files. Logging again afterwards starts new files
        (torch's behaviour); a second ``close()`` does nothing."""
        with self._lock:
            writers = list(self.all_writers.values()) if self.all_writers else []
            self.file_writer = self.all_writers = None
            self._events = _CLOSED
        errors = []
        for writer in writers:
            try:
                writer.close()
            except Exception as e:
                errors.append(e)
        if errors:
            raise errors[0]

    def __enter__(self: _Writer) -> _Writer:
        return self

    def __exit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        self.close()
