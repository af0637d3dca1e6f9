"""Where an export goes, and how it gets there without losing anything.

:class:`ExportOutput` decides the layout (one file, a directory of tables and media files, or
a partitioned dataset; :mod:`tbtool.ops.export` describes them) and keeps contract.md's
data-safety rules:

* Before anything is read, it refuses an output that is, contains or lies inside an input
  (:func:`tbtool.ops.output.refuse_overlap`), and an existing output unless ``overwrite``: the
  file OUT, or in a directory OUT the entries this export writes (``<kind>.<ext>``,
  ``images/``, ``audio/``, ``<kind>.parquet/``, a dataset's ``run=*``). Nothing else in OUT
  is ever touched.
* Everything is written into a staging area: a locked temporary file or directory
  (:mod:`tbtool.storage.temporaries`) in the directory that will hold the output (one filesystem,
  so a rename moves it), or for a URL a local temporary directory.
* :meth:`ExportOutput.commit` puts the output in place once it is complete: one rename for
  a file or a new directory; for an existing directory one rename per entry (media before
  the tables that point at them; old directories moved aside first, then deleted), with
  Ctrl-C and SIGTERM held off until the renames are done; for a URL one upload per object
  (media first), each visible only once complete, then the objects of replaced entries the
  new output no longer has are deleted.
* Leaving the ``with`` block without a commit (an error, Ctrl-C, nothing matched) removes
  the staging area and any parent directory made for it: the old output stays as it was and
  no new one appears. Only kill -9 (or a crash) can leave the staging area behind, under its
  ``.tbtool-tmp-`` name, until the next command writing in that directory sweeps it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from tbtool import storage
from tbtool.errors import UsageError
from tbtool.ops.export_sinks import EXTENSIONS, PartitionedSink, Sink, file_sink
from tbtool.ops.output import refuse_overlap
from tbtool.ops.rewrite import fsync_directory
from tbtool.storage.temporaries import temporary_directory, temporary_file

MEDIA_KINDS = ("images", "audio")
#: Threads that fsync a staged directory's files.
FSYNC_THREADS = 8


class ExportOutput:
    """The output of one export: checked when made, staged on ``with``, then committed."""

    def __init__(
        self,
        output: str,
        kinds: Sequence[str],
        fmt: str,
        *,
        partition_by: str | None,
        overwrite: bool,
        inputs: Sequence[str],
    ) -> None:
        self.output = output
        self.fmt = fmt
        self.partition_by = partition_by
        self.overwrite = overwrite
        self.is_url = storage.is_url(output)
        self.mode = self._mode(list(kinds))
        tables = {k: k + EXTENSIONS["parquet" if partition_by else fmt] for k in kinds}
        self._names = tables
        self._entries = set(tables.values()) | {k for k in kinds if k in MEDIA_KINDS}
        self.staging = ""  # the local file or directory being written
        self._existing: list[str] = []  # entries of the directory OUT this export replaces
        self._inside = False  # staging is a directory inside the existing directory OUT
        self._local_tmp = ""  # a URL's local staging directory
        self._created: list[str] = []  # parent directories made for the output
        self._temporaries = contextlib.ExitStack()  # locked while staged, removed unless placed
        self._committed = False
        if self.mode != "stdout":
            refuse_overlap(output, inputs, command="export")
            self._refuse_existing()

    def _mode(self, kinds: list[str]) -> str:
        """``stdout``, ``file`` (OUT is one table), ``dataset`` (OUT is one partitioned
        dataset) or ``directory`` (OUT holds a table per kind and the media files)."""
        one_table = len(kinds) == 1 and kinds[0] not in MEDIA_KINDS
        if self.output == "-":
            if self.fmt == "parquet" or self.partition_by:
                raise UsageError("-o - writes CSV or JSON lines: add --format csv or jsonl")
            if not one_table:
                raise UsageError("-o - writes one table: choose one --kind (not images/audio)")
            return "stdout"
        if one_table and self.partition_by:
            return "dataset"
        is_dir = self.output.endswith(("/", os.sep)) or storage.isdir(self.output)
        return "file" if one_table and not is_dir else "directory"

    @property
    def _target(self) -> str:
        """OUT without a trailing separator."""
        if self.is_url:
            return storage.trim(self.output)
        return self.output.rstrip("/" + os.sep) or self.output

    def _claims(self, name: str) -> bool:
        """Is ``name``, inside the directory OUT, part of what this export writes?"""
        if self.mode == "dataset":
            return name.startswith("run=") or name == PartitionedSink.METADATA
        return name in self._entries

    def _refuse_existing(self) -> None:
        target = self._target
        if not storage.exists(target):
            return
        if self.mode == "file":
            if not self.overwrite:
                raise UsageError(f"{target} exists; add --overwrite to replace it")
            return
        if not storage.isdir(target):
            raise UsageError(f"{target} exists and is not a directory")
        self._existing = sorted(n for n in storage.listdir(target) if self._claims(n))
        if self._existing and not self.overwrite:
            if self.mode == "dataset":
                raise UsageError(
                    f"{target} already holds a partitioned dataset; choose a new directory "
                    "or add --overwrite to replace it"
                )
            first = storage.join(target, self._existing[0])
            raise UsageError(f"{first} exists; add --overwrite to replace it")

    # -- where things are written ----------------------------------------------------------
    def table_path(self, kind: str) -> str:
        """Where the ``kind`` table ends up (``-`` for stdout)."""
        if self.mode != "directory":
            return self.output
        return storage.join(self.output, self._names[kind])

    def sink(self, kind: str, schema: pa.Schema) -> Sink:
        """A sink writing the ``kind`` table into the staging area."""
        if self.mode == "stdout":
            return file_sink("-", self.fmt, schema)
        path = self.staging
        if self.mode == "directory":
            path = os.path.join(self.staging, self._names[kind])
        if self.partition_by:
            return PartitionedSink(path, schema)
        return file_sink(path, self.fmt, schema)

    @property
    def media_base(self) -> str:
        """The staged directory that media files are written under."""
        return self.staging

    # -- staging, commit, discard ----------------------------------------------------------
    def __enter__(self) -> ExportOutput:
        try:
            self._stage()
        except BaseException:
            self.discard()
            raise
        return self

    def _stage(self) -> None:
        if self.mode == "stdout":
            return
        if self.is_url:
            self._local_tmp = tempfile.mkdtemp(prefix="tbtool-export-")
            self.staging = os.path.join(self._local_tmp, "out")
        else:
            target = os.path.abspath(self._target)
            self._inside = self.mode != "file" and os.path.isdir(target)
            home = target if self._inside else os.path.dirname(target)
            _make_directories(home, self._created)
            staged = temporary_file(home) if self.mode == "file" else temporary_directory(home)
            self.staging = self._temporaries.enter_context(staged)
            return
        if self.mode != "file":
            os.mkdir(self.staging)

    def __exit__(self, kind: object, error: BaseException | None, tb: object) -> None:
        if not self._committed:
            self.discard()
        if isinstance(error, OSError) and error.errno and self._ours(error.filename):
            # Writing failed (a full disk...): say which output, not which staged name.
            why = f"{os.strerror(error.errno)}; the export was not written"
            raise OSError(error.errno, why, self.output) from error

    def _ours(self, filename: object) -> bool:
        """Is ``filename`` (of an error) unknown or in the staging area?"""
        if filename is None:
            return True
        staged = self._local_tmp or self.staging
        return isinstance(filename, str) and bool(staged) and storage.overlaps(filename, staged)

    def commit(self) -> None:
        """Put the complete output in place (see the module docs). If this fails, leaving
        the ``with`` block removes what is still staged."""
        if self.mode == "stdout":
            self._committed = True
            return
        if self.is_url:
            self._upload()
            self._committed = True
            shutil.rmtree(self._local_tmp, ignore_errors=True)
            return
        _fsync_tree(self.staging)
        target = os.path.abspath(self._target)
        names = os.listdir(self.staging) if self._inside else []
        if not self.overwrite:  # made by someone else while this export ran?
            paths = [os.path.join(target, n) for n in names] if self._inside else [target]
            for path in filter(os.path.lexists, paths):
                raise UsageError(f"{path} appeared during the export; --overwrite replaces it")
        if not self._inside:  # a file, or a new directory: one rename
            os.replace(self.staging, target)
            self._committed = True
            self._temporaries.close()
            fsync_directory(os.path.dirname(target))
            return
        names.sort(key=lambda n: (n not in MEDIA_KINDS, n))
        stale = [n for n in self._existing if n not in names]  # replaced by nothing
        trash = self._temporaries.enter_context(temporary_directory(target))
        aside: list[str] = []  # old entries moved into the trash
        try:
            with _signals_held():
                for name in stale:
                    os.rename(os.path.join(target, name), os.path.join(trash, name))
                    aside.append(name)
                for name in names:
                    old, new = os.path.join(target, name), os.path.join(self.staging, name)
                    if os.path.lexists(old) and (_is_directory(old) or _is_directory(new)):
                        os.rename(old, os.path.join(trash, name))  # rename replaces files only
                        aside.append(name)
                    os.replace(new, old)
                fsync_directory(target)
        except BaseException:  # every entry stays old or new: none goes missing
            for name in aside:
                with contextlib.suppress(OSError):
                    if not os.path.lexists(os.path.join(target, name)):
                        os.rename(os.path.join(trash, name), os.path.join(target, name))
            raise
        self._committed = True
        self._temporaries.close()  # the (now empty) staging and the trash with the old entries

    def _upload(self) -> None:
        """Upload the staged output object by object, then delete what it replaced."""
        target = self._target
        if self.mode == "file":
            storage.upload(self.staging, target)
            return
        files = []
        for directory, _, names in os.walk(self.staging):
            for name in names:
                path = os.path.join(directory, name)
                files.append(os.path.relpath(path, self.staging).replace(os.sep, "/"))
        files.sort(key=lambda rel: (rel.split("/", 1)[0] not in MEDIA_KINDS, rel))
        uploaded = set()
        for rel in files:
            url = storage.join(target, rel)
            storage.upload(os.path.join(self.staging, *rel.split("/")), url)
            uploaded.add(url)
        for name in self._existing:
            for url in storage.list_files(storage.join(target, name)):
                if url not in uploaded:
                    storage.remove(url)

    def discard(self) -> None:
        """Remove the staging area and the directories made for it; the old output stays."""
        self._committed = True
        if self._local_tmp:
            shutil.rmtree(self._local_tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            self._temporaries.close()
        for directory in reversed(self._created):
            try:
                os.rmdir(directory)
            except OSError:
                break


def _is_directory(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _make_directories(path: str, created: list[str]) -> None:
    """Create ``path`` and its missing parents, adding each one made to ``created``
    (outermost first) as it goes, so a failure half-way still knows what to remove."""
    missing = []
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory)
        except FileExistsError:
            if not os.path.isdir(directory):
                raise NotADirectoryError(errno.ENOTDIR, "not a directory", directory) from None
            continue
        created.append(directory)


def _fsync_tree(path: str) -> None:
    """Make a staged file, or every file and directory of a staged tree, durable before the
    rename that publishes it (else a power cut could publish empty files). Many small media
    files are fsynced by a few threads at once: each waits for the disk, not the CPU."""
    if not os.path.isdir(path):
        _fsync_file(path)
        return
    files, directories = [], []
    for directory, _, names in os.walk(path):
        files.extend(os.path.join(directory, name) for name in names)
        directories.append(directory)
    with ThreadPoolExecutor(max_workers=FSYNC_THREADS) as pool:
        list(pool.map(_fsync_file, files))
        list(pool.map(fsync_directory, directories))


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block is done (they are delivered after it), so the
    renames that swap an output in are not cut in half by Ctrl-C."""
    mask: Any = getattr(signal, "pthread_sigmask", None)
    if mask is None:  # pragma: no cover - Windows
        yield
        return
    previous = mask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, previous)
