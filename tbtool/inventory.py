"""What a logdir holds, at a glance: the library side of ``tbtool ls``.

Per run: its event files (size, events, how reading ended), and per tag its kind, number of
values, step range, first/last wall time and, for scalars, the last value. Counts are after
purge semantics unless the reader was opened with ``purge=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tbtool import storage
from tbtool.errors import TbtoolError
from tbtool.logdir import tag_matcher
from tbtool.reader import LogReader
from tbtool.record import ReadState
from tbtool.spool import spooled
from tbtool.values import EVENT_KINDS, SUMMARY_KINDS, LoggedValue, Scalar, json_float


@dataclass(slots=True)
class TagSummary:
    """One (tag, kind) series of a run."""

    tag: str
    kind: str
    plugin_name: str
    count: int = 0
    first_step: int = 0
    last_step: int = 0
    min_step: int = 0
    max_step: int = 0
    first_wall_time: float = 0.0
    last_wall_time: float = 0.0
    last_value: float | None = None

    def add(self, item: LoggedValue) -> None:
        if self.count == 0:
            self.first_step = self.min_step = self.max_step = item.step
            self.first_wall_time = item.wall_time
        self.count += 1
        self.last_step = item.step
        self.min_step = min(self.min_step, item.step)
        self.max_step = max(self.max_step, item.step)
        self.last_wall_time = item.wall_time
        if isinstance(item.value, Scalar):
            self.last_value = item.value.value

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "kind": self.kind,
            "plugin_name": self.plugin_name,
            "count": self.count,
            "min_step": self.min_step,
            "max_step": self.max_step,
            "first_wall_time": json_float(self.first_wall_time),
            "last_wall_time": json_float(self.last_wall_time),
            "last_step": self.last_step,
            "last_value": None if self.last_value is None else json_float(self.last_value),
        }


@dataclass(slots=True)
class FileSummary:
    """One event file of a run."""

    path: str
    size: int
    events: int = 0
    state: str = ReadState.CLEAN_EOF.value
    pending_bytes: int = 0
    file_version: str = ""
    writer: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "events": self.events,
            "state": self.state,
            "pending_bytes": self.pending_bytes,
            "file_version": self.file_version,
            "writer": self.writer,
        }


@dataclass(slots=True)
class RunSummary:
    """A run: files, tags and time span."""

    name: str
    directory: str
    files: list[FileSummary] = field(default_factory=list)
    tags: dict[tuple[str, str], TagSummary] = field(default_factory=dict)
    restarts: int = 0
    first_wall_time: float | None = None
    last_wall_time: float | None = None

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def tags_by_kind(self) -> dict[str, list[TagSummary]]:
        """Tags grouped by kind, kinds in the canonical order, tags sorted."""
        grouped: dict[str, list[TagSummary]] = {}
        for kind in SUMMARY_KINDS:
            series = sorted((t for t in self.tags.values() if t.kind == kind), key=_tag_key)
            if series:
                grouped[kind] = series
        return grouped

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.name,
            "directory": self.directory,
            "size": self.size,
            "restarts": self.restarts,
            "first_wall_time": _opt_float(self.first_wall_time),
            "last_wall_time": _opt_float(self.last_wall_time),
            "files": [f.to_json() for f in self.files],
            "tags": {k: [t.to_json() for t in v] for k, v in self.tags_by_kind().items()},
        }


def _tag_key(t: TagSummary) -> str:
    return t.tag


def _opt_float(x: float | None) -> float | str | None:
    return None if x is None else json_float(x)


@dataclass(slots=True)
class Inventory:
    """The result of :func:`inventory`."""

    runs: list[RunSummary]

    def to_json(self) -> dict[str, Any]:
        return {"runs": [r.to_json() for r in self.runs]}


def inventory(reader: LogReader, *, tags: Sequence[str] = ()) -> Inventory:
    """Summarize every run the reader finds (one pass over the data).

    ``tags`` (glob patterns) narrows the tag list and the time span to matching series; unlike
    a tag-filtered reader, it still sees each file's ``file_version`` and the run's restarts.
    """
    runs = []
    wanted = tag_matcher(tags)
    # Remote files of the next runs are fetched while this one is read.
    with spooled([f for run in reader.runs for f in run.files] if reader.purge else ()) as ahead:
        for run in reader.runs:
            summary = RunSummary(run.name, run.directory)
            files = {path: FileSummary(path, _size(path)) for path in run.files}
            summary.files = list(files.values())
            for item in reader.run_values(run):
                _add(summary, files, item, wanted, bool(tags))
            for path, file in files.items():
                status = reader.file_status.get(path)
                if status is not None:
                    file.events = status.events
                    file.state = status.state.value
                    file.pending_bytes = status.pending_bytes
            runs.append(summary)
            ahead.release(run.files)
    return Inventory(runs)


def _add(
    summary: RunSummary,
    files: dict[str, FileSummary],
    item: LoggedValue,
    wanted: Callable[[str], bool],
    filtered: bool,
) -> None:
    event_level = item.kind in EVENT_KINDS
    if not event_level and not wanted(item.tag):
        return
    if not (filtered and event_level):  # with --tag, the span is the selected series'
        if summary.first_wall_time is None or item.wall_time < summary.first_wall_time:
            summary.first_wall_time = item.wall_time
        if summary.last_wall_time is None or item.wall_time > summary.last_wall_time:
            summary.last_wall_time = item.wall_time
    kind = item.kind
    if kind == "file_version":
        file = files.get(item.file)
        if file is not None and not file.file_version:
            file.file_version = item.value.version  # type: ignore[union-attr]
            file.writer = item.value.writer  # type: ignore[union-attr]
        return
    if kind == "session_log":
        if item.value.status == "START":  # type: ignore[union-attr]
            summary.restarts += 1
        return
    if kind == "log_message":
        return
    key = (item.tag, kind)
    series = summary.tags.get(key)
    if series is None:
        series = summary.tags[key] = TagSummary(item.tag, kind, item.plugin_name)
    series.add(item)


def _size(path: str) -> int:
    try:
        return storage.size(path)
    except (OSError, TbtoolError):
        return 0
