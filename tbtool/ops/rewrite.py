"""Rewriting event files without ever losing data: verified atomic replacement and backups.

Every command that rewrites or deletes (purge, merge, clean) goes through here:

1. originals are archived first (one tar per operation under ``<PATH>/.tbtool-backups/``,
   written to a temporary name, fsynced, then renamed), unless the caller opts out;
2. new content is written to a temporary file next to its target, fsynced, re-read and
   verified: the record count, both CRCs of every record (framed in bulk by the C extension,
   not decoded) and a digest of the bytes as they were written must all hold;
3. only then does ``os.replace`` swap it in, and the directory is fsynced.

A process killed at any point leaves either the old or the new file, plus at worst a stray
``.tbtool-tmp-<host>-<pid>-*`` file (whose name TensorBoard does not read), which the next
command writing in that directory removes once its owner is gone
(:mod:`tbtool.storage.temporaries`). Temporary names never contain ``tfevents``, and backups are tar
archives, so neither is ever mistaken for a run.

Remote files (URLs, :mod:`tbtool.storage`) get the same steps with objects: the new content
is uploaded as a ``.tbtool-tmp-*`` object next to its target, read back and verified, then
copied over the target (a server-side copy replaces an object atomically) and the temporary
object deleted; the backup tar is built locally and uploaded as one object.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from tbtool import storage
from tbtool.columnar.framing import STOP_END, STOP_REASONS, count_records
from tbtool.errors import TbtoolError, UsageError
from tbtool.format.record import DEFAULT_MAX_RECORD_LENGTH, encode_record
from tbtool.storage.temporaries import PREFIX, temporary_file, temporary_name

BACKUP_DIR = ".tbtool-backups"
TMP_PREFIX = PREFIX
#: Bytes read at a time when a rewritten file is read back.
VERIFY_CHUNK = 8 << 20
#: Framed records and how many records they hold: what a rewrite writes, in order.
Blocks = Iterable[tuple[bytes | memoryview, int]]


class VerificationError(TbtoolError):
    """A rewritten file did not read back as written; the original was left untouched."""


def real_inside(path: str, root: str) -> bool:
    """Is ``path`` (resolved) inside ``root`` (resolved), and not itself a symlink?"""
    if storage.is_url(path) or storage.is_url(root):
        return storage.is_url(path) and storage.is_url(root) and storage.inside(path, root)
    if os.path.islink(path):
        return False
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def refuse_outside(paths: Iterable[str], root: str) -> None:
    """Raise :class:`UsageError` if any path escapes ``root`` or is a symlink."""
    for path in paths:
        if not real_inside(path, root):
            raise UsageError(f"refusing to rewrite {path}: it is a symlink or lies outside {root}")


def fsync_directory(directory: str) -> None:
    """Make the names created, renamed or removed in ``directory`` durable."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A verified file now in place."""

    path: str
    records: int
    size: int


def write_verified(target: str, payloads: Iterable[bytes]) -> WrittenFile:
    """Write ``payloads`` as records to ``target`` atomically, verifying before the swap."""
    return write_verified_blocks(target, framed(payloads))


def framed(payloads: Iterable[bytes]) -> Iterator[tuple[bytes, int]]:
    """Payloads as framed blocks of up to 4096 records."""
    batch: list[bytes] = []
    for payload in payloads:
        batch.append(encode_record(payload))
        if len(batch) >= 4096:
            yield b"".join(batch), len(batch)
            batch.clear()
    if batch:
        yield b"".join(batch), len(batch)


def write_verified_blocks(target: str, blocks: Blocks) -> WrittenFile:
    """Write framed ``blocks`` to ``target`` atomically, verifying before the swap. Rewrites
    that copy unchanged records byte for byte hand over whole stretches of a source file."""
    if storage.is_url(target):
        return _write_verified_remote(target, blocks)
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    with temporary_file(directory) as tmp:  # removed unless it is renamed into place
        count, expected = _write_blocks(tmp, blocks)
        _verify(tmp, target, count, expected)
        size = os.path.getsize(tmp)
        os.replace(tmp, target)
        fsync_directory(directory)
    return WrittenFile(target, count, size)


