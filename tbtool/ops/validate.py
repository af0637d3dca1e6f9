"""validate: prove that event files are intact and their contents sane.

Every file is streamed once (bounded memory: per-tag state, not per-value state) and every
problem becomes a :class:`~tbtool.ops.findings.Finding` with a stable code. The codes, their
severities and what to do about each are in docs/findings.md; :data:`CODES` is the source.
"""

from __future__ import annotations

import bisect
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from tbtool.errors import DataCrcMismatch, LengthCrcMismatch, RecordTooLarge
from tbtool.image_header import image_size
from tbtool.logdir import Run, discover, is_event_file_name, tag_matcher, walk_files
from tbtool.normalize import Normalizer
from tbtool.ops.findings import Finding, FindingCollector, Report
from tbtool.proto import event_pb2
from tbtool.purge import Restart, find_restarts
from tbtool.record import HEADER_SIZE, ReadState, RecordReader
from tbtool.values import Histogram, HParams, Image, Scalar, Tensor

#: code -> (default severity, one-line meaning). docs/findings.md explains each.
CODES: dict[str, tuple[str, str]] = {
    "empty-file": ("warning", "a zero-byte event file (its writer never flushed)"),
    "not-event-file": ("error", "the file is not TFRecord-framed events at all"),
    "length-crc-mismatch": ("error", "a record's length field is corrupt; the rest is unreadable"),
    "record-too-large": ("error", "a record claims an absurd length; the rest is unreadable"),
    "data-crc-mismatch": ("error", "a record's payload does not match its checksum"),
    "truncated-record": ("warning", "the file ends inside a record (still being written?)"),
    "trailing-bytes": ("warning", "zero bytes after the last record (preallocation or a crash)"),
    "undecodable-event": ("error", "a record's payload is not an Event protobuf"),
    "missing-file-version": ("warning", "the first record is not the file_version event"),
    "nonfinite-wall-time": ("error", "an event's wall_time is NaN or infinite"),
    "wall-time-backwards": ("warning", "wall_time decreases within a file"),
    "step-backwards": ("warning", "a tag's step goes back without a restart event"),
    "duplicate-step": ("warning", "a tag has two values at the same step"),
    "restart": ("info", "a SessionLog START: earlier values with step >= its step are dropped"),
    "nonfinite-value": ("warning", "a scalar is NaN or infinite"),
    "histogram-count-mismatch": ("error", "histogram bucket counts do not add up to num"),
    "undecodable-value": ("error", "a summary value's contents do not fit its kind"),
    "empty-value": ("warning", "a summary value holds no data"),
    "kind-changed": ("warning", "a tag's kind or plugin changes within a run"),
    "image-undecodable": ("error", "an image's bytes are not a readable image"),
    "image-size-mismatch": ("error", "an image's real size differs from its declared size"),
    "hparams-no-experiment": ("warning", "hparams sessions without an experiment definition"),
    "hparams-metric-missing": ("warning", "an hparams metric is never logged by a session"),
    "run-without-summaries": ("warning", "a run holds no summary values"),
    "unrecognized-event-file": ("warning", "an event file TensorBoard will not load (name)"),
}

#: Files modified this recently may still be being written.
RECENT_SECONDS = 300.0
#: Kinds written once per run by design: repeated steps are not suspicious.
_STEPLESS_KINDS = frozenset({"hparams", "custom_scalars", "graph", "run_metadata"})


def _finding(code: str, message: str, *, severity: str | None = None, **where: Any) -> Finding:
    return Finding(code, severity or CODES[code][0], message, **where)


@dataclass(slots=True)
class _TagState:
    kind: str
    plugin: str
    last_step: int
    epoch: int  # number of restarts seen when the last value came


