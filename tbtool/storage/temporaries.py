"""Temporary files and directories tbtool writes beside a target, and the leftovers of
commands that were killed before they could remove them.

A temporary is named ``.tbtool-tmp-<host>-<pid>-<random>``: hidden, never containing
``tfevents`` (no reader takes it for data), and saying which process on which host owns it.
While it exists its owner holds an exclusive ``flock`` on it (where ``fcntl`` exists); the
kernel drops the lock when the process ends, however it ends. A leftover is judged from
here (:func:`judge`):

* ``live``: its owner is running (the lock is held, or its pid runs on this host);
* ``stale``: written on this host by a process that is gone (no lock, no such pid);
* ``other-host``: written on another host, whose processes cannot be seen from here;
* ``unknown``: named by an older tbtool (``.tbtool-tmp-<pid>-<random>``, no host).

Only stale leftovers are ever removed, and only in local directories: the first time a
process asks :func:`temporary_name` for a name in a directory (it is about to write there),
the directory is swept (:func:`sweep`) and each removal logged on the ``tbtool`` logger (the
CLI prints it on stderr). The others are reported by ``tbtool validate`` and ``tbtool ls``
and never touched: a pid that runs may belong to another program (the leftover stays, and is
reported, rather than risk a live one), and another host's processes cannot be checked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tbtool import storage
from tbtool.errors import TbtoolError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the pid alone tells whether it is alive
    fcntl = None  # type: ignore[assignment]

PREFIX = ".tbtool-tmp-"
logger = logging.getLogger("tbtool.storage.temporaries")
_swept: set[str] = set()  # directories this process has swept


def this_host() -> str:
    """This machine's name as it appears in temporary names (characters that are not
    letters, digits, dots or dashes become ``_``)."""
    return re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "host"


def temporary_name(directory: str, *, sweep_first: bool = True) -> str:
    """A new name in ``directory`` (a path or URL) for something written before it is renamed
    into place. A local directory is first swept of stale leftovers (once per process)."""
    if sweep_first and not storage.is_url(directory):
        sweep(directory)
    return storage.join(directory, f"{PREFIX}{this_host()}-{os.getpid()}-{uuid.uuid4().hex[:12]}")


def _lock(fd: int) -> bool:
    """Take the exclusive lock without waiting; False if another process holds it."""
    if fcntl is None:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def temporary_file(directory: str) -> Iterator[str]:
    """A new, empty local temporary file in ``directory``, locked while the ``with`` block
    runs. The caller writes it (by its path) and renames it into place; whatever is still
    under its name at the end is removed."""
    while True:
        path = temporary_name(directory)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        if _lock(fd):
            break
        os.close(fd)  # a sweeper caught it in the instant before the lock: a new name
    try:
        yield path
    finally:
        try:
            _remove_if_ours(path, os.fstat(fd))
        finally:
            os.close(fd)


@contextlib.contextmanager
def temporary_directory(directory: str) -> Iterator[str]:
    """A new local temporary directory in ``directory``, locked for as long as the ``with``
    block runs and removed (with what is in it) at its end."""
    while True:
        path = temporary_name(directory)
        os.mkdir(path)
        fd = os.open(path, os.O_RDONLY)
        if _lock(fd):
            break
        os.close(fd)
    try:
        yield path
    finally:
        try:
            if _same(path, os.fstat(fd)):
                shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def _same(path: str, st: os.stat_result) -> bool:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        return False
    return (now.st_dev, now.st_ino) == (st.st_dev, st.st_ino)


def _remove_if_ours(path: str, st: os.stat_result) -> None:
    if _same(path, st):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


# -- leftovers --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Leftover:
    """A temporary found in a directory, and whether its owner is alive."""

    path: str
    is_dir: bool
    size: int  # bytes (a directory: of every file in it)
    host: str | None
    pid: int | None
    status: str  # live, stale, other-host or unknown (see the module docs)
    remote: bool = False  # below a URL: never removed by tbtool

    def describe(self) -> str:
        """Who left it and what becomes of it, in a few words."""
        if self.status == "stale":
            fate = (
                "remove it by hand (tbtool removes only local leftovers)"
                if self.remote
                else "the next tbtool command that writes in its directory removes it"
            )
            return f"left by pid {self.pid} on this host, which is no longer running; {fate}"
        if self.status == "live":
            return f"in use by pid {self.pid} on this host"
        if self.status == "other-host":
            return (
                f"left by pid {self.pid} on host {self.host}, which cannot be checked from "
                "here; remove it by hand once no tbtool runs there"
            )
        return (
            f"left by pid {self.pid} (an older tbtool, no host recorded); remove it by hand "
            "once no tbtool runs on this logdir"
        )

    def to_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "size": self.size,
            "host": self.host,
            "pid": self.pid,
            "status": self.status,
        }


def owner(name: str) -> tuple[str | None, int | None]:
    """``(host, pid)`` from a temporary's basename (``host`` is None for the old naming)."""
    parts = name[len(PREFIX) :].rsplit("-", 2)
    if len(parts) == 3 and parts[0] and parts[1].isdigit():
        return parts[0], int(parts[1])
    if len(parts) == 2 and parts[0].isdigit():
        return None, int(parts[0])
    return None, None


