"""Errors tbtool raises, each carrying the facts a user needs to find the problem.

Every error names the file and, where it applies, the byte offset and record index, so the
CLI can turn it into one readable line and a script can act on the fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from difflib import get_close_matches


def location(file: str | None, offset: int | None, index: int | None) -> str:
    """``file, byte offset N, record I``: where a problem is, as every message says it."""
    where = [str(file)] if file is not None else []
    if offset is not None:
        where.append(f"byte offset {offset}")
    if index is not None:
        where.append(f"record {index}")
    return ", ".join(where)


class TbtoolError(Exception):
    """Base class: something about the input or the request is wrong."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        offset: int | None = None,
        index: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.offset = offset
        self.index = index

    def __str__(self) -> str:
        where = location(self.file, self.offset, self.index)
        return f"{where}: {self.message}" if where else self.message


class RecordError(TbtoolError):
    """A TFRecord framing problem."""


class LengthCrcMismatch(RecordError):
    """The length field's CRC is wrong: the record boundary is unknown, so nothing after this
    point in the file can be read (there is no way to resynchronise)."""


class RecordTooLarge(RecordError):
    """The length field is valid but absurd (larger than any record a writer produces)."""


class DataCrcMismatch(RecordError):
    """The payload's CRC is wrong. Record-local: the reader has already moved past it, so the
    caller can report it and keep reading. ``payload`` holds the (suspect) bytes."""

    def __init__(self, message: str, *, payload: bytes, **where: object) -> None:
        super().__init__(message, **where)  # type: ignore[arg-type]
        self.payload = payload


class TruncatedRecord(RecordError):
    """The file ends inside a record. Usually a file still being written; raised only by
    callers that require complete files (the record reader itself treats it as a state)."""


class EventDecodeError(TbtoolError):
    """A record's payload passed its CRC but is not an ``Event`` protobuf."""


class PathError(TbtoolError):
    """A path given by the user does not exist or is not something tbtool can read."""


class UsageError(TbtoolError):
    """A request that cannot be carried out as asked (bad pattern, bad range, ...)."""


class DamagedFiles(TbtoolError):
    """Files that could not be read in full (raised after reading everything else, so it
    names every one). ``files``: one :class:`~tbtool.runs.damage.FileDamage` per damaged file,
    each with validate's finding code and wording; ``file``, ``offset`` and ``index`` are
    those of the first. Read with ``skip_corrupt=True`` to get the rest of the data instead."""

    def __init__(self, files: list) -> None:
        self.files = list(files)
        first = self.files[0]
        names = "; ".join(str(f) for f in self.files)
        super().__init__(
            f"{len(self.files)} damaged event file(s): {names}. Read with skip_corrupt=True "
            "(--skip-corrupt) to go on without the damaged parts; tbtool validate lists "
            "every problem",
        )
        self.file, self.offset, self.index = first.file, first.offset, first.index

    def __str__(self) -> str:
        return self.message


def not_one_of(value: str, choices: Sequence[str], what: str = "") -> str:
    """The message for a name outside a closed set: the choices and the likeliest typo fix
    (``'jsn' is not one of text, json; did you mean json?``)."""
    close = get_close_matches(value, choices, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{what}{value!r} is not one of {', '.join(choices)}{hint}"
