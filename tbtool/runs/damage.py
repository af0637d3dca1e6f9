"""What is wrong with a damaged event file, in the words of ``tbtool validate``.

The record and event layers raise typed errors (:mod:`tbtool.errors`) that say what failed
at one offset. A user needs to know what that means for the file: is it not an event file at
all, damaged in the middle, or only padded with zeros at the end? :func:`classify` answers
with validate's finding code and message, and is the one place that decides it: validate's
framing findings and every reading command's report of a damaged file come from here, so
the two always agree. A truncated last record is not damage (a file still being written) and
never reaches this module; zero bytes after the last record are damage that loses nothing
readable (:data:`TOLERATED`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tbtool import storage
from tbtool.errors import (
    DamagedFiles,
    DataCrcMismatch,
    EventDecodeError,
    LengthCrcMismatch,
    RecordTooLarge,
    TbtoolError,
    location,
)

NOT_AN_EVENT_FILE = "not an event file: its first bytes are not a TFRecord header"
#: Codes of damage after the last complete record that loses nothing readable (validate warns
#: about it): reading commands note it, as they note a truncated last record, and go on.
TOLERATED = frozenset({"trailing-bytes"})


@dataclass(frozen=True, slots=True)
class Damage:
    """One problem of one file: validate's finding ``code`` and ``message``, and where."""

    code: str
    message: str
    file: str
    offset: int | None = None
    index: int | None = None

    def location(self) -> str:
        return location(self.file, self.offset, self.index)


@dataclass(frozen=True, slots=True)
class FileDamage:
    """A damaged file: its first problem (what a user looks at first) and how many more."""

    first: Damage
    more: int = 0

    @property
    def file(self) -> str:
        return self.first.file

    @property
    def offset(self) -> int | None:
        return self.first.offset

    @property
    def index(self) -> int | None:
        return self.first.index

    @property
    def tolerated(self) -> bool:
        """Nothing readable was lost (see :data:`TOLERATED`): not a reason to fail."""
        return self.first.code in TOLERATED and not self.more

    def __str__(self) -> str:
        text = f"{self.first.location()}: {self.first.message} ({self.first.code})"
        if self.more:
            text += f"; and {self.more} more damaged record(s) in this file"
        return text

    def to_json(self) -> dict[str, object]:
        return {
            "code": self.first.code,
            "message": self.first.message,
            "offset": self.first.offset,
            "index": self.first.index,
            "more": self.more,
        }


def _size(path: str) -> int | None:
    try:
        return storage.size(path)
    except (OSError, TbtoolError):
        return None


def zero_tail(path: str, offset: int) -> bool:
    """Are all bytes from ``offset`` to the end of the file zero?"""
    with storage.open_input(path) as f:
        f.seek(offset)
        while chunk := f.read(1 << 20):
            if chunk.count(0) != len(chunk):
                return False
    return True


def classify(problem: TbtoolError, *, size: int | None = None) -> Damage:
    """validate's code and message for a problem met reading a file (``size``: the file's
    size, looked up when not given)."""
    file = problem.file or "<unknown file>"
    offset, index = problem.offset, problem.index
    where = {"file": file, "offset": offset, "index": index}
    if isinstance(problem, DataCrcMismatch):
        return Damage("data-crc-mismatch", problem.message, **where)
    if isinstance(problem, (LengthCrcMismatch, RecordTooLarge)):
        size = _size(file) if size is None else size
        rest = f"{size - (offset or 0)} bytes" if size is not None else "the bytes"
        if isinstance(problem, RecordTooLarge):
            message = f"{problem.message}; {rest} from here on cannot be read"
            return Damage("record-too-large", message, **where)
        if not offset:
            return Damage("not-event-file", NOT_AN_EVENT_FILE, **where)
        try:
            zeros = zero_tail(file, offset)
        except (OSError, TbtoolError):
            zeros = False
        if zeros:
            return Damage("trailing-bytes", f"{rest} zero bytes after the last record", **where)
        return Damage("length-crc-mismatch", f"{problem.message}: {rest} unreadable", **where)
    if isinstance(problem, EventDecodeError):
        if index == 0:
            message = (
                f"not an event file: its first record {problem.message.removeprefix('record ')}"
            )
            return Damage("not-event-file", message, **where)
        return Damage("undecodable-event", problem.message, **where)
    # An error type of a later layer may name its own finding code.
    code = getattr(problem, "code", None) or "undecodable-event"
    return Damage(code, problem.message, **where)


def damaged_files(problems: Sequence[TbtoolError]) -> list[FileDamage]:
    """The damaged files among ``problems``, in the order first met, each with its first
    problem classified (a problem met twice, by two reads of one file, counts once)."""
    first: dict[str, TbtoolError] = {}
    seen: dict[str, set[tuple]] = {}
    for problem in problems:
        key = problem.file or "<unknown file>"
        first.setdefault(key, problem)
        seen.setdefault(key, set()).add((type(problem), problem.offset, problem.index))
    return [FileDamage(classify(p), len(seen[f]) - 1) for f, p in first.items()]


def raise_for_damage(problems: Sequence[TbtoolError]) -> None:
    """Raise :class:`~tbtool.errors.DamagedFiles` naming every damaged file among
    ``problems`` (nothing to raise when there are none, or all are :data:`TOLERATED`)."""
    files = [f for f in damaged_files(problems) if not f.tolerated]
    if files:
        raise DamagedFiles(files)
