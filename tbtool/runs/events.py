"""Events of one event file: records decoded as ``Event`` protobufs, with their location.

Like the record layer underneath, reading is resumable: a truncated tail is a state, and a
later ``read()`` continues when the file has grown (``dump --follow``, live runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from tbtool.errors import DataCrcMismatch, EventDecodeError, RecordError, TbtoolError
from tbtool.format.record import ReadState, RecordReader, RecordSource
from tbtool.proto import event_pb2

Event = event_pb2.Event


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One decoded event and where its record starts."""

    event: Any  # tbtool.proto.event_pb2.Event
    file: str
    offset: int
    index: int


def decode_event(payload: bytes, *, file: str, offset: int, index: int) -> Any:
    """Parse a record payload as an ``Event``; :class:`EventDecodeError` if it is not one."""
    try:
        return Event.FromString(payload)
    except DecodeError as e:
        raise EventDecodeError(
            f"record does not decode as an Event protobuf ({e})",
            file=file,
            offset=offset,
            index=index,
        ) from None


class EventFileReader:
    """Reads the events of one file.

    By default any corruption raises (a :class:`~tbtool.errors.TbtoolError` naming file,
    offset and record). With ``skip_corrupt=True`` bad records are skipped, a length-CRC
    failure ends the file, and every problem is kept in :attr:`problems`.
    """

    def __init__(
        self,
        source: RecordSource,
        *,
        name: str | None = None,
        skip_corrupt: bool = False,
        offset: int = 0,
        index: int = 0,
    ) -> None:
        self.records = RecordReader(source, name=name, offset=offset, index=index)
        self.name = self.records.name
        self.skip_corrupt = skip_corrupt
        self.problems: list[TbtoolError] = []

    @property
    def state(self) -> ReadState:
        return self.records.state

    def read(self) -> EventRecord | None:
        """The next event, or ``None`` when no complete record is available (see
        :attr:`state`)."""
        while True:
            try:
                record = self.records.read()
            except DataCrcMismatch as e:
                if not self.skip_corrupt:
                    raise
                self.problems.append(e)
                continue
            except RecordError as e:
                if not self.skip_corrupt:
                    raise
                if not self.problems or self.problems[-1] is not e:
                    self.problems.append(e)
                return None
            if record is None:
                return None
            try:
                event = decode_event(
                    record.payload, file=self.name, offset=record.offset, index=record.index
                )
            except EventDecodeError as e:
                if not self.skip_corrupt:
                    raise
                self.problems.append(e)
                continue
            return EventRecord(event, self.name, record.offset, record.index)

    def __iter__(self) -> Iterator[EventRecord]:
        while (item := self.read()) is not None:
            yield item

    def close(self) -> None:
        self.records.close()

    def __enter__(self) -> EventFileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_events(source: RecordSource, **options: Any) -> Iterator[EventRecord]:
    """All complete events of one file (a truncated tail ends iteration quietly)."""
    with EventFileReader(source, **options) as reader:
        yield from reader


@dataclass(frozen=True, slots=True)
class FileStatus:
    """How reading a file ended: events read, final state, where it stopped (what a
    reader keeps per file for ``ls`` and growing files, whichever path read it)."""

    events: int
    state: ReadState
    end_offset: int
    pending_bytes: int
