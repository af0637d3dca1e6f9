"""A rewritten event file as stretches of its sources copied byte for byte, plus the few
records that had to be re-encoded: how merge and purge write at close to I/O speed.

A record whose values all stay is copied as it is: its framing and CRCs stay valid, and its
bytes are what encoding its payload again would give. Records that lie next to each other in
a source and stay next to each other in the output become one copy, so a file that loses
only its tail costs one read and one write, not a Python call per record. Only a record that
loses some of its values (or has its tags renamed) is decoded, filtered and re-encoded, with
the same protobuf calls the per-event code made, so the output is byte-identical to it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np

from tbtool import storage
from tbtool.columnar.walk import Progress
from tbtool.errors import TbtoolError
from tbtool.format.masked_crc import masked_crc32c
from tbtool.format.record import HEADER_SIZE, RECORD_OVERHEAD, encode_record
from tbtool.proto import event_pb2

#: Bytes gathered before they are handed to the writer, and read from a source at a time.
BLOCK = 4 << 20


class SourceChanged(TbtoolError):
    """A source file changed between the plan and the rewrite (a writer is still active)."""


@dataclass(frozen=True, slots=True)
class Recode:
    """How to re-encode a record: keep the values at ``keep`` (their positions in
    ``Event.summary.value``) and prefix their tags with ``prefix/``. ``source_crc``: the
    masked CRC the source payload had when planned (checked again when it is read);
    ``crc``: that of the result, when the plan computed it (merge's duplicate search)."""

    keep: tuple[int, ...]
    source_crc: int
    prefix: str | None = None
    crc: int | None = None


def reencode(payload: bytes, recode: Recode) -> bytes:
    """The payload with only the kept values (renamed), as the per-event code encoded it."""
    event = event_pb2.Event.FromString(payload)
    values = event.summary.value
    keep = []
    for k in recode.keep:
        value = values[k]
        if recode.prefix is not None:
            value.tag = f"{recode.prefix}/{value.tag or value.node_name}"
        keep.append(value)
    del values[:]
    values.extend(keep)
    return event.SerializeToString()


@dataclass(eq=False)
class Splice:
    """An output file as pieces, in order: piece ``i`` copies bytes ``start[i]:end[i]`` of
    source ``src[i]`` (``records[i]`` whole records), unless it is a single record to
    re-encode (``recode``) or a literal payload (``literal``, ``src`` -1)."""

    sources: Sequence[str]
    src: np.ndarray
    start: np.ndarray
    end: np.ndarray
    records: np.ndarray
    recode: dict[int, Recode] = field(default_factory=dict)
    literal: dict[int, bytes] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        sources: Sequence[str],
        src: np.ndarray,
        start: np.ndarray,
        size: np.ndarray,
        recode: dict[int, Recode] | None = None,
        literal: dict[int, bytes] | None = None,
    ) -> Splice:
        """From output records (record ``i``: ``size[i]`` bytes at ``start[i]`` of source
        ``src[i]``; ``recode`` and ``literal`` keyed by record): records that follow each other
        in a source and in the output merge into one piece."""
        recode, literal = recode or {}, literal or {}
        n = len(src)
        special = np.zeros(n, dtype=bool)
        special[list(recode)] = True
        special[list(literal)] = True
        follows = np.zeros(n, dtype=bool)
        if n > 1:
            follows[1:] = (
                ~special[1:]
                & ~special[:-1]
                & (src[1:] == src[:-1])
                & (start[1:] == start[:-1] + size[:-1])
            )
        first = np.flatnonzero(~follows)
        last = np.r_[first[1:] - 1, n - 1].astype(np.int64) if n else first
        piece_of = np.cumsum(~follows) - 1  # record -> piece
        return cls(
            sources,
            src[first].astype(np.int32),
            start[first].astype(np.int64),
            (start[last] + size[last]).astype(np.int64),
            (last - first + 1).astype(np.int64),
            {int(piece_of[r]): v for r, v in recode.items()},
            {int(piece_of[r]): v for r, v in literal.items()},
        )

    @property
    def total_records(self) -> int:
        return int(self.records.sum())

    @property
    def source_bytes(self) -> int:
        """Bytes read from the sources (the work, for progress displays)."""
        return int((self.end - self.start)[self.src >= 0].sum())


