"""Event file names: TensorBoard's ``EventFileWriter`` pattern (format.md §4.1), created
exclusively (two writers never share or truncate a file) and sorting after the files
already in the directory (readers take a run's files in name order)."""

from __future__ import annotations

import itertools
import os
import re
import socket
import time
from collections.abc import Sequence
from typing import Any

# Process-wide file counter, the ``<counter>`` of the file name (TensorBoard shares one
# counter among all writers of a process in the same way).
_counter = itertools.count()


def event_file_name(
    logdir: str, suffix: str = "", counter: int | None = None, seconds: float | None = None
) -> str:
    """``<logdir>/events.out.tfevents.<secs %010d>.<host>.<pid>.<counter><suffix>``."""
    if counter is None:
        counter = next(_counter)
    name = "events.out.tfevents.%010d.%s.%s.%s" % (  # noqa: UP031 - TensorBoard's format
        time.time() if seconds is None else seconds,
        socket.gethostname(),
        os.getpid(),
        counter,
    )
    return os.path.join(logdir, name) + suffix


_SECONDS = re.compile(r"events\.out\.tfevents\.(\d{10})")


def _seconds_after_existing(
    logdir: str, name: str, existing: Sequence[str] | None = None
) -> int | None:
    """Readers order a run's files by name, so a new file must sort after the files already
    there. Names only differ after the seconds when files are made within one second, and
    then pid and counter compare as text ("10" < "9"): in that case the new name takes the
    next second after the last existing file's."""
    names = os.listdir(logdir) if existing is None else existing
    latest = max((n for n in names if "tfevents" in n), default="")
    if os.path.basename(name) > latest:
        return None
    match = _SECONDS.match(latest)
    return int(match.group(1)) + 1 if match else None


def create(logdir: str, suffix: str, existing: Sequence[str] | None = None) -> tuple[str, Any]:
    """Create a new event file exclusively (never reuse or truncate an existing one), named
    to sort after the event files already in ``logdir`` (or after the names ``existing``,
    the files of the remote directory a local staging file will be uploaded to)."""
    for _ in range(1000):
        counter = next(_counter)
        path = event_file_name(logdir, suffix, counter)
        seconds = _seconds_after_existing(logdir, path, existing)
        if seconds is not None:
            path = event_file_name(logdir, suffix, counter, seconds)
        if existing is not None and os.path.basename(path) in existing:
            continue
        try:
            return path, open(path, "xb", buffering=0)
        except FileExistsError:
            continue
    raise FileExistsError(f"could not find a free event file name in {logdir}")
