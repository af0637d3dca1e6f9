"""Files and objects: facts, listings and changes, for local paths and fsspec URLs alike.

Local paths take exactly the OS calls they always took (``os.stat``, ``os.walk``,
``shutil``): the common case pays one string test. URLs go through fsspec, with a short-lived
cache of sizes learnt from listings, errors turned into ``OSError`` s naming the URL (or
:class:`StorageError`), and a missing filesystem package named with the tbtool extra that
installs it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from tbtool.errors import PathError, TbtoolError, UsageError
from tbtool.storage.paths import basename, inside, is_url, join, parent, protocol, relative, trim

#: The tbtool extra that installs each protocol's fsspec implementation.
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}
#: Protocols without directories: nothing to create before writing, nothing to remove after.
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "r2"})
#: How long a size learnt from a listing stands in for asking the server again.
STAT_TTL = 10.0


class MissingDependency(TbtoolError):
    """A URL needs a package that is not installed (the message names the extra)."""


class StorageError(TbtoolError):
    """A remote filesystem failed for a reason other than a missing or forbidden object."""


@functools.lru_cache(maxsize=4096)
def _resolve(url: str) -> tuple[Any, str]:
    import fsspec

    return fsspec.core.url_to_fs(url)


def filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` of a URL; a clear error when the protocol's
    package is missing (naming the tbtool extra that installs it) or unknown."""
    try:
        return _resolve(url)
    except ImportError as e:
        proto = protocol(url)
        extra = EXTRAS.get(proto)
        if extra is not None:
            raise MissingDependency(
                f"{proto}:// URLs need the {extra} extra: pip install 'tbtool[{extra}]'",
                file=url,
            ) from None
        raise MissingDependency(
            f"{proto}:// URLs need a package that is not installed ({e})", file=url
        ) from None
    except ValueError as e:
        if "protocol" in str(e).lower():
            raise UsageError(f"{url}: unknown URL protocol {protocol(url)!r}") from None
        raise UsageError(f"{url}: not a usable URL ({e})") from None


def is_object_store(url: str) -> bool:
    return protocol(url) in OBJECT_STORES


@contextlib.contextmanager
def remote_errors(url: str) -> Iterator[None]:
    """Turn what a filesystem package raises into errors naming the URL: ``OSError`` s
    with the URL as file name, anything else (network, credentials) :class:`StorageError`."""
    try:
        yield
    except TbtoolError:
        raise
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file or object", url) from None
    except PermissionError as e:
        raise PermissionError(errno.EACCES, f"permission denied ({e})", url) from None
    except OSError as e:
        if e.filename is None:
            raise OSError(e.errno or errno.EIO, str(e) or type(e).__name__, url) from None
        raise
    except Exception as e:  # botocore / google-auth / aiohttp errors
        raise StorageError(f"{type(e).__name__}: {e}", file=url) from None


# -- facts about files ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FileInfo:
    size: int
    mtime: float | None


_stats: dict[str, tuple[FileInfo, float]] = {}
_stats_lock = threading.Lock()


def _after_fork_in_child() -> None:
    # A filesystem object holds its parent's event loop and connections: make new ones.
    global _stats_lock
    _resolve.cache_clear()
    _stats_lock = threading.Lock()
    _stats.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _remember(url: str, info: FileInfo) -> None:
    with _stats_lock:
        if len(_stats) > 200_000:
            _stats.clear()
        _stats[url] = (info, time.monotonic())


def forget(url: str) -> None:
    """Drop what is known about ``url`` (after writing or deleting it)."""
    with _stats_lock:
        _stats.pop(url, None)