def blocks(splice: Splice, progress: Progress | None = None) -> Iterator[tuple[bytes, int]]:
    """The framed bytes of the output with their record counts, in blocks of about
    :data:`BLOCK` bytes: what :func:`tbtool.ops.rewrite.write_verified_blocks` writes."""
    sources = SourceFiles(splice.sources)
    pending: list[bytes] = []
    pending_bytes = pending_records = 0
    try:
        for i, (src, start, end, records) in enumerate(
            zip(
                splice.src.tolist(),
                splice.start.tolist(),
                splice.end.tolist(),
                splice.records.tolist(),
                strict=True,
            )
        ):
            if i in splice.literal:
                data = encode_record(splice.literal[i])
            elif i in splice.recode:
                data = _recoded(sources, src, start, end, splice.recode[i])
            elif end - start >= BLOCK:  # a long stretch goes straight through
                if pending:
                    yield b"".join(pending), pending_records
                    pending, pending_bytes, pending_records = [], 0, 0
                yield from sources.stretch(src, start, end, records, progress)
                continue
            else:
                data = sources.read(src, start, end - start)
            if progress is not None and src >= 0:
                progress.bytes += end - start
                progress.update()
            pending.append(data)
            pending_bytes += len(data)
            pending_records += records
            if pending_bytes >= BLOCK:
                yield b"".join(pending), pending_records
                pending, pending_bytes, pending_records = [], 0, 0
        if pending:
            yield b"".join(pending), pending_records
    finally:
        sources.close()


def _recoded(sources: SourceFiles, src: int, start: int, end: int, recode: Recode) -> bytes:
    record = sources.read(src, start, end - start)
    payload = record[HEADER_SIZE:-4]
    path = sources.paths[src]
    if masked_crc32c(payload) != recode.source_crc:
        raise SourceChanged(
            "changed since the plan (is a writer still logging to this run?); nothing was replaced",
            file=path,
        )
    new = reencode(payload, recode)
    if recode.crc is not None and masked_crc32c(new) != recode.crc:
        raise SourceChanged("a record re-encoded differently than planned", file=path)
    return encode_record(new)


class SourceFiles:
    """Source files opened once, read by byte range."""

    def __init__(self, paths: Sequence[str]) -> None:
        self.paths = paths
        self.files: dict[int, BinaryIO] = {}

    def _file(self, src: int) -> BinaryIO:
        f = self.files.get(src)
        if f is None:
            f = self.files[src] = storage.open_input(self.paths[src])
        return f

    def read(self, src: int, start: int, size: int) -> bytes:
        f = self._file(src)
        f.seek(start)
        data = f.read(size)
        if len(data) != size:
            raise SourceChanged(
                f"ends before byte {start + size} it had when planned; nothing was replaced",
                file=self.paths[src],
            )
        return data

    def stretch(
        self, src: int, start: int, end: int, records: int, progress: Progress | None
    ) -> Iterator[tuple[bytes, int]]:
        """A long copied stretch in blocks; its record count comes with the last one."""
        while start < end:
            size = min(BLOCK, end - start)
            data = self.read(src, start, size)
            start += size
            if progress is not None:
                progress.bytes += size
                progress.update()
            yield data, records if start >= end else 0

    def close(self) -> None:
        for f in self.files.values():
            with contextlib.suppress(OSError):
                f.close()


def record_sizes(lengths: np.ndarray) -> np.ndarray:
    """Bytes a record takes in its file, framing included."""
    return lengths + RECORD_OVERHEAD