def _write_blocks(path: str, blocks: Blocks) -> tuple[int, str]:
    """Write blocks to a new local file, fsynced; (record count, digest of the bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    with open(path, "wb") as f:
        for data, records in blocks:
            digest.update(data)
            f.write(data)
            count += records
        f.flush()
        os.fsync(f.fileno())
    return count, digest.hexdigest()


def _write_verified_remote(target: str, blocks: Blocks) -> WrittenFile:
    """The object version: upload to a temporary object, read it back and verify it, then
    copy it over the target (atomic for an object store) and delete the temporary one."""
    directory = storage.parent(target)
    tmp = temporary_name(directory)
    fd, local = tempfile.mkstemp(prefix="tbtool-rewrite-")
    os.close(fd)
    uploaded = copied = False
    try:
        count, expected = _write_blocks(local, blocks)
        size = os.path.getsize(local)
        storage.upload(local, tmp)
        uploaded = True
        _verify(tmp, target, count, expected)  # read back from the server
        storage.copy(tmp, target)
        copied = True
        if storage.stat(target, fresh=True).size != size:
            raise VerificationError(
                f"the copy over the original has the wrong size; the verified new content "
                f"is kept in {tmp}",
                file=target,
            )
        storage.remove(tmp)
    except BaseException:
        if uploaded and not copied:  # the original is untouched: the new content can go
            with contextlib.suppress(Exception):
                storage.remove(tmp)
        raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(local)
    return WrittenFile(target, count, size)


def _verify(tmp: str, target: str, count: int, expected: str) -> None:
    """Read ``tmp`` back: its bytes must have the digest of what was written, and frame as
    exactly ``count`` records with both CRCs valid and nothing after them."""
    digest = hashlib.blake2b(digest_size=16)
    read = 0
    problem = ""
    with storage.open_input(tmp) as f:
        buf = b""
        while chunk := f.read(VERIFY_CHUNK):
            digest.update(chunk)
            buf = buf + chunk if buf else chunk
            records, end, stop = count_records(buf, 0, DEFAULT_MAX_RECORD_LENGTH)
            read += records
            buf = buf[end:]
            if stop != STOP_END:
                problem = STOP_REASONS[stop]
                break
    if not problem and buf:
        problem = "an incomplete record at the end"
    if problem or read != count or digest.hexdigest() != expected:
        raise VerificationError(
            f"the rewritten file read back {read} of {count} records"
            f"{f' ({problem})' if problem else ''} or different contents; the original is "
            "untouched",
            file=target,
        )


def backup(root: str, files: Sequence[str], command: str) -> str:
    """Archive ``files`` (paths inside ``root``) into ``root/.tbtool-backups/<command>-<UTC
    time>.tar`` with paths relative to ``root``; returns the archive path. Restore with
    ``tar -xf ARCHIVE -C ROOT``."""
    if storage.is_url(root):
        return _backup_remote(root, files, command)
    root = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root))
    directory = os.path.join(root, BACKUP_DIR)
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archive = os.path.join(directory, f"{command}-{stamp}-{uuid.uuid4().hex[:6]}.tar")
    with temporary_file(directory) as tmp:  # removed unless it is renamed into place
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w") as tar:
                for path in files:
                    tar.add(
                        path, arcname=os.path.relpath(os.path.abspath(path), root), recursive=False
                    )
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, archive)
        fsync_directory(directory)
    return archive


def _backup_remote(root: str, files: Sequence[str], command: str) -> str:
    """:func:`backup` for URLs: the tar is built here and uploaded as one object."""
    root = root if storage.isdir(root) else storage.parent(root)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archive = storage.join(root, BACKUP_DIR, f"{command}-{stamp}-{uuid.uuid4().hex[:6]}.tar")
    fd, local = tempfile.mkstemp(prefix="tbtool-backup-", suffix=".tar")
    os.close(fd)
    try:
        with tarfile.open(local, mode="w") as tar:
            for url in files:
                info = storage.stat(url, fresh=True)
                member = tarfile.TarInfo(storage.relative(url, root))
                member.size = info.size
                member.mtime = int(info.mtime or time.time())
                with storage.open_input(url) as f:
                    tar.addfile(member, f)
        size = os.path.getsize(local)
        storage.upload(local, archive)
        if storage.stat(archive, fresh=True).size != size:
            raise VerificationError("the uploaded backup has the wrong size", file=archive)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(local)
    return archive


def remove_verified(path: str) -> None:
    """Delete a file and make the deletion durable."""
    if storage.is_url(path):
        storage.remove(path)
        return
    os.unlink(path)
    fsync_directory(os.path.dirname(os.path.abspath(path)))