class _HParamsTracker:
    """What the hparams checks need across runs: sessions, experiments, scalar tags."""

    def __init__(self) -> None:
        self.sessions: set[str] = set()
        self.experiments: dict[str, list[tuple[str, str]]] = {}
        self.scalar_tags: set[tuple[str, str]] = set()

    def add(self, run: str, value: HParams) -> None:
        if value.part == "session_start_info":
            self.sessions.add(run)
        elif value.part == "experiment":
            names = [m.get("name", {}) for m in value.data.get("metric_infos", [])]
            self.experiments[run] = [(n.get("group", ""), n.get("tag", "")) for n in names]

    def finish(self, collector: FindingCollector) -> None:
        for session in sorted(self.sessions):
            experiment = _nearest_ancestor(session, self.experiments)
            if experiment is None:
                collector.add(
                    _finding(
                        "hparams-no-experiment",
                        "hparams session has no experiment (hparams_config) in its run or a "
                        "parent run; TensorBoard infers one from all sessions",
                        run=session,
                    )
                )
                continue
            for group, tag in self.experiments[experiment]:
                if not self._logged(session, group, tag):
                    where = f"{session}/{group}" if group and session != "." else group or session
                    collector.add(
                        _finding(
                            "hparams-metric-missing",
                            f"metric {tag!r} (group {group!r}) is declared by the experiment but "
                            f"never logged in run {where!r} or its sub-runs",
                            run=session,
                            tag=tag,
                        )
                    )

    def _logged(self, session: str, group: str, tag: str) -> bool:
        base = session if not group else (group if session == "." else f"{session}/{group}")
        return any(
            t == tag and (r == base or base == "." or r.startswith(base + "/"))
            for r, t in self.scalar_tags
        )


def _nearest_ancestor(run: str, runs: dict[str, Any]) -> str | None:
    candidate = run
    while True:
        if candidate in runs:
            return candidate
        if candidate in (".", ""):
            return None
        candidate = candidate.rsplit("/", 1)[0] if "/" in candidate else "."


def _zero_tail(path: str, offset: int) -> bool:
    """Are all bytes from ``offset`` to the end of the file zero?"""
    with open(path, "rb") as f:
        f.seek(offset)
        while chunk := f.read(1 << 20):
            if chunk.count(0) != len(chunk):
                return False
    return True


