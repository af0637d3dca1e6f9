"""Rewriting event files without ever losing data: verified atomic replacement and backups.

Every command that rewrites or deletes (purge, merge, clean) goes through here:

1. originals are archived first (one tar per operation under ``<PATH>/.tbtool-backups/``,
   written to a temporary name, fsynced, then renamed), unless the caller opts out;
2. new content is written to a temporary file next to its target, fsynced, re-read and
   verified (record count, both CRCs of every record, a digest of the intended payloads);
3. only then does ``os.replace`` swap it in, and the directory is fsynced.

A process killed at any point leaves either the old or the new file, plus at worst a stray
``.tbtool-tmp-*`` file (whose name TensorBoard does not read). Temporary names never contain
``tfevents``, and backups are tar archives, so neither is ever mistaken for a run.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from tbtool.errors import TbtoolError, UsageError
from tbtool.record import ReadState, RecordReader, encode_record

BACKUP_DIR = ".tbtool-backups"
TMP_PREFIX = ".tbtool-tmp-"


class VerificationError(TbtoolError):
    """A rewritten file did not read back as written; the original was left untouched."""


def real_inside(path: str, root: str) -> bool:
    """Is ``path`` (resolved) inside ``root`` (resolved), and not itself a symlink?"""
    if os.path.islink(path):
        return False
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def refuse_outside(paths: Iterable[str], root: str) -> None:
    """Raise :class:`UsageError` if any path escapes ``root`` or is a symlink."""
    for path in paths:
        if not real_inside(path, root):
            raise UsageError(f"refusing to rewrite {path}: it is a symlink or lies outside {root}")


def _fsync_dir(directory: str) -> None:
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


def _tmp_name(directory: str) -> str:
    return os.path.join(directory, f"{TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}")


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A verified file now in place."""

    path: str
    records: int
    size: int


def write_verified(target: str, payloads: Iterable[bytes]) -> WrittenFile:
    """Write ``payloads`` as records to ``target`` atomically, verifying before the swap."""
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    tmp = _tmp_name(directory)
    digest = hashlib.blake2b(digest_size=16)
    count = 0
    try:
        with open(tmp, "wb") as f:
            batch: list[bytes] = []
            for payload in payloads:
                digest.update(len(payload).to_bytes(8, "little"))
                digest.update(payload)
                batch.append(encode_record(payload))
                count += 1
                if len(batch) >= 4096:
                    f.write(b"".join(batch))
                    batch.clear()
            f.write(b"".join(batch))
            f.flush()
            os.fsync(f.fileno())
        _verify(tmp, target, count, digest.hexdigest())
        size = os.path.getsize(tmp)
        os.replace(tmp, target)
        _fsync_dir(directory)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return WrittenFile(target, count, size)


def _verify(tmp: str, target: str, count: int, expected: str) -> None:
    digest = hashlib.blake2b(digest_size=16)
    read = 0
    with RecordReader(tmp) as reader:
        for record in reader:  # raises on any CRC failure
            digest.update(len(record.payload).to_bytes(8, "little"))
            digest.update(record.payload)
            read += 1
        state = reader.state
    if state is not ReadState.CLEAN_EOF or read != count or digest.hexdigest() != expected:
        raise VerificationError(
            f"the rewritten file read back {read} of {count} records ({state.value}) or "
            "different contents; the original is untouched",
            file=target,
        )


def backup(root: str, files: Sequence[str], command: str) -> str:
    """Archive ``files`` (paths inside ``root``) into ``root/.tbtool-backups/<command>-<UTC
    time>.tar`` with paths relative to ``root``; returns the archive path. Restore with
    ``tar -xf ARCHIVE -C ROOT``."""
    root = os.path.abspath(root if os.path.isdir(root) else os.path.dirname(root))
    directory = os.path.join(root, BACKUP_DIR)
    os.makedirs(directory, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    archive = os.path.join(directory, f"{command}-{stamp}-{uuid.uuid4().hex[:6]}.tar")
    tmp = _tmp_name(directory)
    try:
        with open(tmp, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w") as tar:
                for path in files:
                    tar.add(
                        path, arcname=os.path.relpath(os.path.abspath(path), root), recursive=False
                    )
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, archive)
        _fsync_dir(directory)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return archive


def remove_verified(path: str) -> None:
    """Delete a file and make the deletion durable."""
    os.unlink(path)
    _fsync_dir(os.path.dirname(os.path.abspath(path)))
