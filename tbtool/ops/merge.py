"""merge: combine event files and runs into one clean event file per output run.

Sources of an output run are read in TensorBoard's order (files by basename, across inputs),
every readable record is salvaged (damaged stretches are skipped and reported), restart
semantics are applied across all of them, exact duplicate records are dropped, and the result
is written as one file that starts with a single ``file_version`` event. Inputs are never
modified; the output goes through the verified atomic write of :mod:`tbtool.ops.rewrite`.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError

from tbtool import storage
from tbtool.errors import UsageError
from tbtool.logdir import discover, is_event_file_name
from tbtool.normalize import Normalizer
from tbtool.ops.purge_steps import classify, rewind_drops
from tbtool.ops.rewrite import write_verified
from tbtool.proto import event_pb2
from tbtool.purge import START, PurgeFilter, Restart
from tbtool.record import Record
from tbtool.salvage import SkippedRange, salvage_records
from tbtool.spool import spooled

LAYOUTS = ("merge", "sub-run", "tag-prefix")
WRITER_NAME = "tbtool.merge"


@dataclass(slots=True)
class OutputRun:
    """One run of the output and where its events come from."""

    name: str
    sources: list[tuple[str, str]] = field(default_factory=list)  # (input label, file path)
    written: str | None = None
    records_in: int = 0
    records_out: int = 0
    dropped_by_restarts: int = 0
    duplicates: int = 0
    skipped: list[SkippedRange] = field(default_factory=list)

    def reset_counts(self) -> None:
        """Zero the counters, before the sources are merged again."""
        self.records_in = self.records_out = self.dropped_by_restarts = self.duplicates = 0
        self.skipped.clear()

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "sources": [path for _, path in self.sources],
            "written": self.written,
            "records_in": self.records_in,
            "records_out": self.records_out,
            "dropped_by_restarts": self.dropped_by_restarts,
            "duplicates": self.duplicates,
            "skipped": [
                {"file": s.file, "start": s.start, "end": s.end, "reason": s.reason}
                for s in self.skipped
            ],
        }


@dataclass(slots=True)
class MergeResult:
    out: str
    runs: list[OutputRun]

    def to_json(self) -> dict[str, Any]:
        return {"out": self.out, "runs": [r.to_json() for r in self.runs]}


def _labels(inputs: Sequence[str]) -> list[str]:
    labels: list[str] = []
    for path in inputs:
        base = (
            storage.basename(path)
            if storage.is_url(path)
            else os.path.basename(os.path.normpath(path))
        ) or "input"
        label, n = base, 1
        while label in labels:
            n += 1
            label = f"{base}_{n}"
        labels.append(label)
    return labels


def plan_outputs(
    inputs: Sequence[str], *, layout: str = "merge", runs: Sequence[str] = ()
) -> list[OutputRun]:
    """Which output runs there will be, and their source files in read order."""
    if layout not in LAYOUTS:
        raise UsageError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    outputs: dict[str, OutputRun] = {}
    for label, path in zip(_labels(inputs), inputs, strict=True):
        for run in discover([path], runs):
            name = run.name
            if layout == "sub-run":
                name = label if name == "." else f"{label}/{name}"
            out = outputs.setdefault(name, OutputRun(name))
            out.sources.extend((label, f) for f in run.files)
    for out in outputs.values():
        out.sources.sort(key=lambda src: storage.basename(src[1]))
    return [outputs[k] for k in sorted(outputs)]


def _check_remote_out(out: str, inputs: Sequence[str]) -> None:
    for path in inputs:
        if storage.is_url(path):
            top = path if storage.isdir(path) else storage.parent(path)
            if storage.inside(out, top) or storage.inside(top, out):
                raise UsageError(f"output {out} overlaps input {path}: write the merge elsewhere")
    if storage.is_url(out):
        listing = storage.list_files(out)
        if storage.trim(out) in listing:
            raise UsageError(f"output {out} exists and is not a directory")
        if any(is_event_file_name(storage.basename(f)) for f in listing):
            raise UsageError(
                f"output {out} already holds event files: choose an empty or new directory"
            )


def _check_out(out: str, inputs: Sequence[str]) -> None:
    if storage.is_url(out) or any(storage.is_url(p) for p in inputs):
        _check_remote_out(out, [p for p in inputs if storage.is_url(p)])
        if storage.is_url(out):
            return
        inputs = [p for p in inputs if not storage.is_url(p)]
    real_out = os.path.realpath(out)
    for path in inputs:
        real_in = os.path.realpath(path)
        top = real_in if os.path.isdir(real_in) else os.path.dirname(real_in)
        if (
            real_out == top
            or real_out.startswith(top + os.sep)
            or top.startswith(real_out + os.sep)
        ):
            raise UsageError(f"output {out} overlaps input {path}: write the merge elsewhere")
    if os.path.exists(out):
        if not os.path.isdir(out):
            raise UsageError(f"output {out} exists and is not a directory")
        for _, _, files in os.walk(out):
            if any(is_event_file_name(f) for f in files):
                raise UsageError(
                    f"output {out} already holds event files: choose an empty or new directory"
                )


def _events(run: OutputRun, skipped: list[SkippedRange]) -> Iterator[tuple[int, str, Record, Any]]:
    """(file number, input label, record, Event) of every salvageable record, in read order;
    records that are not Events are added to ``skipped``."""
    for number, (label, path) in enumerate(run.sources):
        for record in salvage_records(path, skipped):
            try:
                event = event_pb2.Event.FromString(record.payload)
            except DecodeError:
                skipped.append(SkippedRange(path, record.offset, record.end, "not an Event"))
                continue
            yield number, label, record, event


def _is_start(event: Any) -> bool:
    return event.WhichOneof("what") == "session_log" and event.session_log.status == START


def _drop_rule(run: OutputRun, rule: str | None):
    """A predicate (file number, record index, value index, kind, step) -> dropped?"""
    if rule is None:
        return lambda number, index, k, kind, step: False
    if rule == "start":
        restarts = [
            Restart((number, record.index), event.step, record.offset)
            for number, _, record, event in _events(run, [])
            if _is_start(event)
        ]
        purge = PurgeFilter(restarts)
        return lambda number, index, k, kind, step: not purge.keeps((number, index), step, kind)
    normalizer = Normalizer()
    dropped = rewind_drops(
        ((number, record.index, k), *classify(normalizer, value), event.step)
        for number, _, record, event in _events(run, [])
        if event.HasField("summary")
        for k, value in enumerate(event.summary.value)
    )
    return lambda number, index, k, kind, step: (number, index, k) in dropped


def merged_payloads(
    run: OutputRun, *, rule: str | None, layout: str
) -> Iterator[tuple[int, float, bytes]]:
    """(step, wall_time, payload) of the output run, file_version excluded, in read order."""
    drops = _drop_rule(run, rule)
    normalizer = Normalizer()
    seen: set[bytes] = set()
    for number, label, record, event in _events(run, run.skipped):
        run.records_in += 1
        what = event.WhichOneof("what")
        if what == "file_version" or (rule is not None and _is_start(event)):
            continue  # one file_version is written first; applied restarts need no marker
        payload = record.payload
        if what == "summary":
            keep = []
            for k, value in enumerate(event.summary.value):
                _, kind = classify(normalizer, value)
                if drops(number, record.index, k, kind, event.step):
                    run.dropped_by_restarts += 1
                    continue
                if layout == "tag-prefix":
                    value.tag = f"{label}/{value.tag or value.node_name}"
                keep.append(value)
            if not keep:
                continue
            if len(keep) != len(event.summary.value) or layout == "tag-prefix":
                del event.summary.value[:]
                event.summary.value.extend(keep)
                payload = event.SerializeToString()
        digest = hashlib.blake2b(payload, digest_size=16).digest()
        if digest in seen:
            run.duplicates += 1
            continue
        seen.add(digest)
        yield event.step, event.wall_time, payload


def file_version_payload(wall_time: float) -> bytes:
    """The first event of a file tbtool writes when merging."""
    return event_pb2.Event(
        wall_time=wall_time,
        file_version="brain.Event:2",
        source_metadata=event_pb2.SourceMetadata(writer=WRITER_NAME),
    ).SerializeToString()


def file_payloads(
    first: tuple[int, float, bytes] | None, rest: Iterator[tuple[int, float, bytes]]
) -> Iterator[bytes]:
    """The records of a merged file: one ``file_version`` (at the first event's wall time),
    then the first event and the rest of :func:`merged_payloads`."""
    yield file_version_payload(first[1] if first is not None else 0.0)
    if first is not None:
        yield first[2]
        for _, _, payload in rest:
            yield payload


def merge(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    *,
    layout: str = "merge",
    rule: str | None = "start",
    sort_by_step: bool = False,
    runs: Sequence[str] = (),
) -> MergeResult:
    """Merge ``inputs`` (event files, runs or logdirs) into ``out``, one file per run.

    ``layout``: ``merge`` (same-named runs of all inputs become one run), ``sub-run`` (each
    input becomes a sub-run named after it) or ``tag-prefix`` (same-named runs merge, tags get
    the input's name as a prefix). ``rule``: restart rule applied across files (``start``,
    ``rewind``, or ``None`` to keep every value and START marker). ``sort_by_step`` orders each
    output run's events by step (stable).
    """
    inputs = [os.fspath(p) for p in inputs]
    out = os.fspath(out)
    if rule is not None and rule not in ("start", "rewind"):
        raise UsageError(f"unknown restart rule {rule!r}; use 'start', 'rewind' or none")
    _check_out(out, inputs)
    outputs = plan_outputs(inputs, layout=layout, runs=runs)
    if not outputs:
        raise UsageError(f"no runs found in {inputs}")
    host = socket.gethostname().replace(".", "_") or "host"
    for run in outputs:
        # Sources are read twice with the start rule: remote ones are fetched once.
        with spooled([path for _, path in run.sources] if rule is not None else ()):
            events = merged_payloads(run, rule=rule, layout=layout)
            if sort_by_step:
                events = iter(sorted(events, key=lambda e: e[0]))
            first = next(events, None)
            wall = first[1] if first is not None else 0.0
            directory = out if run.name == "." else storage.join(out, *run.name.split("/"))
            name = f"events.out.tfevents.{int(wall):010d}.{host}.tbtool"
            target = storage.join(directory, name)
            written = write_verified(target, file_payloads(first, events))
        run.written, run.records_out = written.path, written.records
    return MergeResult(out, outputs)