def _running(pid: int) -> bool:
    """Does process ``pid`` run here (a zombie, killed but not yet reaped, does not)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it runs, as another user
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal check is all there is
    return state != b"Z"


def _size(path: str, is_dir: bool) -> int:
    if not is_dir:
        with contextlib.suppress(OSError):
            return os.lstat(path).st_size
        return 0
    total = 0
    for top, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def _status(path: str, is_dir: bool, host: str | None, pid: int | None) -> tuple[str, int | None]:
    """The status, and an fd holding the leftover's lock when it is stale (else None)."""
    if host is None or pid is None:
        return "unknown", None
    if host != this_host():
        return "other-host", None
    try:
        fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if is_dir else 0))
    except OSError:
        return "live", None  # cannot look: leave it alone
    if not _lock(fd) or _running(pid):
        os.close(fd)
        return "live", None
    return "stale", fd


def judge(path: str) -> Leftover:
    """What a local ``.tbtool-tmp-*`` entry is (see the module docs)."""
    is_dir = os.path.isdir(path) and not os.path.islink(path)
    host, pid = owner(os.path.basename(path))
    status, fd = _status(path, is_dir, host, pid)
    if fd is not None:
        os.close(fd)
    return Leftover(path, is_dir, _size(path, is_dir), host, pid, status)


def sweep(directory: str) -> list[Leftover]:
    """Remove the stale leftovers directly in ``directory`` (once per process and
    directory), logging each; returns them."""
    key = os.path.realpath(directory)
    if key in _swept:
        return []
    _swept.add(key)
    try:
        names = sorted(n for n in os.listdir(directory) if n.startswith(PREFIX))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(directory, name)
        if os.path.islink(path):
            continue  # never followed, never removed
        is_dir = os.path.isdir(path)
        host, pid = owner(name)
        status, fd = _status(path, is_dir, host, pid)
        if fd is None:
            continue
        try:
            leftover = Leftover(path, is_dir, _size(path, is_dir), host, pid, status)
            if is_dir:
                shutil.rmtree(path)
            else:
                os.unlink(path)
        except OSError:
            continue
        finally:
            os.close(fd)
        logger.warning(
            "removed %s (%s bytes): left by an interrupted tbtool command, pid %d on this "
            "host, which is no longer running",
            path,
            f"{leftover.size:,}",
            pid,
        )
        removed.append(leftover)
    return removed


def find_leftovers(paths: Sequence[str]) -> list[Leftover]:
    """Every ``.tbtool-tmp-*`` file or directory below the directories among ``paths``
    (not what is inside a leftover directory), judged. Below a URL only names can be
    judged (no locks): a leftover of this host is stale when its pid does not run here."""
    found: list[Leftover] = []
    for top in paths:
        if not storage.isdir(top):
            continue
        remote = storage.is_url(top)
        sep = "/" if remote else os.sep
        inside: list[str] = []  # leftover directories: their contents are theirs
        for directory, files in storage.walk_files(top, follow_symlinks=False):
            here = directory.rstrip(sep)
            if any(here == d or here.startswith(d + sep) for d in inside):
                continue
            if directory != top and storage.basename(here).startswith(PREFIX):
                inside.append(here)
                found.append(_remote(here, True) if remote else judge(here))
                continue
            for name in sorted(files):
                if name.startswith(PREFIX):
                    path = (
                        storage.join(directory, name) if remote else os.path.join(directory, name)
                    )
                    found.append(_remote(path, False) if remote else judge(path))
    return found


def _remote(path: str, is_dir: bool) -> Leftover:
    host, pid = owner(storage.basename(path))
    if host is None or pid is None:
        status = "unknown"
    elif host != this_host():
        status = "other-host"
    else:
        status = "live" if _running(pid) else "stale"
    size = 0
    if not is_dir:
        with contextlib.suppress(OSError, TbtoolError):
            size = storage.size(path)
    return Leftover(path, is_dir, size, host, pid, status, remote=True)
