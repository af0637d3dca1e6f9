"""Event files in remote directories (URLs): written locally, uploaded whole.

Object stores cannot append, so a ``SummaryWriter("s3://bucket/runs/exp1")`` writes its event
file exactly as for a local directory, but into a private staging file on this machine, and
uploads the whole file over the remote object at the moments a local writer makes data
durable: every ``flush_secs`` when something was written, on ``flush()`` and on ``close()``
(plus once when the file is created, so the run appears at once). An upload replaces the
object atomically, so readers see the previous complete version or the new one, never a
truncated object. Each upload sends the whole file: for long runs prefer a larger
``flush_secs`` (tensorboardX's S3 writer works the same way).

Uploads run on the writer thread and are retried twice (unless the bucket is missing or
access is denied); if they still fail, the writer fails
like a local one on a full disk (the next call raises), and the staging file is kept: the
error names it. The file is named to sort after the event files already in the remote
directory (one listing at creation).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from typing import Any

from tbtool import storage
from tbtool.errors import TbtoolError
from tbtool.writer import file_names
from tbtool.writer.event_file import EventFileWriter, EventWriteError

RETRIES = 2


class UploadingEventFileWriter(EventFileWriter):
    """:class:`EventFileWriter` for a URL ``logdir`` (see the module docs). ``path`` is the
    object's URL; ``local_path`` the staging file."""

    def __init__(self, logdir: str, **options: Any) -> None:
        storage.filesystem(logdir)  # a missing extra is reported now, naming it
        self._staging = tempfile.mkdtemp(prefix="tbtool-writer-")
        self._upload_lock = threading.Lock()
        self._uploaded = -1
        self.remote_logdir = logdir
        try:
            super().__init__(logdir, **options)
        except BaseException:
            shutil.rmtree(self._staging, ignore_errors=True)
            raise
        self.local_path = self.path
        self.path = storage.join(logdir, os.path.basename(self.local_path))
        try:
            self._upload(first=True)
        except BaseException:
            with contextlib.suppress(Exception):
                self.close()
            shutil.rmtree(self._staging, ignore_errors=True)
            raise

    def _create_file(self, logdir: str, suffix: str) -> tuple[str, Any]:
        existing = storage.file_names(logdir)
        return file_names.create(self._staging, suffix, existing)

    def _upload(self, first: bool = False) -> None:
        with self._upload_lock:
            size = os.path.getsize(self.local_path)
            if size == self._uploaded:
                return
            for attempt in range(RETRIES + 1):
                try:
                    storage.upload(self.local_path, self.path)
                    break
                except (OSError, TbtoolError) as e:
                    if attempt == RETRIES or isinstance(e, (FileNotFoundError, PermissionError)):
                        reason = (
                            "the bucket does not exist"
                            if isinstance(e, FileNotFoundError)
                            else str(e)
                        )
                        kept = "" if first else f"; its events are kept in {self.local_path}"
                        raise EventWriteError(
                            f"uploading the event file failed ({reason}){kept}", file=self.path
                        ) from None
                    time.sleep(0.2 * 4**attempt)
            self._uploaded = size

    def _sync(self) -> None:
        # The staging file needs no fsync: durability is the upload.
        self._unsynced = False
        self._upload()

    def _flushed(self) -> None:
        self._upload()

    def close(self) -> None:
        """Write and upload everything, then delete the staging file (kept on failure)."""
        super().close()
        if not self.failed:
            shutil.rmtree(self._staging, ignore_errors=True)


def event_file_writer(logdir: str, **options: Any) -> EventFileWriter:
    """The event file writer for a local directory or a URL."""
    if storage.is_url(logdir):
        return UploadingEventFileWriter(logdir, **options)
    return EventFileWriter(logdir, **options)