def _mtime(entry: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = entry.get(key)
        if value is None:
            continue
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            from datetime import datetime

            with contextlib.suppress(ValueError):
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


def _info_of(entry: dict[str, Any]) -> FileInfo:
    return FileInfo(int(entry.get("size") or 0), _mtime(entry))


def stat(path: str, *, fresh: bool = False) -> FileInfo:
    """Size and modification time (``None`` where a store does not say). For URLs, a
    listing's answer of the last few seconds is used unless ``fresh``."""
    if not is_url(path):
        st = os.stat(path)
        return FileInfo(st.st_size, st.st_mtime)
    if not fresh:
        with _stats_lock:
            known = _stats.get(path)
        if known is not None and time.monotonic() - known[1] < STAT_TTL:
            return known[0]
    fs, key = filesystem(path)
    with remote_errors(path):
        fs.invalidate_cache(key)
        entry = fs.info(key)
    if entry.get("type") == "directory":
        raise IsADirectoryError(errno.EISDIR, "is a directory (key prefix)", path)
    info = _info_of(entry)
    _remember(path, info)
    return info


def size(path: str) -> int:
    return os.path.getsize(path) if not is_url(path) else stat(path).size


def mtime(path: str) -> float | None:
    return os.path.getmtime(path) if not is_url(path) else stat(path).mtime


def isfile(path: str) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    try:
        stat(path)
    except (OSError, StorageError):
        return False
    return True


def isdir(path: str) -> bool:
    """A local directory, or a URL with at least one object below it."""
    if not is_url(path):
        return os.path.isdir(path)
    fs, key = filesystem(path)
    with remote_errors(path):
        fs.invalidate_cache(key)
        try:
            return bool(fs.isdir(key))
        except FileNotFoundError:
            return False


def exists(path: str) -> bool:
    return os.path.exists(path) if not is_url(path) else (isfile(path) or isdir(path))


def list_files(url: str) -> dict[str, FileInfo]:
    """Every object at or below the URL (its own URL -> facts), by listing: no directory
    semantics assumed. Empty when nothing is there."""
    fs, key = filesystem(url)
    root = trim(url)
    key = key.rstrip("/") or key
    with remote_errors(url):
        fs.invalidate_cache(key)
        try:
            found = fs.find(key, detail=True, withdirs=False)
        except FileNotFoundError:
            return {}
    out: dict[str, FileInfo] = {}
    for name, entry in sorted(found.items()):
        if entry.get("type", "file") == "directory" or name.endswith("/"):
            # ``dir/`` objects are folder markers (the GCS console, TensorFlow's gfile
            # makedirs, S3 tools): listed as files, but no file of the folder's name.
            continue
        if name == key:
            full = root
        elif name.startswith(key.rstrip("/") + "/"):
            full = join(root, name[len(key.rstrip("/")) + 1 :])
        else:  # a sibling sharing the prefix (``runs2`` for ``runs``)
            continue
        info = _info_of(entry)
        _remember(full, info)
        out[full] = info
    return out


def walk(top: str) -> Iterator[tuple[str, list[str]]]:
    """(directory URL, file names) below a URL, directories sorted, like ``os.walk``."""
    groups: dict[str, list[str]] = {}
    for full in list_files(top):
        if full == trim(top):
            continue
        groups.setdefault(parent(full), []).append(basename(full))
    for directory in sorted(groups, key=lambda d: relative(d, top).split("/")):
        yield directory, sorted(groups[directory])


def file_names(url: str) -> list[str]:
    """Names of the objects directly below a directory URL (one listing level; empty when
    there are none)."""
    fs, key = filesystem(url)
    with remote_errors(url):
        fs.invalidate_cache(key)
        try:
            entries = fs.ls(key.rstrip("/") or key, detail=True)
        except FileNotFoundError:
            return []
    return sorted(
        e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e.get("type") == "file"
    )


def listdir(path: str) -> list[str]:
    """Names directly inside a directory (for URLs: the next path component of every
    object below it)."""
    if not is_url(path):
        return os.listdir(path)
    names = {relative(full, path).split("/", 1)[0] for full in list_files(path)}
    names.discard(".")
    return sorted(names)


def walk_files(top: str, *, follow_symlinks: bool = True) -> Iterable[tuple[str, list[str]]]:
    """(directory, file names) below ``top``, sorted; symlinked directories are followed once
    each, or not at all with ``follow_symlinks=False`` (what commands that delete use).
    Below a URL: every object listed, grouped by key prefix."""
    if is_url(top):
        yield from walk(top)
        return
    seen: set[str] = set()

    def unreadable(error: OSError) -> None:
        # os.walk skips what it cannot list; a logdir read in part must not pass for whole.
        raise PathError(
            f"cannot read this directory ({error.strerror or error})", file=error.filename or top
        )

    for directory, dirs, files in os.walk(top, followlinks=follow_symlinks, onerror=unreadable):
        real = os.path.realpath(directory)
        if real in seen:  # a symlink loop or a second link to the same directory
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        yield directory, files


def fetch(url: str, start: int, end: int) -> bytes:
    """Bytes ``[start, end)`` of a remote object (fewer at its end)."""
    fs, key = filesystem(url)
    with remote_errors(url):
        return fs.cat_file(key, start=start, end=end)


# -- writing --------------------------------------------------------------------------------------
def makedirs(path: str) -> None:
    """Create a directory and its parents; nothing to do in an object store."""
    if not is_url(path):
        os.makedirs(path, exist_ok=True)
        return
    if is_object_store(path):
        return
    fs, key = filesystem(path)
    with remote_errors(path):
        fs.makedirs(key, exist_ok=True)


def upload(local: str, url: str) -> None:
    """Copy a local file to ``url`` in one object write (visible only when complete)."""
    fs, key = filesystem(url)
    if not is_object_store(url):
        makedirs(parent(url))
    with remote_errors(url):
        fs.put_file(local, key)
    forget(url)


def download(url: str, local: str) -> None:
    fs, key = filesystem(url)
    with remote_errors(url):
        fs.get_file(key, local)


def write_bytes(path: str, data: bytes) -> None:
    """Write a whole file / object (local files are created or truncated)."""
    if not is_url(path):
        with open(path, "wb") as f:
            f.write(data)
        return
    fs, key = filesystem(path)
    if not is_object_store(path):
        makedirs(parent(path))
    with remote_errors(path):
        fs.pipe_file(key, data)
    forget(path)


def remove(path: str) -> None:
    if not is_url(path):
        os.unlink(path)
        return
    fs, key = filesystem(path)
    with remote_errors(path):
        fs.rm_file(key)
    forget(path)


def remove_tree(path: str) -> None:
    """Delete a directory and everything below it."""
    if not is_url(path):
        shutil.rmtree(path)
        return
    fs, key = filesystem(path)
    with remote_errors(path):
        fs.rm(key, recursive=True)


def copy(src: str, dst: str) -> None:
    """Copy a file; server-side within one remote filesystem, else through this machine."""
    if not is_url(src) and not is_url(dst):
        shutil.copyfile(src, dst)
        return
    if is_url(src) and is_url(dst):
        fs_src, key_src = filesystem(src)
        fs_dst, key_dst = filesystem(dst)
        if fs_src is fs_dst:
            if not is_object_store(dst):
                makedirs(parent(dst))
            with remote_errors(dst):
                fs_dst.copy(key_src, key_dst)
            forget(dst)
            return
    with tempfile.TemporaryDirectory(prefix="tbtool-copy-") as tmp:
        local = src if not is_url(src) else os.path.join(tmp, "data")
        if is_url(src):
            download(src, local)
        if is_url(dst):
            upload(local, dst)
        else:
            makedirs(os.path.dirname(dst) or ".")
            shutil.copyfile(local, dst)


def move(src: str, dst: str) -> None:
    """Move a file (copy, then delete the original, where no rename exists)."""
    if not is_url(src) and not is_url(dst):
        os.makedirs(os.path.dirname(dst) or ".", exist_ok=True)
        shutil.move(src, dst)
        return
    copy(src, dst)
    remove(src)


def remove_empty_dirs(directories: Iterable[str], root: str) -> list[str]:
    """Remove the given directories (and then their parents, up to ``root`` exclusive)
    when they are empty; object stores have no directories, so nothing happens there."""
    if is_object_store(root):
        return []
    fs, _ = filesystem(root)
    removed: list[str] = []
    for directory in sorted(set(directories), key=len, reverse=True):
        current = directory
        while inside(current, root) and trim(current) != trim(root):
            _, key = filesystem(current)
            try:
                if fs.ls(key, detail=False):
                    break
                fs.rmdir(key)
            except (OSError, NotImplementedError):
                break
            removed.append(current)
            current = parent(current)
    return removed