class _RunValidator:
    """Checks one run: its files in read order, then per-tag and per-run facts."""

    def __init__(
        self,
        run: Run,
        collector: FindingCollector,
        report: Report,
        *,
        strict: bool,
        tag_ok: Callable[[str], bool],
        hparams: _HParamsTracker,
        recent_seconds: float,
        now: float,
    ) -> None:
        self.run = run
        self.collector = collector
        self.report = report
        self.strict = strict
        self.tag_ok = tag_ok
        self.hparams = hparams
        self.recent_seconds = recent_seconds
        self.now = now
        self.restarts: list[Restart] = sorted(find_restarts(run.files), key=lambda r: r.position)
        self._restart_positions = [r.position for r in self.restarts]
        self.orphans = [0] * len(self.restarts)
        self.epoch = 0
        self.summary_values = 0
        self.records_read = 0
        self.normalizer = Normalizer()
        self.tags: dict[str, _TagState] = {}

    def add(self, code: str, message: str, *, fold: bool = False, **where: Any) -> None:
        self.collector.add(_finding(code, message, run=self.run.name, **where), fold=fold)

    # -- files -------------------------------------------------------------------------------
    def check(self) -> None:
        for number, path in enumerate(self.run.files):
            self.report.files += 1
            self.report.checked_files.append(path)
            self.check_file(number, path)
        if self.summary_values == 0 and self.records_read:
            self.add("run-without-summaries", "run holds no summary values")
        for restart, orphans in zip(self.restarts, self.orphans, strict=True):
            file = self.run.files[restart.position[0]]
            self.add(
                "restart",
                f"SessionLog START at step {restart.step}: drops {orphans} earlier value(s) "
                f"with step >= {restart.step}",
                file=file,
                offset=restart.offset,
                index=restart.position[1],
                step=restart.step,
            )

    def check_file(self, number: int, path: str) -> None:
        size = os.path.getsize(path)
        if size == 0:
            self.add("empty-file", "zero-byte event file", file=path)
            return
        last_wall: float | None = None
        with RecordReader(path) as reader:
            while True:
                try:
                    record = reader.read()
                except DataCrcMismatch as e:
                    self.report.records += 1
                    self.add(
                        "data-crc-mismatch", e.message, file=path, offset=e.offset, index=e.index
                    )
                    continue
                except LengthCrcMismatch as e:
                    self.framing_failure(path, size, e.offset, e.index, e.message)
                    break
                except RecordTooLarge as e:
                    self.add(
                        "record-too-large",
                        f"{e.message}; the {size - e.offset} bytes from here on cannot be read",
                        file=path,
                        offset=e.offset,
                        index=e.index,
                    )
                    break
                if record is None:
                    break
                self.report.records += 1
                self.records_read += 1
                try:
                    event = event_pb2.Event.FromString(record.payload)
                except DecodeError as e:
                    code = "not-event-file" if record.index == 0 else "undecodable-event"
                    self.add(
                        code,
                        f"record does not decode as an Event protobuf ({e})",
                        file=path,
                        offset=record.offset,
                        index=record.index,
                    )
                    continue
                where = {"file": path, "offset": record.offset, "index": record.index}
                last_wall = self.check_event(number, event, last_wall, where)
            if reader.state is ReadState.TRUNCATED:
                self.truncated(path, reader.offset, reader.index, reader.pending_bytes)

    def framing_failure(self, path: str, size: int, offset: int, index: int, msg: str) -> None:
        where = {"file": path, "offset": offset, "index": index}
        if offset == 0:
            self.add(
                "not-event-file",
                "not an event file: its first bytes are not a TFRecord header",
                **where,
            )
        elif _zero_tail(path, offset):
            self.add("trailing-bytes", f"{size - offset} zero bytes after the last record", **where)
        else:
            self.add("length-crc-mismatch", f"{msg}: {size - offset} bytes unreadable", **where)

    def truncated(self, path: str, offset: int, index: int, pending: int) -> None:
        try:
            age = self.now - os.path.getmtime(path)
        except OSError:
            age = math.inf
        note = (
            f"modified {age:.0f} s ago: may still be being written"
            if age < self.recent_seconds
            else "the writer probably stopped mid-record"
        )
        header = "inside the record header" if pending < HEADER_SIZE else "inside the record"
        self.add(
            "truncated-record",
            f"file ends {header} ({pending} bytes of an incomplete record); {note}",
            severity="error" if self.strict else None,
            file=path,
            offset=offset,
            index=index,
        )

    # -- events ------------------------------------------------------------------------------
    def check_event(
        self, number: int, event: Any, last_wall: float | None, where: dict[str, Any]
    ) -> float | None:
        what = event.WhichOneof("what")
        if where["index"] == 0 and what != "file_version":
            self.add(
                "missing-file-version",
                f"first record is a {what or 'empty'} event, not "
                "file_version (not written by a TensorBoard writer, or its start is lost)",
                **where,
            )
        wall = event.wall_time
        if not math.isfinite(wall):
            self.add("nonfinite-wall-time", f"wall_time is {wall}", fold=True, **where)
        elif what != "file_version":
            if last_wall is not None and wall < last_wall:
                self.add(
                    "wall-time-backwards",
                    f"wall_time {wall} is before the previous event's {last_wall}",
                    fold=True,
                    step=event.step,
                    **where,
                )
            last_wall = wall
        if what == "session_log" and event.session_log.status == event_pb2.SessionLog.START:
            self.epoch += 1
        elif what == "summary":
            for value in event.summary.value:
                self.check_value(number, event, value, where)
        return last_wall

    def check_value(self, number: int, event: Any, raw: Any, where: dict[str, Any]) -> None:
        self.summary_values += 1
        tag = raw.tag or raw.node_name
        item = self.normalizer.summary_value(raw)
        if not self.tag_ok(tag):
            return
        step = event.step
        at = {**where, "tag": tag, "step": step}
        if item is None:
            self.add(
                "empty-value",
                "summary value holds no data (e.g. torch add_video without a working moviepy)",
                fold=True,
                **at,
            )
            return
        _, plugin, value = item
        self.check_steps(tag, value.kind, plugin, raw, step, at)
        self.count_orphan((number, where["index"]), step, value.kind)
        if isinstance(value, Scalar):
            if not math.isfinite(value.value):
                self.add("nonfinite-value", f"scalar is {value.value}", fold=True, **at)
            self.hparams.scalar_tags.add((self.run.name, tag))
        elif isinstance(value, Histogram):
            self.check_histogram(value, at)
        elif isinstance(value, Image):
            self.check_image(value, at)
        elif isinstance(value, Tensor) and value.error is not None:
            self.add("undecodable-value", f"{value.error}", fold=True, **at)
        elif isinstance(value, HParams):
            self.hparams.add(self.run.name, value)

    def check_steps(
        self, tag: str, kind: str, plugin: str, raw: Any, step: int, at: dict[str, Any]
    ) -> None:
        state = self.tags.get(tag)
        if state is None:
            self.tags[tag] = _TagState(kind, plugin, step, self.epoch)
            return
        own_plugin = raw.metadata.plugin_data.plugin_name if raw.HasField("metadata") else None
        if kind != state.kind or (own_plugin is not None and own_plugin != state.plugin):
            self.add(
                "kind-changed",
                f"tag was {state.kind} (plugin {state.plugin!r}), now "
                f"{kind} (plugin {own_plugin or plugin!r})",
                fold=True,
                **at,
            )
        if kind not in _STEPLESS_KINDS and state.epoch == self.epoch:
            if step == state.last_step:
                self.add("duplicate-step", f"second value at step {step}", fold=True, **at)
            elif step < state.last_step:
                self.add(
                    "step-backwards",
                    f"step {step} after step {state.last_step} with no restart event in between",
                    fold=True,
                    **at,
                )
        state.last_step, state.epoch = step, self.epoch

    def count_orphan(self, position: tuple[int, int], step: int, kind: str) -> None:
        if not self.restarts or kind in ("graph", "run_metadata"):
            return
        i = bisect.bisect_right(self._restart_positions, position)
        for j in range(i, len(self.restarts)):
            if step >= self.restarts[j].step:
                self.orphans[j] += 1
                return

    def check_histogram(self, value: Histogram, at: dict[str, Any]) -> None:
        if value.num is None or value.bucket is None:
            return
        total = float(value.bucket.sum())
        if abs(total - value.num) > 1e-6 * max(1.0, abs(value.num)):
            self.add(
                "histogram-count-mismatch",
                f"bucket counts add up to {total:g} but num is {value.num:g}",
                fold=True,
                **at,
            )

    def check_image(self, value: Image, at: dict[str, Any]) -> None:
        for blob in value.images:
            size = image_size(blob)
            if size is None:
                self.add(
                    "image-undecodable",
                    f"{len(blob)} bytes that are not a PNG, GIF, JPEG, BMP or WebP image",
                    fold=True,
                    **at,
                )
            elif value.width and value.height and (size[1], size[2]) != (value.width, value.height):
                self.add(
                    "image-size-mismatch",
                    f"declared {value.width}x{value.height}, the {size[0]} is {size[1]}x{size[2]}",
                    fold=True,
                    **at,
                )


