"""merge's per-event engine: the salvage path for runs with damaged or unreadable sources.

Every readable record of every source is salvaged (damaged stretches are skipped and
reported, :mod:`tbtool.format.salvage`), decoded with protobuf and classified one value at a time.
Runs whose sources all read cleanly take the columnar path of :mod:`tbtool.ops.merge_plan`
instead, which writes the same bytes; this engine stays for the runs it cannot take and is
the oracle the tests hold that path to.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from tbtool.format.record import Record
from tbtool.format.salvage import SkippedRange, salvage_records
from tbtool.proto import event_pb2
from tbtool.runs.purge import START, UNPURGED_KINDS, PurgeFilter, Restart
from tbtool.values.normalize import Normalizer

if TYPE_CHECKING:
    from tbtool.ops.merge_plan import OutputRun

ValuePosition = tuple[int, int, int]  # (file number, record index, value index)


def classify(normalizer: Normalizer, value: Any) -> tuple[str, str]:
    item = normalizer.summary_value(value)
    tag = value.tag or value.node_name
    return tag, (item[2].kind if item is not None else "empty")


def rewind_drops(values: Iterable[tuple[ValuePosition, str, str, int]]) -> set[ValuePosition]:
    """Positions the rewind rule drops, from (position, tag, kind, step) in read order."""
    series: dict[str, list[tuple[ValuePosition, int]]] = {}
    for position, tag, kind, step in values:
        if kind not in UNPURGED_KINDS:
            series.setdefault(tag, []).append((position, step))
    dropped: set[ValuePosition] = set()
    for points in series.values():
        later_min: int | None = None
        for position, step in reversed(points):
            if later_min is not None and step >= later_min:
                dropped.add(position)
            later_min = step if later_min is None else min(later_min, step)
    return dropped


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