def _unrecognized_event_files(paths: Sequence[str], collector: FindingCollector) -> None:
    """Files that hold events but whose name TensorBoard does not recognise."""
    for path in paths:
        if not os.path.isdir(path):
            continue
        for directory, files in walk_files(path):
            for name in sorted(files):
                if is_event_file_name(name):
                    continue
                full = os.path.join(directory, name)
                if _starts_with_file_version(full):
                    collector.add(
                        _finding(
                            "unrecognized-event-file",
                            "holds TensorBoard events but its name lacks 'tfevents', so "
                            "TensorBoard (and tbtool, unless given the file) will not read it",
                            file=full,
                        )
                    )


def _starts_with_file_version(path: str) -> bool:
    try:
        with RecordReader(path, max_record_length=1 << 16) as reader:
            record = reader.read()
    except (OSError, DataCrcMismatch, LengthCrcMismatch, RecordTooLarge):
        return False
    if record is None:
        return False
    try:
        return event_pb2.Event.FromString(record.payload).WhichOneof("what") == "file_version"
    except DecodeError:
        return False


def validate(
    paths: str | os.PathLike | Sequence[str | os.PathLike],
    *,
    strict: bool = False,
    runs: Sequence[str] = (),
    tags: Sequence[str] = (),
    ignore: Sequence[str] = (),
    recent_seconds: float = RECENT_SECONDS,
) -> Report:
    """Check every file of every run under ``paths``; never raises for bad *content*.

    ``strict`` makes a truncated final record an error; ``ignore`` drops findings by code;
    ``runs``/``tags`` filter like everywhere else. Raises only for unusable requests (a
    missing path, a bad pattern).
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    unknown = sorted(set(ignore) - set(CODES))
    if unknown:
        from tbtool.errors import UsageError

        raise UsageError(f"unknown finding code(s) for --ignore: {', '.join(unknown)}")
    collector = FindingCollector(ignore)
    report = Report("validate")
    hparams = _HParamsTracker()
    tag_ok = tag_matcher(tags)
    now = time.time()
    for run in discover(paths, runs):
        _RunValidator(
            run,
            collector,
            report,
            strict=strict,
            tag_ok=tag_ok,
            hparams=hparams,
            recent_seconds=recent_seconds,
            now=now,
        ).check()
    hparams.finish(collector)
    if not runs:
        _unrecognized_event_files(paths, collector)
    report.findings = collector.findings
    return report
